"""What a BigPanda 2.9 instance holds, and where each piece goes in the v3 app.

The 2.9 app was unscoped: its settings were `x_bip_panda.*` system properties in the global
scope (sys_properties), credentials among them as `password` properties under the instance's
basic property encryption; tickets came through the global staging table u_bigpanda_incident
and its transform map; the service account held the app's own role, which contained itil.

Basic property encryption is the instance's own key, which no one outside the instance has.
Offline we use a documented stand-in: `basic:` + base64 of the value XOR-ed with the public key
`BASIC_KEY`. It is deliberately as weak as the seed says the 2.9 storage was ("visible in
exports and logs"): anyone with this file reads the value. `encode_basic` makes fixture values.
"""

from __future__ import annotations

import base64
import binascii
from itertools import cycle

PROPERTY_PREFIX = "x_bip_panda."
PROPERTY_TABLE = "sys_properties"
BUILD_PROPERTY = "glide.buildname"  # the platform release the instance runs
BASIC_PREFIX = "basic:"
BASIC_KEY = b"bpsn stand-in for the instance's basic property encryption key (public)"

LEGACY_STAGING_TABLE = "u_bigpanda_incident"
V3_STAGING_TABLE = "x_bip_panda_shareincident"
V3_TICKET_MAP = "BigPanda Incident"  # the v3 map that writes incidents (import_sets/transform_maps.yaml)
V3_MAPS = ("BigPanda Incident", "BigPanda ShareIncident")
LEGACY_ROLE = "bigpanda_integration"  # the 2.9 app's role; it contained itil
V3_ROLES = {"x_bip_panda_user": "BigPanda User: read access to the BigPanda tables",
            "x_bip_panda.admin": "BigPanda Admin: full access to BigPanda tables (no read implied)"}
SERVICE_ACCOUNT_ROLES = ("itil", "x_bip_panda_user")  # the seed: both, assigned to the service account

# 2.9 property -> v3 credential field (re-encrypted into x_bip_panda_config)
CREDENTIAL_PROPERTIES = {
    "x_bip_panda.bearer_token": "bearer_token",
    "x_bip_panda.api_key": "api_key",
    "x_bip_panda.app_key": "incidents_app_key",  # 2.9 had one app key, the incidents one
    "x_bip_panda.changes_app_key": "changes_app_key",
}
# 2.9 property -> v3 connection field
PLAIN_PROPERTIES = {
    "x_bip_panda.api_url": "api_base_url",
    "x_bip_panda.console_url": "incident_url_base",
    "x_bip_panda.integration_user": "integration_user",
}
# 2.9 property -> v3 module setting (the `settings` column)
SETTING_PROPERTIES = {
    "x_bip_panda.incidents_active": "active",
    "x_bip_panda.assignment_group": "assignment_group",
    "x_bip_panda.caller_email": "caller_email",
    "x_bip_panda.close_code": "close_code",
    "x_bip_panda.retrieval_count": "retrieval_count",
    "x_bip_panda.poll_interval": "poll_interval",
    "x_bip_panda.log_level": "log_level",
}
# 2.9 properties the v3 app has no place for, and why
RETIRED_PROPERTIES = {
    "x_bip_panda.cmdb_export_tables": "CMDB v1 full CSV export: v3 syncs the CMDB with v2 delta sync "
                                      "(set cmdb_v2_app_key to use it)",
    "x_bip_panda.polling_job": "the 2.9 polling job's sys_id: the v3 app polls with its own scheduled job",
}

# the platform releases, oldest first (the seed's support table); v3 needs Xanadu or later
RELEASES = ("Istanbul", "Jakarta", "Kingston", "London", "Madrid", "New York", "Orlando", "Paris", "Quebec",
            "Rome", "San Diego", "Tokyo", "Utah", "Vancouver", "Washington", "Xanadu", "Yokohama", "Zurich")
MINIMUM_RELEASE = "Xanadu"


class LegacyValueError(ValueError):
    """A 2.9 value that cannot be read; the message names the property, never its value."""


def _xor(data: bytes) -> bytes:
    return bytes(b ^ k for b, k in zip(data, cycle(BASIC_KEY)))


def encode_basic(clear: str) -> str:
    """A value as the 2.9 app stored a password property (for fixtures and tests)."""
    return BASIC_PREFIX + base64.b64encode(_xor(clear.encode())).decode()


def decode_basic(name: str, stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(BASIC_PREFIX):
        raise LegacyValueError(f"system property {name} is a password property but not basic-encrypted "
                               f"(expected the {BASIC_PREFIX!r} form)")
    try:
        return _xor(base64.b64decode(stored[len(BASIC_PREFIX):], validate=True)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise LegacyValueError(f"system property {name} does not decrypt with basic property encryption") from None


def release_supported(build: str) -> bool | None:
    """True when the release is Xanadu or later; None when the name is not one we know."""
    name = next((r for r in RELEASES if build.strip().lower().startswith(r.lower())), None)
    return None if name is None else RELEASES.index(name) >= RELEASES.index(MINIMUM_RELEASE)
