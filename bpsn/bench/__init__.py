"""Benchmarks of the two simulators: `python -m bpsn.bench [--quick]` (or `make bench`).

The machine is small and noisy, so every figure is a ratio against a baseline measured in the
same run (a bare FastAPI app served the same way, or the same operation on a small table),
each measurement the median of several repetitions. Results go to results/bench/.

Modules: common (sizes, timers, HTTP load), data (records), serve (servers under test),
servicenow and bigpanda (the measurements), cmdb, rules, core_requests, fixtures (the per-test
overhead of the pytest plugin's fixtures), report (table, JSON, Markdown), run (all of it).
"""
