"""docs/architecture.md is the map of the code: every file it names exists, and every
package the wheel installs is named in it. docs/ledger.md's files exist too."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
# `actors/shard_host.py`, `tests/test_crash.py`, or `views.py` after serve/app.py
NAMED = re.compile(r"`((?:[.a-z_]+/)*[a-z_]+\.py)`")


def _packages() -> dict[str, str]:
    """{installed name: folder}, from pyproject.toml's package-dir."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["package-dir"]


@pytest.mark.parametrize(("doc", "known"), [
    ("architecture.md", {"actors/ledger_writer.py", "infra/runtime/system.py", "serve/deployment.py"}),
    ("ledger.md", {"events/treehead.py", ".ci/lock.py", "verify.py"}),
])
def test_every_module_the_doc_names_exists(doc, known):
    folders = [ROOT / folder for folder in _packages().values()]
    named = set(NAMED.findall((ROOT / "docs" / doc).read_text(encoding="utf-8")))
    assert known <= named
    missing = []
    for name in sorted(named):
        if "/" in name:
            found = (ROOT / name).is_file()
        else:  # a module named within its package's paragraph, e.g. `views.py`
            found = any((folder / name).is_file() for folder in folders)
        if not found:
            missing.append(name)
    assert missing == [], f"docs/{doc} names files that do not exist: {missing}"


def test_every_installed_package_is_named_in_the_doc():
    packages = _packages()
    assert "plumeline.events" in packages
    unnamed = [folder for folder in packages.values() if f"`{folder}/`" not in DOC]
    assert unnamed == [], f"docs/architecture.md does not describe {unnamed}"


def test_every_package_folder_is_installed():
    """A new top-level package must be added to pyproject.toml (and so to the doc)."""
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert folders == set(_packages().values())
