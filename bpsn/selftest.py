"""`bpsn selftest`: is the core able to run? Each check says PASS or FAIL and, on FAIL, what is wrong
and how to fix it; a check that needs a failed one is SKIPped. Exit code 0 only when nothing failed.

ServiceNow (as the integration user of BPSN_SERVICENOW_URL / _USER / _PASSWORD): reachable; the
credentials accepted; the roles the v3 app doc requires of the service account (itil and
x_bip_panda_user, read from sys_user_has_role); one round trip (the newest BigPanda incident,
the query the delta watch makes). Per organisation (`--org`): a current configuration version
whose credentials decrypt with BPSN_CONFIG_KEY and name this integration user. BigPanda (the
organisation's, or BPSN_* without `--org`): reachable; the bearer token accepted (GET
/resources/v2.0/environments); the incidents app key accepted: a callback for a share id that
does not exist, which BigPanda checks the key of and then ignores (a share retrieval would
lease real shares and delay their delivery); the BigPanda permissions the v3 app doc requires of
the integration's user, each probed by a call that changes nothing (a 403 means it is missing).

No credential is ever printed: messages name fields and users, and every line is redacted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from bpsn.integration.bootstrap import BootstrapError, connection_for, how_to_create, open_reader
from bpsn.integration.clients.servicenow import ServiceNowError
from bpsn.integration.config.crypto import KEY_ENV, ConfigCipher, ConfigKeyError
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.config.versioned import TABLE
from bpsn.integration.logs import Redactor

Status = Literal["PASS", "FAIL", "SKIP"]
REQUIRED_ROLES = {
    "itil": "without it the core cannot create or update incidents",
    "x_bip_panda_user": "without it the core cannot read x_bip_panda_config or the BigPanda tables",
}
ADMIN_ROLE = "x_bip_panda.admin"
PROBE_SHARE = "bpsn-selftest-probe"
SERVICENOW_AFTER = ("ServiceNow reachable", "ServiceNow credentials", "ServiceNow roles", "ServiceNow round trip")
BIGPANDA_CHECKS = ("BigPanda reachable", "BigPanda bearer token", "BigPanda incidents app key",
                   "BigPanda permissions")
# permission -> what stops working without it (the v3 app doc's table), and a probe that changes nothing
PERMISSION_PROBES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "Autoshare": ("incidents are not shared to ServiceNow", "POST", "/integrations/v3/servicenow/callbacks",
                  {"json": {"results": [{"share_id": PROBE_SHARE, "status": "ok"}]}}),  # the app key probe
    "Incident Enrichment": ("no CMDB enrichment, similar incidents or related changes", "GET",
                            "/resources/v2.1/mapping-enrichment", {}),
    "Root Cause Changes": ("no root cause change data (changes and the RCC tab)", "GET", "/resources/v2.0/rcc",
                           {"params": {"incident_id": PROBE_SHARE}}),
    "Incident Actions (All Environments)": (
        "ServiceNow resolves, comments and snoozes do not reach BigPanda", "POST",
        f"/resources/v2.0/environments/{PROBE_SHARE}/incidents/{PROBE_SHARE}/comments",
        {"json": {"comment": "bpsn selftest probe"}}),
    "Manage Environments": ("environments cannot be read or managed", "GET", "/resources/v2.0/environments", {}),
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> Check:
    return Check(name, "PASS", detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "FAIL", detail, fix)


def skipped(name: str, because: str) -> Check:
    return Check(name, "SKIP", f"not checked: {because}")


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def _servicenow_error(r: httpx.Response) -> str:
    try:
        err = r.json().get("error", {})
        return f"HTTP {r.status_code} {err.get('message', '')}: {err.get('detail', '')}".rstrip(": ")
    except (ValueError, AttributeError):
        return f"HTTP {r.status_code}"


class SelfTest:
    def __init__(self, base: ConnectionSettings, *, servicenow_transport: httpx.AsyncBaseTransport | None = None,
                 bigpanda_transport: httpx.AsyncBaseTransport | None = None,
                 cipher: ConfigCipher | None = None) -> None:
        self.base = base
        self.servicenow_transport, self.bigpanda_transport = servicenow_transport, bigpanda_transport
        self.cipher = cipher
        self.redactor = Redactor()
        self.redactor.add_connection(base)

    # --- ServiceNow -----------------------------------------------------------------------------
    async def servicenow(self, sn: httpx.AsyncClient) -> tuple[list[Check], bool]:
        """Reachable, credentials, roles, round trip; the flag says whether ServiceNow can be used further."""
        b, user = self.base, self.base.servicenow_user
        started = time.perf_counter()
        try:
            r = await sn.get("/api/now/table/sys_user", params={
                "sysparm_query": f"user_name={user}", "sysparm_fields": "sys_id,user_name", "sysparm_limit": 1})
        except httpx.TransportError as exc:
            return [failed("ServiceNow reachable", f"no answer from {b.servicenow_url} ({type(exc).__name__})",
                           "check BPSN_SERVICENOW_URL (the instance's base URL) and that the instance is up "
                           "and reachable from here (proxy, firewall, DNS)"),
                    *self._skipped(SERVICENOW_AFTER[1:], "ServiceNow is not reachable")], False
        if "json" not in r.headers.get("content-type", ""):
            return [failed("ServiceNow reachable", f"{b.servicenow_url} answered HTTP {r.status_code} but not "
                           "as the Table API does (no JSON)",
                           "BPSN_SERVICENOW_URL must be the instance's base URL, e.g. "
                           "https://<instance>.service-now.com, with no path"),
                    *self._skipped(SERVICENOW_AFTER[1:], "ServiceNow is not reachable")], False
        checks = [passed("ServiceNow reachable", f"{b.servicenow_url} answered in {_ms(started)}")]
        if r.status_code == 401:
            checks.append(failed("ServiceNow credentials", f"ServiceNow refused user {user!r} with the password in "
                                 "BPSN_SERVICENOW_PASSWORD (HTTP 401)",
                                 "set BPSN_SERVICENOW_USER / BPSN_SERVICENOW_PASSWORD to the integration service "
                                 "account's; in ServiceNow check that the account is active and not locked out"))
            return checks + self._skipped(SERVICENOW_AFTER[2:], "ServiceNow refused the credentials"), False
        rows = r.json().get("result", []) if r.status_code == 200 else []
        if not rows:
            checks.append(failed("ServiceNow credentials", f"user {user!r} signed in but cannot see its own sys_user "
                                 f"record ({_servicenow_error(r)})",
                                 f"let {user!r} read sys_user (a default ACL on an instance allows it)"))
            return checks + self._skipped(SERVICENOW_AFTER[2:], "the user's record cannot be read"), False
        checks.append(passed("ServiceNow credentials", f"signed in as {user!r}"))
        checks.append(await self._roles(sn, user, rows[0]["sys_id"]))
        checks.append(await self._round_trip(sn, user))
        return checks, True

    @staticmethod
    def _skipped(names: tuple[str, ...], because: str) -> list[Check]:
        return [skipped(name, because) for name in names]

    async def _roles(self, sn: httpx.AsyncClient, user: str, user_id: str) -> Check:
        name = "ServiceNow roles"
        held = await sn.get("/api/now/table/sys_user_has_role", params={
            "sysparm_query": f"user={user_id}^state=active", "sysparm_fields": "role",
            "sysparm_exclude_reference_link": "true", "sysparm_limit": 1000})
        if held.status_code != 200:
            return failed(name, f"cannot read sys_user_has_role as {user!r} ({_servicenow_error(held)})",
                          "let the integration user read sys_user_has_role, or check its roles by hand: "
                          f"{', '.join(REQUIRED_ROLES)} are required")
        ids = sorted({str(row.get("role", "")) for row in held.json()["result"] if row.get("role")})
        roles: set[str] = set()
        if ids:
            named = await sn.get("/api/now/table/sys_user_role", params={
                "sysparm_query": "sys_idIN" + ",".join(ids), "sysparm_fields": "name,contains_roles",
                "sysparm_limit": 1000})
            for row in named.json().get("result", []) if named.status_code == 200 else []:
                roles.add(row.get("name", ""))
                roles.update(r for r in str(row.get("contains_roles", "")).split(",") if r)
        missing = [role for role in REQUIRED_ROLES if role not in roles and "admin" not in roles]
        if missing:
            return failed(name, f"{user!r} lacks " + "; ".join(f"{role} ({REQUIRED_ROLES[role]})" for role in missing),
                          f"in ServiceNow add {', '.join(missing)} to {user!r} (User Administration > Users > "
                          f"{user} > Roles), as the v3 app doc requires of the service account")
        extra = (f"; it also has {ADMIN_ROLE}, which the core does not need (only `bpsn config` writes "
                 "configuration): consider removing it") if ADMIN_ROLE in roles else ""
        return passed(name, f"{user!r} has {', '.join(REQUIRED_ROLES)}{extra}")

    async def _round_trip(self, sn: httpx.AsyncClient, user: str) -> Check:
        name = "ServiceNow round trip"
        started = time.perf_counter()
        r = await sn.get("/api/now/table/incident", params={
            "sysparm_query": "correlation_display=BigPanda^ORDERBYDESCsys_updated_on",
            "sysparm_fields": "number,sys_updated_on", "sysparm_limit": 1, "sysparm_no_count": "true"})
        if r.status_code != 200:
            return failed(name, f"reading the incident table as {user!r} failed ({_servicenow_error(r)})",
                          f"give {user!r} the itil role (read and write incidents)")
        rows = r.json()["result"]
        found = (f"newest BigPanda ticket {rows[0].get('number', '')}" if rows else "no BigPanda ticket yet")
        return passed(name, f"read the incident table in {_ms(started)} ({found})")

    # --- configuration --------------------------------------------------------------------------
    async def configuration(self, org: str) -> tuple[Check, ConnectionSettings | None]:
        name = f"configuration [{org}]"
        async with open_reader(self.base, transport=self.servicenow_transport, cipher=self.cipher) as store:
            try:
                version = await store.current(org)
            except ConfigKeyError:
                return failed(name, "the stored credentials do not decrypt with this key",
                              f"set {KEY_ENV} to the key the configuration was saved with (or, as an "
                              f"x_bip_panda.admin user, enter the credentials again with `bpsn config set "
                              f"<credential> --org {org}`)"), None
            except ServiceNowError as exc:
                return failed(name, f"cannot read {TABLE} as {self.base.servicenow_user!r} ({exc})",
                              f"give {self.base.servicenow_user!r} the x_bip_panda_user role"), None
            except ValueError as exc:
                return failed(name, str(exc), "use an organisation name of letters, digits, '_', '.', '-'"), None
        if version is None:
            return failed(name, f"no configuration version for {org!r} in {TABLE}", how_to_create(org)), None
        self.redactor.add_config(version.config)
        try:
            connection = connection_for(version.config, org, self.base)
        except BootstrapError as exc:
            return failed(name, f"version {version.version}: {exc.problem}", exc.fix), None
        return passed(name, f"version {version.version} by {version.author} at {version.created_on}; credentials "
                            f"decrypt; integration user {version.config.integration_user!r}"), connection

    # --- BigPanda -------------------------------------------------------------------------------
    async def bigpanda(self, c: ConnectionSettings, org: str | None) -> list[Check]:
        tag = f" [{org}]" if org else ""
        where = f"`bpsn config set {{}} --org {org}` (value on stdin)" if org else "set {}"
        bearer_fix = where.format("bearer_token" if org else "BPSN_BIGPANDA_BEARER_TOKEN")
        app_key_fix = where.format("incidents_app_key" if org else "BPSN_INCIDENTS_APP_KEY")
        url_fix = (f"`bpsn config set api_base_url <URL> --org {org}`" if org else "set BPSN_BIGPANDA_URL")
        headers = {"Authorization": f"Bearer {c.bigpanda_bearer_token.get_secret_value()}",
                   "Accept": "application/json"}
        async with httpx.AsyncClient(base_url=c.bigpanda_url, transport=self.bigpanda_transport, headers=headers,
                                     timeout=c.http_timeout) as bp:
            started = time.perf_counter()
            try:
                envs = await bp.get("/resources/v2.0/environments")
            except httpx.TransportError as exc:
                return [failed("BigPanda reachable" + tag, f"no answer from {c.bigpanda_url} ({type(exc).__name__})",
                               f"check the BigPanda API URL ({url_fix}: https://api.bigpanda.io, or your region's) "
                               "and that outbound HTTPS to it is allowed"),
                        *self._skipped(tuple(n + tag for n in BIGPANDA_CHECKS[1:]), "BigPanda is not reachable")]
            checks = [passed("BigPanda reachable" + tag, f"{c.bigpanda_url} answered in {_ms(started)}")]
            if envs.status_code == 401:
                return checks + [self._bearer(envs, tag, bearer_fix, user_key=False),
                                 *self._skipped(tuple(n + tag for n in BIGPANDA_CHECKS[2:]),
                                                "BigPanda did not accept the bearer token")]
            probe = await bp.post(PERMISSION_PROBES["Autoshare"][2],
                                  headers={"x-bp-app-key": c.incidents_app_key.get_secret_value()},
                                  **PERMISSION_PROBES["Autoshare"][3])
            refused = await self._refused_permissions(bp, {envs.request.url.path: envs, probe.request.url.path: probe})
            checks.append(self._bearer(envs, tag, bearer_fix, user_key=len(refused) < len(PERMISSION_PROBES)))
            checks.append(self._app_key(probe, c, tag, app_key_fix))
            checks.append(self._permissions(refused, tag, org))
        return checks

    @staticmethod
    async def _refused_permissions(bp: httpx.AsyncClient, asked: dict[str, httpx.Response]) -> list[str]:
        """The permissions whose probe BigPanda answered 403, in the doc's order; `asked`: the answers the
        other checks already had (path -> response), not asked again (5 requests a second at most)."""
        refused = []
        for permission, (_, method, path, kwargs) in PERMISSION_PROBES.items():
            answer = asked.get(path) or await bp.request(method, path, **kwargs)
            if answer.status_code == 403:
                refused.append(permission)
        return refused

    @staticmethod
    def _permissions(refused: list[str], tag: str, org: str | None) -> Check:
        name = "BigPanda permissions" + tag
        if not refused:
            return passed(name, "the user has " + ", ".join(PERMISSION_PROBES))
        if len(refused) == len(PERMISSION_PROBES):
            lacks = "the token may use none of the integration's APIs (an org token, or a user with no role)"
        else:
            lacks = "the bearer token's user lacks " + "; ".join(
                f"{p} ({PERMISSION_PROBES[p][0]})" for p in refused)
        sim = f"/_sim/organizations/{org}/roles" if org else "/_sim/organizations/<organisation>/roles"
        return failed(name, lacks, f"in BigPanda give the user behind the bearer token a role with "
                                   f"{', '.join(refused)} (Settings > Roles Management), as the v3 app doc "
                                   f"requires; on the simulator: PUT {sim}")

    @staticmethod
    def _bearer(r: httpx.Response, tag: str, fix: str, *, user_key: bool) -> Check:
        name = "BigPanda bearer token" + tag
        if r.status_code == 403 and user_key:  # other APIs took it: a user API key without Manage Environments
            return passed(name, "accepted; it may not list environments (see BigPanda permissions)")
        if r.status_code == 200:
            names = [str(e.get("name", "")) for e in r.json()]
            return passed(name, f"accepted; {len(names)} environment(s): {', '.join(names) or 'none'}")
        if r.status_code == 401:
            return failed(name, "BigPanda refused the bearer token (HTTP 401)",
                          f"{fix}: a user API key of this organisation (Settings > API Keys)")
        if r.status_code == 403:
            return failed(name, "the token is valid but may not list environments (HTTP 403): an org token, or a "
                          "user without the Manage Environments permission",
                          f"{fix}: a user API key whose user has the permissions the v3 app doc lists "
                          "(Incident Actions, Manage Environments, ...)")
        retry = f", retry after {r.headers['retry-after']} s" if r.status_code == 429 else ""
        return failed(name, f"BigPanda answered HTTP {r.status_code}{retry}", "run the selftest again; if it "
                      "persists, check BigPanda's status page")

    @staticmethod
    def _app_key(r: httpx.Response, c: ConnectionSettings, tag: str, fix: str) -> Check:
        """`r`: the answer to a callback for a share that does not exist (also the Autoshare probe)."""
        name = "BigPanda incidents app key" + tag
        if not c.incidents_app_key.get_secret_value():
            return failed(name, "no incidents app key is set", fix)
        body: Any = r.json() if "json" in r.headers.get("content-type", "") else {}
        if r.status_code == 200 and PROBE_SHARE in body.get("unknown", []):
            return passed(name, "accepted (a probe callback for a share that does not exist changed nothing)")
        if r.status_code == 403 and "permission 'Autoshare'" in r.text:  # the simulator names what it refused
            return skipped(name, "BigPanda refused the probe for the Autoshare permission (see BigPanda permissions)")
        if r.status_code == 403:
            return failed(name, "BigPanda says this is not the organisation's incidents app key (HTTP 403)",
                          f"{fix}: the app key of the organisation's ServiceNow incidents integration")
        return failed(name, f"unexpected answer to the probe callback (HTTP {r.status_code})",
                      "check that the BigPanda API URL is BigPanda's and supports the v3 ServiceNow integration")

    # --- all --------------------------------------------------------------------------------------
    async def run(self, orgs: list[str]) -> list[Check]:
        b = self.base
        async with httpx.AsyncClient(base_url=b.servicenow_url, transport=self.servicenow_transport,
                                     auth=(b.servicenow_user, b.servicenow_password.get_secret_value()),
                                     headers={"Accept": "application/json"}, timeout=b.http_timeout) as sn:
            checks, usable = await self.servicenow(sn)
        if not orgs:
            checks.append(skipped("configuration", "no --org: the core's BPSN_* settings are checked instead"))
            return checks + await self.bigpanda(b, None)
        for org in orgs:
            if not usable:
                checks += self._skipped((f"configuration [{org}]", *(f"{n} [{org}]" for n in BIGPANDA_CHECKS)),
                                        "ServiceNow is not usable, so neither is the configuration it holds")
                continue
            check, connection = await self.configuration(org)
            checks.append(check)
            if connection is None:
                checks += self._skipped(tuple(f"{n} [{org}]" for n in BIGPANDA_CHECKS), "no usable configuration")
            else:
                checks += await self.bigpanda(connection, org)
        return checks


def render(checks: list[Check], redactor: Redactor) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"      {'':<{width}}  fix: {c.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("PASS", "FAIL", "SKIP")}
    lines.append(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return [redactor.redact(line) for line in lines]


def main(orgs: list[str], *, base: ConnectionSettings | None = None,
         servicenow_transport: httpx.AsyncBaseTransport | None = None,
         bigpanda_transport: httpx.AsyncBaseTransport | None = None, cipher: ConfigCipher | None = None,
         echo: Callable[[str], None] = print) -> int:
    """Run every check and print them; 0 when none failed, 1 otherwise."""
    test = SelfTest(base or ConnectionSettings(), servicenow_transport=servicenow_transport,
                    bigpanda_transport=bigpanda_transport, cipher=cipher)
    checks = asyncio.run(test.run(orgs))
    echo(f"bpsn selftest: ServiceNow {test.base.servicenow_url} as {test.base.servicenow_user!r}"
         + (f", organisations {', '.join(orgs)}" if orgs else ", BPSN_* settings (no --org)"))
    for line in render(checks, test.redactor):
        echo(line)
    return 1 if any(c.status == "FAIL" for c in checks) else 0
