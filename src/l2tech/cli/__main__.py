"""``python -m l2tech.cli``: the ``l2`` command."""

from l2tech.cli.main import run

run()
