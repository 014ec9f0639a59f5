"""`plumeline bench --soak`: samples of memory and lag from a real system over time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plumeline.infra.bench.soak import growth_per_hour, process_memory


def test_growth_is_the_slope_after_the_warm_up():
    # flat at 100 MB after a warm-up climb, and a leak of 2 MB a minute
    samples = [{"t_s": 60.0 * i, "rss_mb": {"flat": 100.0 if i >= 5 else 20.0 * i,
                                           "leak": 50.0 + 2 * i}} for i in range(20)]
    growth = growth_per_hour(samples, "rss_mb", after_s=300)
    assert growth["flat"] == pytest.approx(0.0, abs=1e-9)
    assert growth["leak"] == pytest.approx(120.0)
    assert growth_per_hour(samples[:7], "rss_mb", after_s=300) == {}  # two points: no slope


def test_memory_names_this_process_and_only_its_own_ray():
    import os

    found = process_memory({"driver": os.getpid(), "gone": 2**22 + 7})
    assert found["driver"] > 1
    assert "gone" not in found
    assert not any(name.startswith(("ShardHost", "LedgerWriter")) for name in found)


def test_a_short_soak_samples_every_actor_and_the_lag(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "-m", "plumeline.infra.cli", "bench", "--soak", "30s", "--sample",
         "6s", "--facilities", "2", "--sensors-per-facility", "10", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    soak = json.loads(out.read_text())["soak"]
    samples = soak["samples"]
    assert len(samples) >= 4
    assert samples[-1]["readings"] > samples[0]["readings"]  # the fleet kept publishing
    names = set(samples[-1]["rss_mb"])
    assert {"nats-server", "driver", "LedgerWriter", "ProjectionRunner"} <= names
    assert any(n.startswith("ShardHost") for n in names)
    assert any(k.startswith("READINGS/") for k in samples[-1]["lag"])
    assert any(k.startswith("LEDGER/") for k in samples[-1]["lag"])
    assert set(soak["rss_growth_mb_per_h"]) <= names
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "MB/h" in run.stdout
