"""What `bpsn up` shows: URLs and credentials, the built-in demo values as they are and any
value set through the environment only by where it came from."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def credentials_table(bp_url: str, sn_url: str) -> Table:
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

    b, s = BigPandaSettings(), ServiceNowSettings()
    bp, sn = (lambda name: shown_secret(b, name)), (lambda name: shown_secret(s, name))
    t = Table(title="bpsn is up", header_style="bold")
    t.add_column("what")
    t.add_column("value")
    for row in [
        ("BigPanda simulator", f"{bp_url}   (dashboard: {bp_url}/, OpenAPI: {bp_url}/docs)"),
        ("  organisation / environment", f"{b.organization} / {b.environment} (auto-shares to ServiceNow)"),
        ("  org token", bp("org_token")), ("  user API key", bp("user_api_key")),
        ("  operator API key (console)", bp("operator_api_key")),
        ("  alerts app key", bp("alerts_app_key")), ("  incidents app key", bp("incidents_app_key")),
        ("  changes app key", bp("changes_app_key")), ("  OIM app key", bp("oim_app_key")),
        ("  admin token (/_sim)", bp("admin_token")),
        ("ServiceNow simulator", f"{sn_url}   (dashboard: {sn_url}/, OpenAPI: {sn_url}/docs)"),
        ("  admin", f"admin / {sn('admin_password')}"),
        ("  integration user", f"{s.integration_user} / {sn('integration_password')} (itil, x_bip_panda_user)"),
        ("  analyst", f"{s.analyst_user} / {sn('analyst_password')} (x_bip_panda_user)"),
        ("  BigPanda admin", "bigpanda.admin / bigpanda-admin (x_bip_panda.admin, x_bip_panda_user)"),
        ("  OAuth client", f"{s.oauth_client_id} / {sn('oauth_client_secret')}"),
    ]:
        t.add_row(*row)
    return t


def shown_secret(settings: Any, name: str) -> str:
    """A credential as the banner shows it: the built-in demo value (public, in the README) as
    it is; one set through the environment never, only where it came from."""
    value = getattr(settings, name)
    value = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    default = type(settings).model_fields[name].default
    default = default.get_secret_value() if hasattr(default, "get_secret_value") else default
    if value == default:
        return value
    prefix = type(settings).model_config.get("env_prefix", "")
    return f"(set by {prefix}{name.upper()})"
