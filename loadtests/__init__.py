"""Locust suites and load profiles (shipped in the wheel as bpsn.loadtests)."""
