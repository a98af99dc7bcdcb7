"""A batch on a Dask cluster (``dask.distributed``): the scheduling is Dask's, not ours.

:class:`ClusterRunner` submits each :class:`~l2tech.pipeline.batch.BatchTask` to a running
scheduler; a worker reads the input from the shared path the task names, develops it, and
returns the output's bytes (:func:`~l2tech.pipeline.batch.render_task` with
``deliver="bytes"``), so nothing is written on the worker's disk and the output folder has
one writer: the coordinator (:func:`~l2tech.pipeline.batch.run_tasks`), which renames each
output into place as it arrives. When a worker dies mid-task the scheduler runs the task again
on another worker (Dask's ``distributed.scheduler.allowed-failures``); since only the
coordinator writes, nothing is duplicated or half-written.

:func:`start_local_cluster` starts a :class:`distributed.LocalCluster` for trying it on one
machine (``l2 cluster local``).

dask and distributed are imported when a cluster is used, never by ``l2 --help``.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

__all__ = ["ClusterRunner", "SCHEDULER_ENV", "check_address", "start_local_cluster"]

#: Environment variable naming the scheduler when ``--cluster`` is not given.
SCHEDULER_ENV = "L2_DASK_SCHEDULER"


def _import_distributed() -> Any:
    from l2tech.errors import DependencyMissingError

    try:
        import distributed
    except ImportError:
        raise DependencyMissingError("a Dask cluster needs dask.distributed: pip install 'dask[distributed]'") from None
    return distributed


def _render_bytes(task: Any) -> Any:
    """The worker side: one task, its output as bytes (a module-level function, so it pickles by name)."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from l2tech.pipeline.batch import render_task

    return render_task(task, "bytes")


#: Dask's transports (``distributed.comm.registry.backends``): what ``--cluster`` takes.
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
#: Dask's default scheduler port.
_DEFAULT_PORT = 8786


def check_address(address: str) -> str:
    """Check the form of a scheduler address before any connection (no dask import).

    ``tcp://HOST:PORT`` (``tls``, ``ws``, ``wss``, ``ucx`` alike; ``HOST:PORT`` or ``HOST`` mean
    ``tcp``, port 8786); ``inproc://…`` is left to Dask. A malformed address made Dask's
    ``Client`` fail only after its 40 s connect timeout, with a traceback.

    Returns
    -------
    str
        ``address`` unchanged.

    Raises
    ------
    UsageError
        An unknown scheme, no host, a port that is not a number in 1-65535, or a path, query or
        user name in the address.
    """
    from urllib.parse import urlsplit

    from l2tech.errors import UsageError

    def bad(why: str) -> UsageError:
        return UsageError(f"--cluster {address!r}: {why}; expected a Dask scheduler address such as tcp://HOST:{_DEFAULT_PORT}")

    text = str(address).strip()
    if not text or any(ord(c) < 32 or c.isspace() for c in text):
        raise bad("empty or contains spaces or control characters")
    scheme, sep, _ = text.partition("://")
    if not sep:
        scheme, text = "tcp", "tcp://" + text
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise bad(f"unknown address scheme {scheme!r} (known: {', '.join(_SCHEMES)})")
    if scheme == "inproc":
        return address
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise bad(f"bad port ({exc})") from None
    if parts.username is not None or parts.password is not None:
        raise bad("a user name is not part of a scheduler address")
    if not parts.hostname:
        raise bad("no host")
    if port is not None and port < 1:
        raise bad(f"bad port {port}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("a scheduler address has no path or query")
    return address


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``tcp://host:port`` address (Dask's own connect retries for long)."""
    import socket
    from urllib.parse import urlsplit

    from l2tech.errors import UsageError

    parts = urlsplit(address if "://" in address else "tcp://" + address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return  # other transports (inproc, ucx, ws): leave it to Dask
    try:
        with socket.create_connection((parts.hostname, parts.port or 8786), timeout=timeout_s):
            pass
    except OSError as exc:
        raise UsageError(f"no Dask scheduler answers at {address}: {exc.strerror or exc}") from None


class ClusterRunner:
    """Run batch tasks on the workers of a Dask scheduler; yield each result as it finishes.

    Parameters
    ----------
    address : str
        The scheduler, ``tcp://host:8786``.
    timeout_s : float
        How long to wait for the scheduler to answer, seconds.

    Raises
    ------
    DependencyMissingError
        dask.distributed is not installed.
    UsageError
        A malformed address (:func:`check_address`), or no scheduler answers at ``address``.
    """

    def __init__(self, address: str, *, timeout_s: float = 20.0) -> None:
        from l2tech.errors import UsageError

        check_address(address)
        distributed = _import_distributed()
        self.address = address
        _probe(address)
        try:
            self.client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"no Dask scheduler answers at {address}: {exc}") from None
        except ValueError as exc:  # an address Dask will not take
            raise UsageError(f"--cluster {address!r}: {exc}") from None
        self.futures: list[Any] = []

    def run(self, tasks: Sequence[Any]) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """Submit every task, then yield ``(task, Rendered or None, exception or None)`` as they finish."""
        import hashlib

        from distributed import as_completed

        by_key: dict[str, Any] = {}
        for t in tasks:
            # a key of its own per output and run: Dask must not reuse an older result
            key = "l2-render-" + hashlib.sha256(f"{t.output}\0{os.getpid()}\0{id(self)}".encode()).hexdigest()[:24]
            fut = self.client.submit(_render_bytes, t, key=key, pure=False)
            by_key[fut.key] = t
            self.futures.append(fut)
        for fut in as_completed(self.futures, loop=self.client.loop):
            t = by_key[fut.key]
            try:
                yield t, fut.result(), None
            except Exception as exc:  # noqa: BLE001 - reported per file (E5)
                yield t, None, exc
            fut.release()

    def close(self, *, kill: bool) -> None:
        """Cancel what is still queued (on an interrupt) and disconnect."""
        try:
            if kill and self.futures:
                self.client.cancel(self.futures)
        finally:
            self.client.close()


def start_local_cluster(workers: int, *, threads_per_worker: int = 1, port: int = 0,
                        dashboard: bool = False) -> Any:
    """Start a :class:`distributed.LocalCluster` of ``workers`` processes on this machine.

    Each worker has one thread (one develop at a time, one numba thread), so ``workers`` is the
    number of files developed at once.

    Parameters
    ----------
    workers : int
        Worker processes (at least 1).
    threads_per_worker : int
        Threads of each worker.
    port : int
        Scheduler port; 0 picks a free one.
    dashboard : bool
        Serve Dask's dashboard on a free port (needs bokeh).

    Returns
    -------
    distributed.LocalCluster
        Running; its ``scheduler_address`` is what ``--cluster`` takes. Close it with ``.close()``.

    Raises
    ------
    UsageError
        ``workers`` below 1.
    DependencyMissingError
        dask.distributed is not installed.
    """
    from l2tech.errors import UsageError

    distributed = _import_distributed()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # the worker processes inherit it
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                                    scheduler_port=port, dashboard_address=":0" if dashboard else None)
