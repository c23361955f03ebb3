"""Property: any bytes through the stage-1 reader give events or a typed, counted error — never another
exception, never a hang (issue #12). Inputs: random bytes, and truncations, bit flips and overwritten
ranges of the real fixture recordings (three format generations)."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import shared_fixtures
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from molmo2_data.owa.events import DEFAULT_RATES, process_file
from molmo2_data.owa.mcap_errors import MCAP_MAGIC, REASONS
from molmo2_data.owa.reader import Event, RecordingError, read_recording

pytest.importorskip("mcap")
OWA = shared_fixtures() / "owa"
VERSIONS = ("0.3.2", "0.4.2", "0.5.1")
pytestmark = pytest.mark.skipif(not (OWA / "0.5.1.mcap").exists(), reason="shared OWA fixtures absent")
KNOWN = set(REASONS) | {"index_unreadable"}
RAW = ("EndOfFile", "unpack requires", "Traceback", "struct.error")
TIME_LIMIT_S = 20  # one file of < 30 KB; far above any normal read, so only a hang trips it


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def fail(signum, frame):  # noqa: ARG001
        raise TimeoutError(f"reader still running after {seconds} s (hang)")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _fixture_bytes() -> dict[str, bytes]:
    return {v: (OWA / f"{v}.mcap").read_bytes() for v in VERSIONS if (OWA / f"{v}.mcap").exists()}


FIXTURES = _fixture_bytes() if (OWA / "0.5.1.mcap").exists() else {}


@st.composite
def damaged(draw) -> bytes:
    """A real recording, truncated / bit-flipped / overwritten, or plain random bytes."""
    kind = draw(st.sampled_from(["random", "magic+random", "truncate", "flip", "overwrite"]))
    event(kind)
    if kind == "random":
        return draw(st.binary(max_size=600))
    if kind == "magic+random":
        return MCAP_MAGIC + draw(st.binary(max_size=600))
    data = bytearray(FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))])
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for pos, bit in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7)),
                                      min_size=1, max_size=8)):
            data[pos] ^= 1 << bit
        return bytes(data)
    start = draw(st.integers(0, len(data) - 1))
    patch = draw(st.binary(min_size=1, max_size=64))
    data[start:start + len(patch)] = patch
    return bytes(data[: max(len(data), start + len(patch))])


def _check_text(text: str) -> None:
    assert not any(raw in text for raw in RAW), text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blob=damaged())
def test_reader_gives_events_or_a_typed_counted_error(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.mcap"
        path.write_bytes(blob)
        with time_limit(TIME_LIMIT_S):
            try:
                rec = read_recording(path)
            except RecordingError as e:  # the only exception allowed: typed, with a known reason
                assert e.reason in KNOWN, e.reason
                _check_text(str(e))
                outcome = "error"
            else:
                assert all(isinstance(ev, Event) for ev in rec.events)
                times = [ev.timestamp_ns for ev in rec.events]
                assert times == sorted(times)
                assert rec.total_messages == len(rec.events) + sum(rec.skipped.values())  # each counted once
                if rec.error is not None:
                    assert rec.error_reason in KNOWN, rec.error_reason
                    _check_text(rec.error)
                outcome = "events" if rec.error is None else "partial"
            event(outcome)
            # stage 1 counts it: a status and, for damage, a stable reason in the manifest entry
            stats = process_file(str(path), DEFAULT_RATES).stats
        assert stats["status"] in ("ok", "empty", "truncated", "failed")
        if stats["status"] in ("failed", "truncated"):
            assert stats["reason"] in KNOWN and stats["error"]
        if outcome == "error":
            assert stats["status"] == "failed" and stats["kept"] == 0
