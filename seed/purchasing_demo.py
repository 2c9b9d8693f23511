"""seed-demo: suppliers, purchase requests with items, expense contracts, payments."""
from __future__ import annotations


def seed_purchasing(seed: int) -> dict[str, int]:
    """Purchasing demo data consistent with every rule; returns counts per table."""
    return {}
