"""Shared fixtures: one copy of the full sample data per test session (written once, read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the sample data of every registered dataset (seed 0)."""
    from molmo2_data.sample import write_sample

    root = tmp_path_factory.mktemp("molmo2_sample")
    write_sample(root, seed=0, progress=False)
    return root


@pytest.fixture()
def data_env(sample_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MOLMO_DATA_DIR pointing at the session's sample data."""
    monkeypatch.setenv("MOLMO_DATA_DIR", str(sample_root))
    return sample_root


FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def shared_fixtures() -> Path:
    """../shared/fixtures (next to the repo in CI and in developer checkouts)."""
    return Path(os.environ.get("MOLMO2_SHARED_FIXTURES", FIXTURES))


@pytest.fixture(scope="session")
def ray_cluster():
    """A local multi-node Ray cluster (a head and two worker nodes, one CPU each, on 127.0.0.1) for the
    scale-out tests; yields the cluster (``.address`` to connect, ``.add_node`` / ``.remove_node`` to
    lose a node mid-job). Started once per session (~5 s)."""
    from ray.cluster_utils import Cluster

    args = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(**args)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()
