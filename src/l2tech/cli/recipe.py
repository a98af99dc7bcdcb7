"""``l2 recipe show``: the effective recipe of a develop (file + options), as TOML or JSON."""

from __future__ import annotations

import click

from l2tech.cli.develop import _lens_options, develop_output_options, effective_recipe
from l2tech.cli.options import CONTEXT_SETTINGS, recipe_option

__all__ = ["recipe"]


@click.group(context_settings=CONTEXT_SETTINGS)
def recipe() -> None:
    """Recipe files: every setting of develop and correct in one TOML file.

    \b
    Examples:
      l2 recipe show --exposure 0.3 --look mono > wedding.toml
      l2 recipe show --recipe wedding.toml --format tiff --json
    """


@recipe.command("show", context_settings=CONTEXT_SETTINGS)
@recipe_option
@develop_output_options
@_lens_options
def show(recipe_path, overwrite, as_json, verbose, quiet, **params):
    """Print the effective recipe: the defaults, then --recipe FILE, then the options given.

    The TOML printed is a recipe file: save it and pass it to `l2 develop --recipe`.
    Options take the same names as in `l2 develop`. FILE may also be a darktable .xmp or a
    RawTherapee .pp3 sidecar: what maps (exposure, white balance, lens correction) is taken,
    and what was taken and what was ignored is listed at the top.

    \b
    Examples:
      l2 recipe show --exposure 0.5 --output-space display-p3 > wedding.toml
      l2 develop --recipe wedding.toml *.RW2 -o out/
      l2 recipe show --recipe wedding.toml --quality 80 --json
      l2 recipe show --recipe IMG_0001.RW2.pp3 > from-rawtherapee.toml
    """
    from l2tech.cli.common import emit_json, report_error
    from l2tech.errors import L2Error

    ctx = click.get_current_context()
    report: list[str] = []
    video = None
    try:
        rec = effective_recipe(ctx, params, recipe_path=recipe_path, report=report)
        if recipe_path and not recipe_path.lower().endswith((".xmp", ".pp3")):
            # l2 video's own settings ([video]): checked as l2 video checks them, shown when set
            from l2tech.pipeline.video import VideoJob, read_video_settings, video_settings

            video = read_video_settings(recipe_path)
            video = {k: v for k, v in video.items() if v != video_settings(VideoJob()).get(k)} or None
    except L2Error as exc:
        report_error(exc, verbose)
        return 2
    if as_json:
        doc = {**rec.to_dict(), **({"video": video} if video else {}), **({"_import": report} if report else {})}
        emit_json(doc)
        return 0
    from l2tech.pipeline.recipe_file import recipe_to_toml, toml_dumps

    head = "\n".join(["l2tech recipe" + (f" ({recipe_path} with the options given)" if recipe_path else ""), *report])
    text = recipe_to_toml(rec, header=head)
    if video:
        text += "\n" + toml_dumps({"video": video})
    click.echo(text, nl=False)
    return 0
