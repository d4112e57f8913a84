"""``python -m steering``: the command line (see steering/cli/)."""

import sys

from steering.cli import main

sys.exit(main())
