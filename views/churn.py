"""(being written)"""
from __future__ import annotations


def register(admin) -> None:
    """Add these views to the menu."""
