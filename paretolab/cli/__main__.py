"""``python -m paretolab.cli``."""

from paretolab.cli import app

app()
