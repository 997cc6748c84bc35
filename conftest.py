"""Suite-wide: command output is laid out for a wide terminal, so what a test reads in it does not
depend on the width of the terminal (or of none, under pytest-xdist) it happens to run in."""

import os

os.environ["COLUMNS"] = "200"
