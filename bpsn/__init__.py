"""bpsn: a test bench for the BigPanda <-> ServiceNow v3 incident integration."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`bpsn.running(...)`: imported on first use, so `import bpsn` stays light."""
    if name == "running":
        from bpsn.harness.servers import running
        return running
    raise AttributeError(f"module 'bpsn' has no attribute {name!r}")
