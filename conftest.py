"""Suite-wide, for every pytest process of this project's suites (not a user's: the pytest plugin
leaves their processes alone).

- Command output is laid out for a wide terminal, so what a test reads in it does not depend on the
  width of the terminal (or of none, under pytest-xdist) it happens to run in.
- The garbage collector's first threshold is the one a `bpsn` process starts with
  (bpsn.base.serving): a test process builds long-lived state (collected tests, pooled simulators
  and their apps) that the default threshold has the collector walk again and again. Collection
  was 7.3-7.8 s of the in-process folders' CPU, 1.9-2.1 s with it (issue #19, BENCHMARKS.md).
  Collections still run, so no test depends on their absence.
"""

import os

from bpsn.base.serving import quiet_gc_for_startup

os.environ["COLUMNS"] = "200"
quiet_gc_for_startup()
