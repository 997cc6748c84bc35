"""Load profiles as data: `loadtests/profiles.yaml` (bpsn.loadtests) (defaults merged under each profile)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from bpsn import loadtests

LOADTESTS = Path(loadtests.__file__).parent  # shipped in the wheel as bpsn.loadtests
PROFILES_FILE = LOADTESTS / "profiles.yaml"
LOCUSTFILE = LOADTESTS / "locustfile.py"


class ProfileError(ValueError):
    """The profiles file is missing, malformed, or has no such profile."""


@dataclass(frozen=True)
class AlertMix:
    hosts_per_user: int = 8
    new_host_ratio: float = 0.0
    resolve_ratio: float = 0.0
    own_service: bool = False  # every host its own service: no correlation by service, more incidents
    statuses: dict[str, float] = field(default_factory=lambda: {"critical": 2.0, "warning": 1.0})
    lifecycle_users: int = 0  # users that run whole incidents: ticket, tag edits both ways, resolve

    def env(self) -> dict[str, str]:
        """What the locustfile reads (BPSN_LOAD_*)."""
        return {"BPSN_LOAD_HOSTS_PER_USER": str(self.hosts_per_user),
                "BPSN_LOAD_NEW_HOST_RATIO": str(self.new_host_ratio),
                "BPSN_LOAD_RESOLVE_RATIO": str(self.resolve_ratio),
                "BPSN_LOAD_OWN_SERVICE": "1" if self.own_service else "0",
                "BPSN_LOAD_STATUSES": ",".join(f"{k}={v:g}" for k, v in self.statuses.items()),
                "BPSN_LOAD_LIFECYCLE_USERS": str(self.lifecycle_users)}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    users: int = 10
    spawn_rate: float = 5.0
    duration: float = 60.0
    stop_timeout: float = 5.0
    poll_interval: float = 1.0
    retrieval_count: int = 30
    core_bigpanda_rps: float = 4.5  # the core's pacing of its BigPanda calls (BigPanda allows 5 per second)
    ticket_timeout: float = 30.0
    workers: int = 0
    seed: int = 7
    wait: tuple[float, float] = (0.1, 0.3)
    task_rate: float = 0.0  # > 0: each user starts at most this many tasks per second (instead of `wait`)
    mix: AlertMix = field(default_factory=AlertMix)

    def with_overrides(self, *, workers: int | None = None, poll_interval: float | None = None,
                       duration: float | None = None) -> Profile:
        return _check(replace(self, workers=self.workers if workers is None else workers,
                              poll_interval=self.poll_interval if poll_interval is None else poll_interval,
                              duration=self.duration if duration is None else duration))

    @property
    def tag_timeout(self) -> float:
        """Seconds a tag edit may take to cross: the core's watch sees it at its next pass, holds it
        for the 5 s coalesce window and sends it at the pass after that."""
        return self.ticket_timeout + 2 * self.poll_interval + 5

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["wait"] = list(self.wait)
        return d


def _check(p: Profile) -> Profile:
    problems = [f"{name} must be > 0" for name in ("users", "spawn_rate", "duration", "poll_interval",
                                                    "retrieval_count", "ticket_timeout")
                if getattr(p, name) <= 0]
    if p.workers < 0 or p.stop_timeout < 0:
        problems.append("workers and stop_timeout must be >= 0")
    if not 0 < p.core_bigpanda_rps <= 5:
        problems.append("core_bigpanda_rps must be > 0 and at most BigPanda's 5 requests/s")
    if not 0 <= p.mix.lifecycle_users <= p.users:
        problems.append("mix.lifecycle_users must be between 0 and users")
    if not 0 <= p.wait[0] <= p.wait[1]:
        problems.append("wait must be [min, max] with 0 <= min <= max")
    if p.task_rate < 0:
        problems.append("task_rate must be >= 0 (0: use wait)")
    if not (0 <= p.mix.new_host_ratio <= 1 and 0 <= p.mix.resolve_ratio <= 1):
        problems.append("mix ratios must be between 0 and 1")
    if p.mix.hosts_per_user < 1 or not p.mix.statuses or any(w < 0 for w in p.mix.statuses.values()):
        problems.append("mix needs hosts_per_user >= 1 and non-negative status weights")
    if set(p.mix.statuses) - {"critical", "warning", "unknown"}:
        problems.append("mix.statuses takes critical, warning, unknown (resolves come from resolve_ratio)")
    if problems:
        raise ProfileError(f"profile {p.name!r}: " + "; ".join(problems))
    return p


def _build(name: str, raw: dict[str, Any]) -> Profile:
    known = {f.name for f in fields(Profile)} - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise ProfileError(f"profile {name!r}: unknown keys {sorted(unknown)}")
    mix_raw = dict(raw.get("mix") or {})
    mix_unknown = set(mix_raw) - {f.name for f in fields(AlertMix)}
    if mix_unknown:
        raise ProfileError(f"profile {name!r}: unknown mix keys {sorted(mix_unknown)}")
    try:
        mix = AlertMix(**{**mix_raw, "statuses": {str(k): float(v) for k, v in
                                                  (mix_raw.get("statuses") or AlertMix().statuses).items()}})
        values = {k: v for k, v in raw.items() if k != "mix"}
        if "wait" in values:
            lo, hi = values["wait"]
            values["wait"] = (float(lo), float(hi))
        return _check(Profile(name=name, mix=mix, **values))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"profile {name!r}: {exc}") from None


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from None
    defaults = doc.get("defaults") or {}
    out = {}
    for name, raw in (doc.get("profiles") or {}).items():
        merged = {**defaults, **(raw or {})}
        merged["mix"] = {**(defaults.get("mix") or {}), **((raw or {}).get("mix") or {})}
        out[str(name)] = _build(str(name), merged)
    return out


def get_profile(name: str, path: Path = PROFILES_FILE) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise ProfileError(f"no profile {name!r} in {path}; known: {', '.join(profiles) or 'none'}")
    return profiles[name]
