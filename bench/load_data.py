"""The load dealer: 50 stores, its users (tokens minted with the dev signing key) and its contract book.

Contracts are TFC snapshots (the shape of `tfc.contracts.v1`). A sample goes through the broker like
TFC's feed (the consumers build their rows); the bulk is copied straight into each service's own table,
row for row what that service's consumer would have written (`search_row`, `selection_row`,
`returns_row`; `load.py` checks this against the consumer-built rows of the sample).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from devtools.contracts import FAMILY, FAMILY_KANA, GIVEN, GIVEN_KANA, TOYOTA
from services.search import rules
from shared.events import OPEN_END_PROGRAMS, PROGRAM_LABELS
from shared.identity import User
from tests.support import sign_token

DEALER = "D950"
DEALER_NAME = "ベンチ月末販売株式会社"
STORES = [f"S95{i:02d}" for i in range(1, 51)]
PLATE_AREAS = ["品川", "世田谷", "練馬", "足立", "多摩", "横浜", "湘南", "大阪", "なにわ", "和泉"]
PLATE_KANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわ"
STATUSES = ["active"] * 17 + ["settled", "returned", "refinanced"]
RETURNABLE = [p for p in PROGRAM_LABELS if p not in OPEN_END_PROGRAMS]


def store_name(store_code: str) -> str:
    return f"ベンチ{int(store_code[3:]):02d}号店"


def staff_code(store_code: str, n: int) -> str:
    return f"{store_code[1:]}{n:02d}"


def users() -> dict[str, User]:
    """Per store: two staff and the store manager; and two hq users."""
    out: dict[str, User] = {}
    for store in STORES:
        common = {"dealer_code": DEALER, "dealer_name": DEALER_NAME, "store_code": store}
        common["store_name"] = store_name(store)
        for n in (1, 2):
            uid = f"bench-{store}-staff{n}"
            out[uid] = User(
                user_id=uid,
                name=f"担当{store[3:]}-{n}",
                role="staff",
                staff_code=staff_code(store, n),
                email=f"{uid}@dealer.example.jp",
                **common,
            )
        uid = f"bench-{store}-manager"
        out[uid] = User(
            user_id=uid,
            name=f"店長{store[3:]}",
            role="store_manager",
            email=f"{uid}@dealer.example.jp",
            **common,
        )
    for n in (1, 2):
        uid = f"bench-hq{n}"
        out[uid] = User(
            user_id=uid,
            name=f"本部{n}",
            role="hq",
            dealer_code=DEALER,
            dealer_name=DEALER_NAME,
            email=f"{uid}@dealer.example.jp",
        )
    return out


def tokens() -> dict[str, str]:
    return {uid: sign_token(u) for uid, u in users().items()}


def contract_no(n: int) -> str:
    return f"L{n:09d}"


def snapshots(total: int, today: date, seed: int = 950) -> Iterator[dict[str, Any]]:
    """`total` TFC snapshots (plain dicts, JSON-ready but for the date) spread over the 50 stores."""
    rng = random.Random(seed)
    for n in range(1, total + 1):
        store = STORES[n % len(STORES)]
        fi, gi = rng.randrange(len(FAMILY)), rng.randrange(len(GIVEN))
        final = today + timedelta(days=rng.randint(-183, 4 * 365))
        first_reg = rules.add_months(final, -rng.choice([36, 48, 60, 72])) - timedelta(
            days=rng.randint(0, 40)
        )
        plate = (
            f"{rng.choice(PLATE_AREAS)} {rng.randint(300, 599)} {rng.choice(PLATE_KANA)} "
            f"{rng.randint(1, 99):02d}-{rng.randint(0, 99):02d}"
        )
        yield {
            "contract_no": contract_no(n),
            "version": 1,
            "dealer_code": DEALER,
            "dealer_name": DEALER_NAME,
            "store_code": store,
            "store_name": store_name(store),
            "staff_code": staff_code(store, rng.randint(1, 2)),
            "contractor_name": f"{FAMILY[fi]} {GIVEN[gi]}",
            "contractor_name_kana": f"{FAMILY_KANA[fi]} {GIVEN_KANA[gi]}",
            "contractor_postal_code": "100-0001",
            "contractor_address": "東京都千代田区千代田1-1",
            "registration_no": plate,
            "brand": "toyota",
            "model": rng.choice(TOYOTA),
            "vehicle_use": "passenger",
            "first_registration_date": first_reg.isoformat(),
            "program": rng.choice(list(PROGRAM_LABELS)),
            "contract_kind": "lease" if rng.random() < 0.12 else "installment",
            "final_payment_date": final,
            "final_payment_amount": rng.randint(50, 300) * 10_000,
            "annual_rate": 0.049,
            "tfc_handling": "total_loss" if rng.random() < 0.01 else None,
            "receivable_purchased": False,
            "status": rng.choice(STATUSES) if final < today else "active",
        }


def workable(s: dict[str, Any], today: date) -> bool:
    """A contract the month-end rush can take all the way: 車両返却 allowed, category still changeable."""
    final: date = s["final_payment_date"]
    return (
        s["program"] in RETURNABLE
        and s["status"] == "active"
        and s["tfc_handling"] is None
        and today + timedelta(days=45) <= final <= today + timedelta(days=270)
    )


# --------------------------------------------------------------------------------------------
# one snapshot → each service's row (what its consumer writes for a first snapshot)


def search_row(s: dict[str, Any], now: datetime) -> dict[str, Any]:
    name, kana = s["contractor_name"], s["contractor_name_kana"]
    row = {k: v for k, v in s.items()}
    row.update(
        tfc_store_code=s["store_code"],
        tfc_store_name=s["store_name"],
        tfc_staff_code=s["staff_code"],
        tfc_owner_since=s["version"],  # a first snapshot: TFC's owner since this version
        search_name=rules.search_name(name, kana),
        search_plate=rules.normalise_plate(s["registration_no"]),
        search_model=rules.normalise_name(s["model"]),
        first_registration_month=rules.first_registration_month_index(s["first_registration_date"]),
        updated_at=now,
        seq=0,
        selection_seq=None,
        selection_category=None,
        replacement=None,
        replacement_model=None,
        confirmation_received_on=None,
        selection_late=False,
        selection_store_code=None,
        selection_recorded_by=None,
        selection_recorded_at=None,
        memo_seq=None,
        memo_text=None,
        memo_author=None,
        memo_updated_at=None,
        assignment_seq=None,
        assigned_store_code=None,
        assigned_store_name=None,
        assigned_staff_code=None,
        assignment_basis_version=None,
        transfer_seq=None,
        transferred_in=False,
        request_id=None,
        request_type=None,
        request_status=None,
        request_status_label=None,
        request_updated_at=None,
        request_reception_no=None,
        request_result=None,
        handling_status=rules.handling_status(s["status"], None, None),
        completed=rules.is_completed(s["status"], None),
    )
    row["annual_rate"] = Decimal(str(s["annual_rate"]))
    return row


_SELECTION_COPY = (
    "version",
    "dealer_code",
    "dealer_name",
    "contractor_name",
    "contractor_name_kana",
    "contractor_postal_code",
    "contractor_address",
    "registration_no",
    "brand",
    "model",
    "program",
    "contract_kind",
    "final_payment_date",
    "final_payment_amount",
    "status",
    "store_code",
    "store_name",
    "staff_code",
)
_RETURNS_COPY = (
    "version",
    "dealer_code",
    "dealer_name",
    "contractor_name",
    "contractor_name_kana",
    "contractor_postal_code",
    "contractor_address",
    "registration_no",
    "model",
    "program",
    "contract_kind",
    "final_payment_date",
    "final_payment_amount",
    "receivable_purchased",
    "status",
)


def selection_row(s: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {k: s[k] for k in _SELECTION_COPY}
    row.update(
        contract_no=s["contract_no"],
        tfc_store_code=s["store_code"],
        tfc_store_name=s["store_name"],
        tfc_staff_code=s["staff_code"],
        reassigned=False,
        tfc_owner_since=s["version"],
        reassign_basis_version=None,
        annual_rate=Decimal(str(s["annual_rate"])),
        seq=0,
        updated_at=now,
    )
    return row


def returns_row(s: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = {k: s[k] for k in _RETURNS_COPY}
    row.update(
        contract_no=s["contract_no"],
        tfc_store_code=s["store_code"],
        tfc_store_name=s["store_name"],
        tfc_staff_code=s["staff_code"],
        tfc_owner_since=s["version"],
    )
    return row


ROW_BUILDERS = {"search": search_row, "selection": selection_row, "returns": returns_row}


def utcnow() -> datetime:
    return datetime.now(UTC)
