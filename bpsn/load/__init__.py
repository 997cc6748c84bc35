"""`bpsn load`: the whole stack under Locust, as separate processes, with a summary and charts.

profiles.py reads loadtests/profiles.yaml; seed.py is what BigPanda and the core are seeded with
(the analysts' key, the mapped tag); processes.py starts and stops the children; collect.py reads
the simulators; samples.py reads the users' per-sample files; summary.py does the arithmetic
(ceiling, sustained rate, integrity); report.py writes it for people (summary.md, console); chart.py draws latency.html; runner.py puts it together. Locust is never imported here:
it runs in its own processes (gevent patches whatever process imports it).
"""
