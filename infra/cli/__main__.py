"""`python -m plumeline.infra.cli`: the `plumeline` command."""

import sys

from plumeline.infra.cli.main import main

sys.exit(main())
