"""`plumeline audit replay`: the ledger of a real run is what READINGS replays to."""

from __future__ import annotations

from plumeline.actors import DetectorConfig, FacilityConfig


def two_plants(story):
    return story("ccs-01", 300) + story("ccs-02", 300)


def test_replay_reproduces_the_ledger_of_a_real_run(cli, pipeline, story, tmp_path):
    size = pipeline(two_plants(story))
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 0, out
    assert out == f"ok: replaying READINGS reproduces the ledger's {size} events\n"


def test_replay_finds_a_ledger_made_with_another_detector(cli, pipeline, story, tmp_path):
    pipeline(two_plants(story), FacilityConfig(detector=DetectorConfig(raise_after=10_000)))
    status, out = cli("audit", "replay", "--data-dir", str(tmp_path))
    assert status == 1, out
    assert out.startswith("DIFFERENT:")
    first = out.split("\n")[1:4]
    assert first[0].startswith("ccs-01 event #")
    assert '"type":"alert.raised"' in first[2] and '"type":"alert.raised"' not in first[1]


def test_replay_export_and_verify_show_how_far_they_are_on_stderr(pipeline, story, tmp_path, capsys, monkeypatch):
    from plumeline.infra import progress
    from plumeline.infra.cli import main

    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    size = pipeline(two_plants(story))
    capsys.readouterr()
    assert main(["audit", "replay", "--data-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("audit replay: READINGS: 100%  ") for line in err), err
    assert err[-1].startswith(f"audit replay: LEDGER: 100%  {size:,} records  "), err
    # export and verify of the same data dir, which read the whole ledger too
    assert main(["export", "--data-dir", str(tmp_path), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"export: reading LEDGER: 100%  {size:,} records  "), err
    assert main(["verify", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"verify: 100%  {size:,} records  "), err
