"""BigPanda's RBAC as the simulator keeps it: roles carry permissions, users carry roles, and a
user API key acts with its user's roles.

The five permissions are the ones the v3 integration's seed names. Our choices where BigPanda
publishes nothing: a user with no entry in `user_roles` has the `admin` role (every
permission), so organisations that never configure roles behave as before; an explicit empty
list means no role at all; the org token is organisation-wide and is not checked (the APIs it
serves, alerts, OIM and the V1 APIs, need none of the five).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import bad_request, forbidden

AUTOSHARE = "Autoshare"
INCIDENT_ENRICHMENT = "Incident Enrichment"
ROOT_CAUSE_CHANGES = "Root Cause Changes"
INCIDENT_ACTIONS = "Incident Actions (All Environments)"
MANAGE_ENVIRONMENTS = "Manage Environments"
PERMISSIONS: tuple[str, ...] = (AUTOSHARE, INCIDENT_ENRICHMENT, ROOT_CAUSE_CHANGES, INCIDENT_ACTIONS,
                                MANAGE_ENVIRONMENTS)
DEFAULT_ROLE = "admin"
MAX_ROLES = 100


def unknown_permissions(permissions: list[str]) -> list[str]:
    return [p for p in permissions if p not in PERMISSIONS]


@dataclass
class AccessControl:
    """One organisation's roles (name -> permissions) and users' roles (email -> role names)."""

    roles: dict[str, frozenset[str]] = field(default_factory=lambda: {DEFAULT_ROLE: frozenset(PERMISSIONS)})
    user_roles: dict[str, list[str]] = field(default_factory=dict)

    def roles_of(self, email: str) -> list[str]:
        return list(self.user_roles.get(email, [DEFAULT_ROLE]))

    def permissions_of(self, email: str) -> frozenset[str]:
        granted: set[str] = set()
        for role in self.roles_of(email):
            granted |= self.roles.get(role, frozenset())
        return frozenset(granted)

    def problems(self, roles: dict[str, list[str]], user_roles: dict[str, list[str]]) -> list[str]:
        """Every problem with a whole new set of roles and assignments; empty when it can be applied."""
        errors = [f"roles.{name}: unknown permission {p!r}; the permissions are: {', '.join(PERMISSIONS)}"
                  for name, perms in roles.items() for p in unknown_permissions(perms)]
        errors += [f"roles: role name {name!r} must be 1 to 100 characters, not only spaces"
                   for name in roles if not name.strip() or len(name) > 100]
        if len(roles) > MAX_ROLES:
            errors.append(f"roles: at most {MAX_ROLES} roles (got {len(roles)})")
        errors += [f"user_roles.{email}: unknown role {r!r}; the roles are: {', '.join(sorted(roles))}"
                   for email, names in user_roles.items() for r in names if r not in roles]
        return errors

    def replace(self, roles: dict[str, list[str]], user_roles: dict[str, list[str]]) -> None:
        errors = self.problems(roles, user_roles)
        if errors:
            raise bad_request(*errors)
        self.roles = {name: frozenset(perms) for name, perms in roles.items()}
        self.user_roles = {email: list(names) for email, names in user_roles.items()}

    def as_lists(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Roles with their permissions in the documented order, and the users' roles."""
        return ({name: [p for p in PERMISSIONS if p in perms] for name, perms in self.roles.items()},
                {email: list(names) for email, names in self.user_roles.items()})

    def check(self, email: str, permission: str, api: str) -> None:
        """403 in BigPanda's error body when the user's roles lack `permission`, naming it and the fix."""
        if permission not in PERMISSIONS:
            raise ValueError(f"not a BigPanda permission: {permission!r}")  # a programming error, not input
        if permission in self.permissions_of(email):
            return
        roles = self.roles_of(email)
        held = ", ".join(roles) if roles else "none"
        raise forbidden(f"Forbidden: {api} needs the BigPanda permission '{permission}'; user {email} "
                        f"(roles: {held}) does not have it. Give the user a role with '{permission}' "
                        f"(BigPanda: Settings > Roles Management)")
