"""Incoming events → selection's own copy of the contracts."""

from __future__ import annotations

from services.selection.handlers import apply_contract_snapshot
from shared.events import ContractSnapshot
from shared.messaging import subscribe
from shared.runtime import Runtime
from shared.topics import TFC_CONTRACTS


def register(runtime: Runtime) -> None:
    sessionmaker = runtime.sessionmaker

    async def on_contract(snapshot: ContractSnapshot) -> None:
        async with sessionmaker() as session, session.begin():
            await apply_contract_snapshot(session, snapshot)

    subscribe(
        runtime.broker,
        TFC_CONTRACTS,
        settings=runtime.settings,
        group_id=getattr(runtime.settings, "consumer_group", "selection"),
        model=ContractSnapshot,
        handler=on_contract,
        max_attempts=runtime.settings.consumer_max_attempts,
    )
