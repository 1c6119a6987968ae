"""App factories for fault tests that run a real service in a subprocess (uvicorn --factory).

`approvals_killed_after_commit`: the real approvals service, except that after the N-th submission it
created (`JPASS_FAULT_KILL_AFTER`) the process SIGKILLs itself as soon as the consumer's transaction has
committed (SQLAlchemy's `after_commit` session event) — its database transaction is committed, the Kafka
offset is not (the consumer acknowledges only after the handler's transaction)."""

from __future__ import annotations

import os
import signal

from fastapi import FastAPI
from sqlalchemy import event

from services.approvals.main import create_app
from services.approvals.use_cases import Approvals


def approvals_killed_after_commit() -> FastAPI:
    kill_after = int(os.environ.get("JPASS_FAULT_KILL_AFTER", "0"))
    if kill_after:
        original = Approvals.submit
        created = 0

        def die(_session: object) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        async def submit_then_die(self, session, submitted, request_type):  # type: ignore[no-untyped-def]
            nonlocal created
            result = await original(self, session, submitted, request_type)  # in the consumer's transaction
            created += 1
            if created >= kill_after:  # dies the moment that transaction has committed
                event.listen(session.sync_session, "after_commit", die, once=True)
            return result

        Approvals.submit = submit_then_die  # type: ignore[method-assign]
    return create_app()
