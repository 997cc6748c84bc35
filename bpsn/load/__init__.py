"""`bpsn load`: the whole stack under Locust, as separate processes, with a summary and charts.

profiles.py reads loadtests/profiles.yaml; processes.py starts and stops the children;
collect.py reads the simulators; summary.py does the arithmetic (ceiling, integrity);
chart.py draws latency.html; runner.py puts it together. Locust is never imported here:
it runs in its own processes (gevent patches whatever process imports it).
"""
