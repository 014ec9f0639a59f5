"""docs/deploy.md is run, not only read: its script (docs/deploy-loopback.sh) runs the
guide's commands on loopback, and every `plumeline …` command the guide shows is one
the script runs, with the same flags, or is named here with the test that runs it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
SCRIPT = ROOT / "docs" / "deploy-loopback.sh"
GROUPS = {"device", "audit", "token", "user"}  # commands of two words
# flags of the guide that loopback cannot give, and what covers them instead
ELSEWHERE = {
    "--clickhouse": "no ClickHouse server here: tests/projections/test_store.py, by URL",
}
COMMANDS_ELSEWHERE = {
    "bench": "tests/infra/test_bench.py",  # the sizing's figures, not a deployment step
}


def _command(words: list[str]) -> tuple[str, set[str]]:
    """("device add", {"--data-dir"}) of a plumeline command's words."""
    verb = " ".join(words[:2] if words[0] in GROUPS else words[:1])
    return verb, {w.split("=")[0] for w in words if w.startswith("--")}


def guide_commands() -> list[tuple[str, set[str]]]:
    text = GUIDE.read_text()
    spans = re.findall(r"`(plumeline [^`]+)`", text)  # inline, and in code blocks:
    spans += re.findall(r"^ {4}(plumeline .+)$", text, re.M)
    commands = [span.split()[1:] for span in spans]
    return [_command(words) for words in commands if re.fullmatch(r"[a-z-]+", words[0])]


def script_commands() -> list[tuple[str, set[str]]]:
    text = SCRIPT.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if '"$BIN/plumeline" ' in line:
            words = shlex.split(line.split('"$BIN/plumeline" ', 1)[1], comments=True)
            found.append(_command(words))
    return found


def test_every_plumeline_command_of_the_guide_is_run_by_its_script():
    guide, script = guide_commands(), script_commands()
    assert {verb for verb, _ in guide} >= {"up", "nats-config", "device add", "verify",
                                           "audit replay"}
    for verb, flags in guide:
        if verb in COMMANDS_ELSEWHERE:
            continue
        wanted = flags - set(ELSEWHERE)
        assert any(v == verb and wanted <= f for v, f in script), \
            f"`plumeline {verb} {' '.join(sorted(flags))}` of docs/deploy.md is not in {SCRIPT.name}"


@pytest.mark.cluster
def test_the_guides_script_deploys_on_loopback(tmp_path):
    env = os.environ | {"BIN": str(Path(sys.executable).parent)}
    run = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert re.search(r"^ok: [1-9]\d* records", run.stdout, re.M), run.stdout[-3000:]
    assert f"deployed on loopback: {tmp_path}" in run.stdout
