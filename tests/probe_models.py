"""Test-only models for the data-scope tests: an owned, soft-deletable, versioned note
and a line scoped through its note (``__scope_parent__``).

Importing this module adds ``probe_note`` / ``probe_line`` to ``db.Model.metadata``;
the tests create the two tables on their own test database only (never a migration).
Import it lazily (inside fixtures) so other test modules see the real metadata.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models.base import Owned, SoftDelete, Timestamps, Versioned, label


class ProbeNote(Timestamps, SoftDelete, Versioned, Owned, db.Model):
    __tablename__ = "probe_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), info=label("Title"))


class ProbeLine(db.Model):
    __tablename__ = "probe_line"
    __scope_parent__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("probe_note.id", ondelete="CASCADE"), index=True, info=label("Note")
    )
    text: Mapped[str | None] = mapped_column(String(200), info=label("Text"))

    note: Mapped[ProbeNote] = relationship(info=label("Note"))
