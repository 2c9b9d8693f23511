"""Finance views: receipts with inline allocations, invoices (SPEC §4.5)."""
from __future__ import annotations


def register(admin) -> None:
    """Add the finance views to the menu."""
