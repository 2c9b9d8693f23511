"""seed-demo: contracts in every workflow state, receipts with allocations, invoices."""
from __future__ import annotations


def seed_finance(seed: int) -> dict[str, int]:
    """Finance demo data consistent with every rule; returns counts per table."""
    return {}
