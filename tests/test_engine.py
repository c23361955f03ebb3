"""The task engines: the same task function on the local engine and on a real multi-node Ray cluster
(results in input order, a task's own exception surfaced as itself, bad engine names refused)."""

from __future__ import annotations

import os
import sys

import pytest
import ray  # noqa: E402  (the [ray] extra: installed by .ci/run through [all])

from molmo2_data.engine import chunks, map_tasks
from molmo2_data.errors import ConfigError

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module


def square_with_node(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def test_local_and_ray_give_the_same_results_in_order(ray_cluster) -> None:
    local = map_tasks(square_with_node, list(range(8)), progress=False)
    remote = map_tasks(square_with_node, list(range(8)), engine="ray", address=ray_cluster.address, progress=False)
    assert [r[0] for r in local] == [r[0] for r in remote] == [x * x for x in range(8)]
    assert {r[1] for r in local} == {os.getpid()}
    assert os.getpid() not in {r[1] for r in remote} and len({r[1] for r in remote}) >= 2  # spread over workers


def test_a_task_exception_stops_the_job_as_itself(ray_cluster) -> None:
    with pytest.raises(ValueError, match="three is not allowed"):
        map_tasks(fail_on_three, list(range(6)), engine="ray", address=ray_cluster.address, progress=False)
    with pytest.raises(ValueError, match="three is not allowed"):
        map_tasks(fail_on_three, list(range(6)), progress=False)


def test_bad_engine_and_chunks() -> None:
    with pytest.raises(ConfigError, match="engine must be one of local, ray"):
        map_tasks(square_with_node, [1], engine="spark")  # type: ignore[arg-type]
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ConfigError):
        chunks([1], 0)


def test_no_address_starts_a_new_local_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --address / RAY_ADDRESS the job gets its own instance (``address="local"``): a bare
    ``ray.init()`` would join whatever cluster already runs on the machine."""
    from molmo2_data.engine import ray_session

    seen = {}

    def fake_init(address=None, **kwargs):
        seen["address"] = address
        raise ConnectionError("stop here")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    with pytest.raises(ConfigError), ray_session():
        pass
    assert seen["address"] == "local"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    with pytest.raises(ConfigError, match="10.0.0.1:6379"), ray_session():
        pass


def test_unreachable_cluster_address_is_a_config_error_not_a_hang() -> None:
    import socket
    import time

    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    t = time.monotonic()
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        map_tasks(square_with_node, [1, 2], engine="ray", address=f"127.0.0.1:{port}", progress=False)
    assert time.monotonic() - t < 10
