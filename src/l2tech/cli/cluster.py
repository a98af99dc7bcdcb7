"""``l2 cluster local``: a Dask cluster on this machine, for trying ``--cluster``."""

from __future__ import annotations

import click

from l2tech.cli.options import CONTEXT_SETTINGS

__all__ = ["cluster"]


@click.group(context_settings=CONTEXT_SETTINGS)
def cluster() -> None:
    """Dask clusters for batches (`l2 develop --cluster ADDRESS`).

    \b
    Examples:
      l2 cluster local --workers 2
      l2 develop *.RW2 -o out/ --cluster tcp://127.0.0.1:8786
    """


@cluster.command("local", context_settings=CONTEXT_SETTINGS)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option("--port", type=click.IntRange(0, 65535), default=8786, show_default=True,
              help="Scheduler port (0: any free port).")
@click.option("--dashboard", is_flag=True, help="Also serve Dask's dashboard (needs bokeh).")
def local(workers: int, port: int, dashboard: bool) -> int:
    """Start a LocalCluster of WORKERS processes, print its address, serve until Ctrl-C.

    Each worker develops one file at a time with one thread. Pass the printed address to
    `--cluster` (or set L2_DASK_SCHEDULER) in another terminal.

    \b
    Examples:
      l2 cluster local --workers 2
      l2 cluster local --workers 4 --port 0
    """
    import time

    from l2tech.cli.common import report_error
    from l2tech.errors import L2Error
    from l2tech.pipeline.cluster import start_local_cluster

    try:
        lc = start_local_cluster(workers, port=port, dashboard=dashboard)
    except L2Error as exc:
        report_error(exc)
        return 2
    click.echo(lc.scheduler_address, nl=True)
    click.echo(f"{workers} worker(s) ready; use --cluster {lc.scheduler_address} (Ctrl-C stops the cluster)", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping the cluster", err=True)
        lc.close()
        raise
