"""`python -m kerasformers ...`: the same as the `kerasformers` command."""

import sys

from kerasformers.cli import main

sys.exit(main())
