"""How many shard hosts, which lanes they read, and the refusal of bad values."""

from __future__ import annotations

import pytest

from plumeline.actors import Lane
from plumeline.infra.runtime.system import default_shards, shard_partitions


def test_default_shards_follow_the_clusters_cpus_within_one_and_the_partitions(ray_session):
    assert default_shards(16) == int(ray_session.cluster_resources()["CPU"]) == 2
    assert default_shards(1) == 1


def test_every_partition_has_exactly_one_shared_host():
    hosts = shard_partitions(16, 3)
    assert sorted(p for h in hosts for p in h) == list(range(16))
    assert all(hosts)


def test_a_pinned_lane_reads_its_facility_subjects_under_a_durable_name_of_its_own():
    lane = Lane(5, "plant.7 north")
    assert lane.subjects == ["readings.5.plant.7 north", "readings.5.plant.7 north.command"]
    assert lane.durable.startswith("pin-p5-plant_7_north-")
    assert not set(lane.durable) & set(". *>")
    assert Lane(5, "plant_7_north").durable != lane.durable
    assert (Lane(5).subjects, Lane(5).durable) == (["readings.5.>"], "shard-p5")


@pytest.mark.parametrize("argv, message", [
    (["--shards", "0"], "--shards must be at least 1"),
    (["--pin", "a*"], "not a facility name"),
    (["--api-replicas", "0"], "--api-replicas must be at least 1"),
])
def test_up_refuses_bad_shard_settings(capsys, tmp_path, argv, message):
    from plumeline.infra.cli.main import main

    status = main(["up", "--data-dir", str(tmp_path / "d"), *argv])
    assert status == 2
    assert message in capsys.readouterr().err
