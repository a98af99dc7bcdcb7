"""``python -m l2tech.cli``: the ``l2`` command."""

import sys

from l2tech.cli.main import main

sys.exit(main())
