"""The `plumeline` command and its sub-commands, one module each.

Commands import the runtime (infra.runtime) and the benchmarks (infra.bench); neither
imports a command.
"""

from plumeline.infra.cli.main import main

__all__ = ["main"]
