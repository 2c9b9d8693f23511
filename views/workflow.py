"""Workflow actions for CrmModelView subclasses: every transition of the model's workflow
becomes a list action and a button on the details page; both lead to one confirmation
page (with the comment box) whose POST calls models.workflow.perform per record.
Locked records (approved and later …) are read-only except for workflow fields."""

from __future__ import annotations

from functools import partial

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from models import db
from models.auth import User
from models.workflow import changed_meanwhile, is_locked, perform

from .crud import crm_page
from .helpers import db_int

#: the approval trail a details page shows after the record's own columns
APPROVAL_TRAIL = ("submitted_by", "submitted_at", "approved_by", "approved_at", "approval_comment")
WORKFLOW_FIELDS = (
    "status",
    *APPROVAL_TRAIL,
    "second_approved_by",
    "second_approved_at",
    "confirmed_by",
    "confirmed_at",
    "voided_by",
    "voided_at",
    "void_reason",
)


def _versions(posted: str) -> dict[int, int]:
    """``id:version,…`` from the confirmation page: the versions the actor saw."""
    seen = {}
    for pair in posted.split(","):
        record_id, _, version = pair.partition(":")
        if record_id.strip().isdigit() and version.strip().isdigit():
            seen[int(record_id)] = int(version)
    return seen


class WorkflowMixin:
    """Put before CrmModelView in the bases of a view whose model has a workflow."""

    def __init__(self, *args, **kwargs):
        excluded = tuple(getattr(self, "form_excluded_columns", ()) or ())
        self.form_excluded_columns = excluded + tuple(f for f in WORKFLOW_FIELDS if f not in excluded)
        super().__init__(*args, **kwargs)

    @property
    def workflow(self):
        return self.model.__workflow__

    # -- actions ------------------------------------------------------------------
    def init_actions(self):
        super().init_actions()
        for step in self.workflow.transitions.values():
            name = f"wf_{step.name}"
            self._actions.append((name, step.label))
            handler = partial(self._start_transition, step.name)
            handler._crm_right = f"{self.workflow.endpoint}.{step.right}"  # as @crm_action declares it
            self._actions_data[name] = (handler, step.label, None)

    def _start_transition(self, action, ids):
        return redirect(
            url_for(
                ".transition_view",
                action=action,
                ids=",".join(ids),
                url=request.form.get("url") or url_for(".index_view"),
            )
        )

    def transition_buttons(self, record):
        """The transitions offered on the details page of ``record``."""
        return [
            (
                step,
                url_for(
                    ".transition_view", action=step.name, ids=str(record.id), url=url_for(".details_view", id=record.id)
                ),
            )
            for step in self.workflow.available(record, current_user)
        ]

    @expose("/transition/", methods=("GET", "POST"))
    @crm_page(right="view")  # each transition checks its own right
    def transition_view(self):
        action = request.values.get("action", "")
        step = self.workflow.transitions.get(action)
        ids = [int(i) for i in request.values.get("ids", "").split(",") if i.strip().isdigit()]
        records = self._scoped_rows(ids, deleted=False if self.is_soft else None) if ids else []
        back = request.values.get("url") or url_for(".index_view")
        if step is None or not records:
            flash(gettext("Choose at least one record and an action."), "error")
            return redirect(back)
        people = self.pickable_users(step) if step.pick_user else []
        if request.method == "POST":
            comment = request.form.get("comment", "")
            params = {value.name: request.form.get(value.name, "") for value in step.values}
            if step.pick_user:
                chosen = request.form.get(step.pick_user, "")
                params[step.pick_user] = next((u for u in people if str(u.id) == chosen), None)
                if chosen and params[step.pick_user] is None and step.pick_from is not None:
                    # not offered: ``decide`` refuses it by name
                    params[step.pick_user] = db.session.get(User, db_int(chosen) or 0)
            seen = _versions(request.form.get("versions", ""))
            done, refused = 0, []
            for record in records:
                name = str(record)  # a failed flush leaves the record unreadable until rollback
                try:
                    perform(record, action, current_user, comment, seen_version=seen.get(record.id), **params)
                    db.session.commit()
                    done += 1
                except ValueError as exc:  # WorkflowError, or a rule checked at commit (FieldError)
                    db.session.rollback()
                    refused.append(str(exc))
                except StaleDataError:  # changed between our read and our write (a safety net)
                    db.session.rollback()
                    fresh = db.session.get(type(record), record.id)
                    refused.append(
                        changed_meanwhile(fresh)
                        if fresh is not None
                        else f"{name}: " + gettext("The record was changed by someone else — reload it.")
                    )
            for reason in refused:
                flash(reason, "error")
            if refused:
                flash(
                    gettext(
                        "%(action)s: %(done)s done, %(refused)s refused.",
                        action=str(step.label),
                        done=done,
                        refused=len(refused),
                    ),
                    "warning",
                )
            else:
                flash(gettext("%(action)s: %(done)s done.", action=str(step.label), done=done), "success")
            return redirect(back)
        return self.render(
            "admin/crm/transition.html",
            step=step,
            records=records,
            workflow=self.workflow,
            ids=",".join(str(r.id) for r in records),
            back=back,
            people=people,
            versions=",".join(f"{r.id}:{r.version}" for r in records if hasattr(r, "version")),
        )

    def pickable_users(self, step=None):
        """Whom a step may hand records to: the step's ``pick_from`` people, else active
        users who may view this view's records, within the actor's data scope (a
        department-scope director picks from their department and its sub-departments)."""
        from sqlalchemy import select

        from models.auth import Right, Role
        from models.scope import users_in_scope_clause

        if step is not None and step.pick_from is not None:
            query = select(User).where(step.pick_from(current_user)).order_by(User.name)
            return db.session.execute(query).scalars().all()
        code = f"{self.workflow.endpoint}.view"
        query = (
            select(User)
            .join(User.role)
            .where(User.is_active.is_(True), User.live(), Role.rights.any(Right.code == code))
            .order_by(User.name)
        )
        clause = users_in_scope_clause(current_user)
        return db.session.execute(query if clause is None else query.where(clause)).scalars().all()

    # -- locked records -----------------------------------------------------------
    def locked_message(self, record) -> str:
        return gettext(
            "%(record)s is %(state)s: it can no longer be changed or deleted.",
            record=str(record),
            state=self.workflow.state_label(record.status),
        )

    def can_change(self, record) -> bool:
        return not is_locked(record) and super().can_change(record)

    def export_value_steps(self):
        """Exports show the state's label too (views/crud/export.py applies it per value)."""
        return {**super().export_value_steps(), "status": self.workflow.state_label}

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None and template == self.details_template:
            kwargs["transition_buttons"] = self.transition_buttons(model)
            kwargs["workflow_state"] = self.workflow.state_label(model.status)
        return super().render(template, **kwargs)
