"""The one builder of TFC's contract snapshots for the tests (each suite fixes the dates its cases need)."""

from __future__ import annotations

from datetime import date
from typing import Any

from devtools.demo import DEALERS
from shared.events import ContractSnapshot

# The demo dealers' stores (devtools.demo): store code → (dealer code, store name)
STORES = {store: (dealer, d["stores"][store]) for dealer, d in DEALERS.items() for store in d["stores"]}
STORE_NAMES = {store: name for store, (_, name) in STORES.items()}


def contract_snapshot(
    no: str, *, version: int = 1, store: str = "S0101", dealer: str | None = None, **fields: Any
) -> ContractSnapshot:
    """A valid snapshot of contract `no` at `store`, of the store's dealer unless `dealer` says otherwise,
    with staff `<store digits>01`; `fields` replace any other value."""
    store_dealer, store_name = STORES.get(store, ("D001", f"{store}店"))
    dealer = dealer or store_dealer
    values: dict[str, Any] = dict(
        contract_no=no,
        version=version,
        dealer_code=dealer,
        dealer_name=DEALERS[dealer]["name"] if dealer in DEALERS else f"{dealer}販売",
        store_code=store,
        store_name=store_name,
        staff_code=f"{store[1:]}01",
        contractor_name="山田 太郎",
        contractor_name_kana="ヤマダ タロウ",
        contractor_postal_code="140-0001",
        contractor_address="東京都品川区北品川1-2-3",
        registration_no="品川 300 あ 12-34",
        brand="toyota",
        model="プリウス",
        first_registration_date="2021-06-10",
        program="gamma_finance",
        final_payment_date=date(2026, 6, 30),
        final_payment_amount=1_200_000,
        annual_rate=0.049,
    )
    return ContractSnapshot(**{**values, **fields})
