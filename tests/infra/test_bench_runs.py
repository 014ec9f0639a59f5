"""Each whole loop and raw pipe of a bench runs in a directory of its own."""

from __future__ import annotations

import pytest

from plumeline.infra.bench.load import _fresh


def test_each_run_starts_empty_and_leaves_nothing_behind(tmp_path):
    """The curve runs three loops of as many frames in one process; each must start
    on a NATS store and data dir of its own, not resume the one before."""
    with _fresh(tmp_path, "loop") as first:
        (first / "nats").mkdir()
        (first / "nats" / "stream").write_bytes(b"READINGS")
    with _fresh(tmp_path, "loop") as second:
        assert second != first
        assert list(second.iterdir()) == []
    assert not first.exists() and not second.exists()


def test_a_run_that_fails_is_removed_too(tmp_path):
    with pytest.raises(RuntimeError), _fresh(tmp_path, "raw") as run:
        (run / "data").write_bytes(b"x")
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []
