"""`python -m bpsn.cli`, as the `bpsn` command."""

from .main import app

app()
