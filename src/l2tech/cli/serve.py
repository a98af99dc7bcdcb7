"""``l2 serve``: the local web preview (a shell over :func:`l2tech.web.app.create_app` and uvicorn)."""

from __future__ import annotations

import click

from l2tech.cli.options import CONTEXT_SETTINGS

__all__ = ["serve"]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, dir_okay=True), default=".", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port on 127.0.0.1 (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the URL but do not open a browser.")
@click.option("--max-megapixels", type=click.FloatRange(1, 1000), default=150.0, show_default=True,
              help="Largest image rendered, megapixels (larger ones are refused).")
def serve(folder: str, port: int, no_browser: bool, max_megapixels: float) -> int:
    """Preview lens correction in your browser: folder, before/after viewer, lens browser.

    Serves FOLDER (default: the current folder) on 127.0.0.1 only, behind a random token
    that is part of the printed URL. Only files under FOLDER are shown; originals are
    never written (\"Save recipe\" writes NAME.l2recipe.toml beside the image). Ctrl-C stops.

    \b
    Examples:
      l2 serve ~/Pictures/trip
      l2 serve . --port 8765 --no-browser
    """
    import socket
    import webbrowser

    import uvicorn

    from l2tech.web.app import create_app
    from l2tech.web.security import new_token

    token = new_token()
    app = create_app(folder, token, max_pixels=int(max_megapixels * 1e6))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        raise click.UsageError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})") from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    click.echo(f"l2 serve: {click.format_filename(folder)} at\n  {url}\n(Ctrl-C stops)")
    if not no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, limit_concurrency=64, timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
