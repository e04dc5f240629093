"""The web UI (`photoledger serve`): server-rendered pages over the same engine entries as the CLI.

Invariants:
- Authentication is always on (engine.web.auth): no page but /login answers without a session.
- Pages only read: the dashboard is engine.status.run_status inside engine.services.open_reader;
  the writer lock is never taken to show a page.
- No JavaScript is fetched at run time; templates are package data (engine/web/templates).
"""

from __future__ import annotations

from engine.web.app import build_app
from engine.web.auth import TokenStore

__all__ = ["TokenStore", "build_app"]
