"""The live dashboard every simulator serves at `/`: a static page (HTML, JS and CSS shipped in
the package, no CDN) that polls one admin route, `GET /_sim/dashboard`, for a JSON summary.

`summary` builds that summary from backends (no HTTP, no I/O); `routes` serves the page, its
assets and the summary. Each simulator brings its own domain panel (BigPanda: incidents and the
share queue; ServiceNow: tickets), so this package never imports a simulator; under `bpsn up`
both simulators' apps get one shared scope (`share_scope`), so `/` on either shows the stack.
"""

from .summary import DashboardScope, Side, share_scope, summarise

__all__ = ["DashboardScope", "Side", "share_scope", "summarise"]  # routes: .routes.mount_dashboard
