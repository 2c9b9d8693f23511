"""Files written in a transaction are removed again when it does not commit: session hooks,
so they hold for every writer of uploads (forms, the CLI, imports, tests), not only views.

Whoever writes a file calls :func:`remember_written_file` with the session whose
transaction the file belongs to (``views/uploads.store_upload`` does).
"""

from __future__ import annotations

import os

from sqlalchemy import event
from sqlalchemy.orm import Session

#: session.info key: paths written in the current transaction (removed unless it commits)
PENDING = "crm_pending_upload_paths"


def remember_written_file(session, path) -> None:
    """Note that ``path`` was written in ``session``'s transaction: it is removed again if
    that transaction ends without a commit."""
    session.info.setdefault(PENDING, []).append(str(path))


@event.listens_for(Session, "after_commit")
def _keep_committed_uploads(session) -> None:
    if not session.in_nested_transaction():  # the outermost transaction committed
        session.info.pop(PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted_uploads(session, transaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    for path in session.info.pop(PENDING, None) or ():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
