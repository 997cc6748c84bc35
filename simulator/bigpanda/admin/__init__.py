"""BigPanda's own /_sim admin: fixtures, snapshots, waits and tenants."""
