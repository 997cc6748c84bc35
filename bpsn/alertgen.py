"""Realistic alert streams from a seed: hosts with checks, services, clusters, teams.

The demo and the Locust users draw from the same generator, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faker import Faker

CHECKS = [
    ("CPU load", "CPU above {n}% for 5 minutes"),
    ("Disk space", "/var is {n}% full"),
    ("Memory", "Available memory below {n} MB"),
    ("HTTP 5xx rate", "{n} errors per minute on the load balancer"),
    ("Latency p95", "p95 latency {n} ms over the SLO"),
    ("Ping", "{n}% packet loss"),
    ("Replication lag", "Replica is {n} seconds behind"),
]
ROLES = ["web", "api", "db", "cache", "queue", "auth", "search"]
TEAMS = ["Network Operations", "Database Administration", "Application Support", "Linux Platform"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]


@dataclass
class Host:
    name: str
    service: str
    cluster: str
    region: str
    team: str


class AlertGenerator:
    def __init__(self, seed: int = 7, app_key: str = "demo-alerts-app-key") -> None:
        self.fake = Faker()
        self.fake.seed_instance(seed)
        self.app_key = app_key
        self._serial = 0

    def host(self) -> Host:
        self._serial += 1
        role = self.fake.random_element(ROLES)
        word = self.fake.unique.domain_word()
        return Host(name=f"{role}-{word}-{self._serial:03d}", service=f"{role}-{self.fake.random_element(['checkout', 'catalog', 'payments', 'identity'])}",
                    cluster=f"{role}-cluster-{self.fake.random_int(1, 4)}", region=self.fake.random_element(REGIONS),
                    team=self.fake.random_element(TEAMS))

    def alert(self, host: Host, status: str | None = None, check: str | None = None,
              timestamp: float | None = None) -> dict[str, Any]:
        name, template = (next((c for c in CHECKS if c[0] == check), CHECKS[0]) if check
                          else self.fake.random_element(CHECKS))
        body: dict[str, Any] = {
            "status": status or self.fake.random_element(["critical", "critical", "warning"]),
            "host": host.name, "check": name,
            "description": template.format(n=self.fake.random_int(60, 99)),
            "service": host.service, "cluster": host.cluster, "region": host.region,
            "team": host.team, "ip": self.fake.ipv4_private(),
        }
        if timestamp is not None:
            body["timestamp"] = int(timestamp)
        return body

    def burst(self, hosts: int, max_checks: int = 3) -> list[dict[str, Any]]:
        """A storm: each host raises 1..max_checks distinct checks."""
        out = []
        for _ in range(hosts):
            h = self.host()
            checks = self.fake.random_elements([c[0] for c in CHECKS], length=self.fake.random_int(1, max_checks),
                                               unique=True)
            out.extend(self.alert(h, check=c) for c in checks)
        return out

    def batch(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"app_key": self.app_key, "alerts": alerts}
