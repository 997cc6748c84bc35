"""The test harness: one object for both simulators and the core (base.py), driven through the
simulators' admin API (admin.py, journal.py), configured per test (config.py), in-process
(bpsn.testing) or as real HTTP servers (servers.py)."""
