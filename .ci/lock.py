"""Write constraints.txt: the exact version of every distribution Plumeline and its dev
tools need, as installed in the running environment (`just lock`).

pyproject.toml says which versions can work; constraints.txt says which ones were
tested, and `just bootstrap` installs exactly those. `audit replay` compares events byte
for byte, and the facility model's decisions depend on numpy, scikit-learn and the
LAPACK they ship, so a replay needs the same versions as the run it replays
(docs/ledger.md, "Versions").

Only the dependency closure of `plumeline[dev]` is written, read from the installed
distributions' metadata, so whatever else the venv holds stays out. Run it in the venv
the tests passed in: `.venv/bin/python .ci/lock.py` (writes constraints.txt) or
`--check` (exits 1 when constraints.txt differs from the environment).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"


def roots(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Plumeline's requirements with its dev extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def closure(requirements: list[str]) -> dict[str, str]:
    """{name: installed version} of every distribution `requirements` need here,
    following extras (`ray[serve]`) and environment markers."""
    pinned: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    todo = [(Requirement(line), "") for line in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        dist = metadata.distribution(requirement.name)
        name = canonicalize_name(dist.metadata["Name"])
        pinned[name] = dist.version
        for wanted in {""} | requirement.extras:
            if (name, wanted) not in done:
                done.add((name, wanted))
                todo += [(Requirement(line), wanted) for line in dist.requires or []]
    return pinned


def render(pinned: dict[str, str]) -> str:
    python = ".".join(platform.python_version_tuple()[:2])
    head = [
        "# The versions Plumeline is tested with: `just bootstrap` installs exactly these",
        "# (pip install -c constraints.txt -e '.[dev]'). Regenerate with `just lock` in the",
        "# venv the tests passed in; docs/ledger.md says why a replay needs them.",
        f"# Python {python}, {sys.platform} {platform.machine()}.",
    ]
    return "\n".join(head + [f"{name}=={pinned[name]}" for name in sorted(pinned)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when constraints.txt differs from this environment")
    args = parser.parse_args(argv)
    text = render(closure(roots()))
    if args.check:
        if LOCK.read_text() != text:
            print("constraints.txt differs from the installed versions: run `just lock`",
                  file=sys.stderr)
            return 1
        return 0
    LOCK.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
