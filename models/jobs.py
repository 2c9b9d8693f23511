"""Background jobs (SPEC §2.2 ``run-jobs``): work that takes longer than a request may —
imports today, large exports and e-mail batches later — queued in the ``job`` table and
run by ``flask --app app run-jobs`` in its own process.

Each job runs once: a worker *claims* it with a conditional UPDATE that only one worker
can win, and proves it still holds the claim (and is alive: the heartbeat) every time it
records progress. A job whose worker was killed stops beating; after
``JOB_STALE_SECONDS`` another worker takes it over, and the job's handler resumes from
the progress it had committed (handlers commit their work and their progress in the
same transaction, so "done" never lies).

A kind of job is a function registered with :func:`job_kind`; it receives a
:class:`JobContext` and returns a JSON-able result (or raises :class:`JobFailed`).
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, and_, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .audit import set_cli_actor
from .base import UTCDateTime, label, utcnow

STATUSES = ("queued", "running", "done", "failed", "cancelled")
#: a running job whose heartbeat is older than this many seconds is taken over
DEFAULT_STALE_SECONDS = 120


class Job(db.Model):
    """One piece of background work and what became of it."""

    __tablename__ = "job"
    __audited__ = False  # bookkeeping; what a job changes is audited as usual

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True, info=label("Kind"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict, info=label("Payload"))
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True, info=label("Status"))
    progress_done: Mapped[int] = mapped_column(Integer, default=0, info=label("Done"))
    progress_total: Mapped[int | None] = mapped_column(Integer, info=label("Total"))
    result: Mapped[dict | None] = mapped_column(JSON, info=label("Result"))
    error: Mapped[str | None] = mapped_column(Text, info=label("Error"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Created by")
    )
    created_ip: Mapped[str | None] = mapped_column(String(45), info=label("IP"))
    locale: Mapped[str | None] = mapped_column(String(10), info=label("Language"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True, info=label("Created at"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Started at"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Finished at"))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Heartbeat"))
    #: the token of the worker that holds the job (a new one on every claim)
    claim: Mapped[str | None] = mapped_column(String(32), info=label("Claim"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=label("Attempts"))

    created_by = relationship("User", info=label("Created by"))

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class JobFailed(Exception):
    """A handler's refusal for people: the job fails with ``message`` (and ``result``)."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.message = message
        self.result = result


class JobLost(Exception):
    """Another worker took the job over (this one was presumed dead): stop quietly."""


_KINDS: dict[str, tuple[Callable, Callable | None]] = {}


def job_kind(name: str, on_failure: Callable | None = None):
    """Register the handler of jobs of kind ``name``. ``on_failure(context)`` (optional)
    undoes what a failed job left behind; it runs in the worker after the failure."""

    def register(handler):
        _KINDS[name] = (handler, on_failure)
        return handler

    return register


def enqueue(kind: str, payload: dict, user=None, ip: str | None = None, locale: str | None = None) -> Job:
    """Queue a job in the caller's transaction (the caller commits)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(
        kind=kind,
        payload=payload,
        status="queued",
        created_by_id=getattr(user, "id", None),
        created_ip=ip,
        locale=locale,
        progress_done=0,
        attempts=0,
    )
    db.session.add(job)
    db.session.flush()
    return job


class JobContext:
    """What a handler sees of its job: payload, committed progress, the heartbeat."""

    def __init__(self, job: Job, claim: str):
        self.id = job.id
        self.kind = job.kind
        self.payload = dict(job.payload or {})
        self.claim = claim
        self.done = job.progress_done or 0
        self.total = job.progress_total
        self.created_by_id = job.created_by_id
        self.attempts = job.attempts

    def beat(self, done: int | None = None, total: int | None = None) -> None:
        """Record progress and that this worker is alive, in the current transaction
        (the caller commits it together with the work it stands for). Raises
        :class:`JobLost` when another worker has taken the job over. On PostgreSQL the
        UPDATE also locks the job row until the commit, so a takeover waits for it."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if done is not None:
            values["progress_done"] = done
        if total is not None:
            values["progress_total"] = total
        result = db.session.execute(
            update(Job).where(Job.id == self.id, Job.claim == self.claim, Job.status == "running").values(**values)
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise JobLost(self.id)
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total


def cancel(job_id: int) -> bool:
    """Cancel a job that has not finished (one conditional UPDATE; the caller commits):
    a queued job is never claimed, a running one gets :class:`JobLost` at its next
    :meth:`JobContext.beat` and stops. False when the job had already finished."""
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("queued", "running")))
        .values(status="cancelled", claim=None, finished_at=utcnow())
    )
    return result.rowcount == 1


