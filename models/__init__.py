"""The database handle and every domain model (import order matters for relationships)."""

from contextlib import contextmanager

from flask import g, has_request_context
from flask_sqlalchemy import SQLAlchemy

from . import base
from .base import Base

db = SQLAlchemy(model_class=Base)


@contextmanager
def without_write_lock():
    """Slow read-only work inside a writing request (parsing and validating an import):
    end the request's transaction first and run the block in deferred transactions, so the
    SQLite write lock a POST takes (BEGIN IMMEDIATE, see ``app._sqlite_begin``) is not held
    while other users wait to save. The block must not write; the next write after it
    begins a fresh, locking transaction."""
    db.session.commit()
    if not has_request_context():
        yield
        return
    g.defer_write_lock = True
    try:
        yield
    finally:
        db.session.commit()  # ends the deferred read transaction (nothing to write)
        g.defer_write_lock = False


from . import (  # noqa: E402,F401  (register the tables)
    audit,
    auth,
    cache,
    churn,
    contracts,
    customers,
    dbstats,
    finance,
    finance_rules,
    imports,
    jobs,
    list_columns,
    lookups,
    marketing,
    marketing_mail,
    opportunities,
    orders,
    products,
    purchase_payments,
    purchasing,
    reminders,
    service,
    sessions,
    shipments,
    sla,
    targets,
    totals,
    uploads,
)
from .audit import AuditLog  # noqa: E402,F401

#: the tables of the big lists: their single-column indexes that a list or filter index
#: starting with the same column makes redundant are not kept (cheaper writes and seeding)
LIST_TABLES = (
    "clients",
    "linkmans",
    "documentary",
    "appointment",
    "contract",
    "receipt",
    "invoice",
    "sal_chance",
    "quote",
    "orders",
    "campaign",
    "lead",
)
base.prune_covered_indexes(db.metadata, LIST_TABLES)
from .auth import Department, LoginLog, Right, Role, SystemConfig, User  # noqa: E402,F401
