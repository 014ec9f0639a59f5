"""`up --closed-reads` / PLUMELINE_CLOSED_READS and the body limit reach the settings."""

import pytest

from plumeline.infra.cli.main import UserError, _parser
from plumeline.infra.runtime.settings import Settings


def test_reads_are_open_unless_closed_by_flag_or_environment(monkeypatch):
    monkeypatch.delenv("PLUMELINE_CLOSED_READS", raising=False)
    assert Settings.from_env().open_reads is True
    args = _parser().parse_args(["up", "--closed-reads", "--max-body", "2048"])
    s = Settings.from_env(closed_reads=args.closed_reads, max_body=args.max_body)
    assert s.open_reads is False and s.http_limits == {"max_body": 2048}
    args = _parser().parse_args(["up"])
    assert Settings.from_env(closed_reads=args.closed_reads).open_reads is True
    monkeypatch.setenv("PLUMELINE_CLOSED_READS", "1")
    monkeypatch.setenv("PLUMELINE_MAX_BODY", "4096")
    s = Settings.from_env(closed_reads=args.closed_reads)
    assert s.open_reads is False and s.http_limits == {"max_body": 4096}
    monkeypatch.setenv("PLUMELINE_MAX_BODY", "lots")
    with pytest.raises(UserError, match="positive number of bytes"):
        Settings.from_env()
