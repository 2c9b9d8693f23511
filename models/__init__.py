"""The database handle and every domain model (import order matters for relationships)."""
from flask_sqlalchemy import SQLAlchemy

from .base import Base

db = SQLAlchemy(model_class=Base)

from . import auth, lookups, audit, jobs, customers, finance, purchasing, sales, imports  # noqa: E402,F401  (register the tables)
from .auth import Department, LoginLog, Right, Role, SystemConfig, User  # noqa: E402,F401
from .audit import AuditLog  # noqa: E402,F401
