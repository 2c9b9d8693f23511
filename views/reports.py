"""Report pages and downloads (/admin/reports/<slug>/) and statement actions."""
from __future__ import annotations


def register(admin) -> None:
    """Add the report pages to the menu."""
