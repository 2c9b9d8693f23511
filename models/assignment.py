"""Automatic assignment of service tickets (issue 12 item 4), by the ``service_assignment``
setting: ``manual`` (None: the person is chosen by hand), ``round_robin`` (the agent whose
last assignment is the oldest, or who never had one) or ``least_busy`` (the fewest open
tickets). The candidates are the active, not deleted users of the ``service`` role who are
not marked absent, in the actor's department and its sub-departments (an actor without a
department: every department). Ties go to the lowest user id, so the choice is
deterministic. One query for the choice (and one for the department tree).
"""

from __future__ import annotations

from sqlalchemy import func, select

from . import db, settings
from .auth import Role, User, department_subtree_ids
from .service import OPEN_TICKET, ServiceTicket

SERVICE_ROLE = "service"


def candidates_query(actor):
    """The SELECT of the users a ticket may be given to automatically."""
    query = (
        select(User)
        .join(Role, Role.id == User.role_id)
        .where(
            Role.code == SERVICE_ROLE,
            Role.is_active.is_(True),
            User.is_active.is_(True),
            User.live(),
            User.absent.is_(False),
        )
    )
    department_id = getattr(actor, "department_id", None)
    if department_id is not None:
        query = query.where(User.department_id.in_(department_subtree_ids(department_id)))
    return query


def choose_assignee(ticket, actor, strategy: str | None = None) -> User | None:
    """The user ``ticket`` goes to under the setting (or ``strategy``); None for "by hand"
    or when no one is available."""
    strategy = strategy or settings.service_assignment()
    if strategy == "manual":
        return None
    query = candidates_query(actor)
    if strategy == "round_robin":
        last = (
            select(ServiceTicket.assigned_to_id.label("user_id"), func.max(ServiceTicket.assigned_at).label("at"))
            .where(ServiceTicket.assigned_to_id.is_not(None))
            .group_by(ServiceTicket.assigned_to_id)
            .subquery()
        )
        # never assigned first, then the oldest last assignment
        query = query.outerjoin(last, last.c.user_id == User.id).order_by(last.c.at.is_not(None), last.c.at, User.id)
    elif strategy == "least_busy":
        busy = (
            select(ServiceTicket.assigned_to_id.label("user_id"), func.count().label("n"))
            .where(ServiceTicket.assigned_to_id.is_not(None), ServiceTicket.status.in_(OPEN_TICKET))
            .group_by(ServiceTicket.assigned_to_id)
            .subquery()
        )
        query = query.outerjoin(busy, busy.c.user_id == User.id).order_by(func.coalesce(busy.c.n, 0), User.id)
    else:
        raise ValueError(strategy)
    return db.session.execute(query.limit(1)).scalar()