def _stale_before() -> datetime:
    seconds = float(current_app.config.get("JOB_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    return utcnow() - timedelta(seconds=seconds)


def _claimable(cutoff: datetime):
    return or_(Job.status == "queued", and_(Job.status == "running", Job.heartbeat_at < cutoff))


def claim_next(kinds=None) -> tuple[Job, str] | None:
    """Claim the oldest queued job (or a running one whose worker stopped beating):
    a conditional UPDATE that only one worker wins. Returns (job, claim) or None."""
    cutoff = _stale_before()
    query = select(Job.id).where(_claimable(cutoff)).order_by(Job.id).limit(20)
    if kinds:
        query = query.where(Job.kind.in_(list(kinds)))
    for job_id in db.session.execute(query).scalars().all():
        claim = secrets.token_hex(16)
        now = utcnow()
        won = (
            db.session.execute(
                update(Job)
                .where(Job.id == job_id, _claimable(cutoff))
                .values(
                    status="running",
                    claim=claim,
                    heartbeat_at=now,
                    attempts=Job.attempts + 1,
                    started_at=db.func.coalesce(Job.started_at, now),
                )
            ).rowcount
            == 1
        )
        db.session.commit()
        if won:
            return db.session.get(Job, job_id, populate_existing=True), claim
    return None


def _finish(context: JobContext, status: str, result=None, error: str | None = None) -> bool:
    """Close the job if this worker still holds it (one short transaction)."""
    values = {"status": status, "finished_at": utcnow(), "heartbeat_at": utcnow(), "result": result, "error": error}
    won = (
        db.session.execute(
            update(Job)
            .where(Job.id == context.id, Job.claim == context.claim, Job.status == "running")
            .values(**values)
        ).rowcount
        == 1
    )
    db.session.commit()
    return won


def run_job(job: Job, claim: str) -> str:
    """Run one claimed job to its end; returns its final status ("lost" when another
    worker took it over meanwhile). Errors of the handler fail the job, never the worker."""
    handler, on_failure = _KINDS.get(job.kind, (None, None))
    context = JobContext(job, claim)
    locale = job.locale or "zh_CN"
    set_cli_actor(job.created_by_id, job.created_ip or "job")
    try:
        with force_locale(locale):  # messages in the language of whoever queued it
            if handler is None:
                _finish(context, "failed", error=gettext("Unknown kind of job: %(kind)s", kind=job.kind))
                return "failed"
            try:
                result = handler(context)
            except KeyboardInterrupt:  # the worker is being stopped (Ctrl-C, SIGTERM)
                db.session.rollback()
                _release(context)
                raise
            except JobLost:
                db.session.rollback()
                return "lost"
            except JobFailed as failure:
                db.session.rollback()
                return _fail(context, on_failure, failure.message, failure.result)
            except Exception as exc:  # noqa: BLE001 - a broken job must not stop the worker
                db.session.rollback()
                current_app.logger.exception("job %s (%s) failed", job.id, job.kind)
                return _fail(
                    context,
                    on_failure,
                    gettext(
                        "The job stopped because of an unexpected error (%(error)s). Try again, and tell the "
                        "administrator if it happens again.",
                        error=type(exc).__name__,
                    ),
                )
            return "done" if _finish(context, "done", result=result) else "lost"
    finally:
        set_cli_actor(None)


def _release(context: JobContext) -> None:
    """Give a job back to the queue (its committed progress stays): the next worker
    resumes it at once instead of waiting for the heartbeat to go stale."""
    db.session.execute(
        update(Job)
        .where(Job.id == context.id, Job.claim == context.claim, Job.status == "running")
        .values(status="queued", claim=None)
    )
    db.session.commit()


def _fail(context, on_failure, message: str, result=None) -> str:
    if on_failure is not None:
        try:
            on_failure(context)
        except JobLost:
            db.session.rollback()
            return "lost"
    return "failed" if _finish(context, "failed", result=result, error=message) else "lost"


def run_pending(kinds=None, limit: int | None = None) -> int:
    """Claim and run jobs until none is waiting (or ``limit`` ran); returns how many ran."""
    count = 0
    while limit is None or count < limit:
        claimed = claim_next(kinds)
        if claimed is None:
            break
        run_job(*claimed)
        db.session.remove()  # a fresh session per job: nothing cached from the last one
        count += 1
    return count


def work_forever(poll_seconds: float = 2.0, echo=print) -> None:
    """The worker loop of ``run-jobs``: run what is queued, then poll for more. A lost
    database connection is logged and retried, not fatal; SIGTERM stops the loop like
    Ctrl-C (the running job goes back to the queue)."""
    signal.signal(signal.SIGTERM, _interrupt)
    while True:
        try:
            ran = run_pending()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:  # noqa: BLE001 - e.g. the database restarting: try again later
            current_app.logger.exception("run-jobs: looking for jobs failed; retrying")
            db.session.remove()
            ran = 0
        if ran:
            echo(f"ran {ran} job(s)")
        time.sleep(poll_seconds)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
