"""Where a job's independent tasks run: here, one after the other (``local``, the default, no extra
dependency), or on a Ray cluster (``ray``: ``pip install 'molmo2-data[ray]'``).

A job (download a dataset's media, prepare videos, convert recordings) is split by its owner into
tasks that each write their own outputs atomically (a file gets its final name only when complete) and
can run again after a crash without harm. The engine only places the tasks, retries those whose worker
died, and reports progress on the driver. The same task function runs in both engines, so the Ray path
is not a second implementation.

Ray's address: ``--address`` / ``address=``, else ``RAY_ADDRESS``, else a local Ray instance started for
the job (and stopped after it). Workers of a multi-machine cluster must see the data root at the same
path (a shared file system), as they write the outputs there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from molmo2_data.errors import ConfigError

ENGINES = ("local", "ray")
Engine = Literal["local", "ray"]
T = TypeVar("T")
R = TypeVar("R")


def check_engine(engine: str) -> Engine:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine  # type: ignore[return-value]


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # the optional extra is not installed
        raise ConfigError("--engine ray needs Ray: pip install 'molmo2-data[ray]'") from e
    return ray


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address`` (or ``RAY_ADDRESS``), or start a local one; a session
    this call started is shut down at the end, one that was already connected is left as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # "local": a new instance for this job; ray.init(address=None) would join any cluster already
    # running on this machine (another user's or another test session's)
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False,
                              # workers import this package from the driver's environment
                              "runtime_env": {"env_vars": {"PYTHONPATH": _package_parent()}}}
    _check_reachable(address)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise ConfigError(f"cannot connect to the Ray cluster at {address}: {e}") from e
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``host:port`` cluster address that does not answer is a ConfigError now: ``ray.init`` would
    retry it for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "local", "auto", ray://...: left to Ray
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"cannot reach the Ray cluster at {address} ({e}); start it with `ray start --head` "
                          "or leave out --address for a local instance") from None


def _package_parent() -> str:
    import molmo2_data

    parent = os.path.dirname(os.path.dirname(os.path.abspath(molmo2_data.__file__)))
    extra = os.environ.get("PYTHONPATH", "")
    return parent + (os.pathsep + extra if extra else "")


def map_tasks(fn: Callable[[T], R], items: Sequence[T], *, engine: Engine = "local", address: str | None = None,
              desc: str = "tasks", max_retries: int = 3, num_cpus: float = 1.0, progress: bool = True,
              on_result: Callable[[int, R], None] | None = None, poll: Callable[[], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on the chosen engine, results in input order. ``fn`` must be a
    module-level function (Ray pickles it by reference). ``on_result(i, result)`` hears each result as
    it arrives (in completion order); ``poll()`` is called about twice a second while Ray tasks run
    (e.g. to refresh a job-wide progress bar). With Ray, a task whose worker or node dies is retried up
    to ``max_retries`` times; an exception raised by ``fn`` is not retried and stops the job."""
    check_engine(engine)
    from tqdm import tqdm

    results: list[Any] = [None] * len(items)
    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress or len(items) <= 1)
    if engine == "local":
        for i, x in enumerate(items):
            results[i] = fn(x)
            if on_result is not None:
                on_result(i, results[i])
            bar.update(1)
        bar.close()
        return results
    with ray_session(address) as ray:
        remote = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(fn)
        pending = {remote.remote(x): i for i, x in enumerate(items)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                if poll is not None:
                    poll()
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        results[i] = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # fn raised: the job's own error, unwrapped
                        raise e.as_instanceof_cause() from None
                    if on_result is not None:
                        on_result(i, results[i])
                    bar.update(1)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            bar.close()
    return results


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    if size < 1:
        raise ConfigError(f"task size must be >= 1, got {size}")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]

