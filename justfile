# Plumeline — every recipe bootstraps .venv on first use.

venv := ".venv"
py := venv / "bin/python"

default:
    @just --list

# Why a lock: docs/ledger.md, "Versions".
# create .venv and install Plumeline and its dev tools at the versions of constraints.txt
bootstrap:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp="{{venv}}/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        [ -x "{{py}}" ] || python3 -m venv "{{venv}}"
        "{{py}}" -m pip install --quiet --upgrade pip
        "{{py}}" -m pip install --quiet -c constraints.txt -e '.[dev]'
        rm -f "{{venv}}"/.installed-*
        touch "$stamp"
    fi

# To upgrade: .venv/bin/pip install -U PACKAGE, run the tests, then `just lock`.
# write constraints.txt from the versions installed in .venv (what the tests ran on)
lock: bootstrap
    {{py}} -m pip install --quiet -e '.[dev]'
    {{py}} .ci/lock.py

# run the whole system on embedded defaults (data in ./.plumeline, http://127.0.0.1:8000)
up *ARGS: bootstrap
    {{venv}}/bin/plumeline up {{ARGS}}

# run the test suite on real nats-server, Ray and chDB
test *ARGS: bootstrap
    {{py}} -m pytest {{ARGS}}

# throughput of the whole loop next to the raw JetStream pipe, measured in one run
bench *ARGS: bootstrap
    {{venv}}/bin/plumeline bench {{ARGS}}

# verify the ledger of a data dir or an exported bundle
verify *ARGS: bootstrap
    {{venv}}/bin/plumeline verify {{ARGS}}

fmt: bootstrap
    {{venv}}/bin/ruff format .

lint: bootstrap
    {{venv}}/bin/ruff check .

# write docs/schema/*.json, the JSON Schemas of the ledger's lines, from events/
schema: bootstrap
    {{py}} -m plumeline.events.schema docs/schema
