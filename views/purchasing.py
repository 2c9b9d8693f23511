"""Purchasing views: suppliers, purchase requests, expense contracts, payments, purchase invoices."""
from __future__ import annotations


def register(admin) -> None:
    """Add the purchasing views to the menu."""
