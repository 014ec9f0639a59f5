"""infra/runtime/progress.py: the progress line of long commands, on a terminal and in a log."""

from __future__ import annotations

import io

from test_cli import _bundle

from plumeline.infra.cli.main import ExitStatus, main
from plumeline.infra.runtime import progress as progress_module
from plumeline.infra.runtime.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_a_line_every_interval_with_rate_share_and_eta():
    clock, log = Clock(), io.StringIO()
    with Progress("verify", 1_000, stream=log, every_s=5.0, clock=clock) as p:
        clock.now += 1
        p.update(100)
        assert log.getvalue() == ""  # not yet an interval
        clock.now += 4
        p.update(250)
        clock.now += 2
        p.update(300)
    lines = log.getvalue().splitlines()
    assert lines == [
        "verify: 25%  250 records  50 records/s  ETA 15 s",
        "verify: 30%  300 records  43 records/s  ETA 16 s",  # the last state, on leaving
    ]


def test_a_run_shorter_than_an_interval_prints_nothing():
    clock, log = Clock(), io.StringIO()
    with Progress("export", 10, stream=log, every_s=5.0, clock=clock) as p:
        p.update(10)
    assert log.getvalue() == ""


def test_on_a_terminal_a_bar_is_redrawn_in_place():
    clock, tty = Clock(), Terminal()
    with Progress("verify", 4_000, stream=tty, clock=clock) as p:
        for done in (1_000, 2_000):
            clock.now += 1
            p.update(done, items=done // 4)
    out = tty.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and "\n" not in out[:-1]
    assert "\rverify: [######..................]  25%  250 records  250 records/s  ETA 3 s\x1b[K" in out
    assert "[############............]  50%" in out


def test_unknown_total_shows_how_long_so_far_and_bytes_can_drive_the_share():
    clock, log = Clock(), io.StringIO()
    p = Progress("audit replay: LEDGER", None, stream=log, every_s=0.0, clock=clock)
    clock.now += 90
    p.update(45_000)
    p.update(1 << 20, items=9_000, total=4 << 20)  # bytes read, records counted
    assert log.getvalue().splitlines() == [
        "audit replay: LEDGER: 45,000 records  500 records/s  1:30 so far",
        "audit replay: LEDGER: 25%  9,000 records  100 records/s  ETA 4:30",
    ]


def test_verify_writes_its_progress_to_stderr_and_its_verdict_unchanged(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "EVERY_S", 0.0)
    _bundle(tmp_path / "b", n=50)
    assert main(["verify", str(tmp_path / "b")]) == ExitStatus.OK
    out, err = capsys.readouterr()
    assert out.startswith("ok: 50 records")
    assert err.splitlines()[-1].startswith("verify: 100%  50 records  ")
    assert "records/s" in err and "ETA 0 s" in err
