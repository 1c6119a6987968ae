"""Demo dealers, stores and users (local setup only; production refuses them)."""

from __future__ import annotations

from typing import TypedDict

from shared.identity import User


class Dealer(TypedDict):
    name: str
    stores: dict[str, str]  # store code → name


DEALERS: dict[str, Dealer] = {
    "D001": {"name": "東都トヨモビ販売株式会社", "stores": {"S0101": "品川店", "S0102": "世田谷店"}},
    "D002": {"name": "浪速オートモービル株式会社", "stores": {"S0201": "梅田店", "S0202": "難波店"}},
}


def _users() -> list[User]:
    users: list[User] = []
    people = iter(
        [
            ("佐藤 健一", "高橋 美咲", "伊藤 誠"),
            ("田中 由美", "渡辺 大輔", "山本 香織"),
            ("中村 翔太", "小林 直子", "加藤 亮"),
            ("吉田 真理", "山田 修", "佐々木 彩"),
        ]
    )
    for d_no, (dealer_code, dealer) in enumerate(DEALERS.items(), start=1):
        for s_no, (store_code, store_name) in enumerate(dealer["stores"].items(), start=1):
            staff1, staff2, manager = next(people)
            prefix = f"d{d_no}s{s_no}"
            for i, name in enumerate((staff1, staff2), start=1):
                users.append(
                    User(
                        user_id=f"{prefix}-staff{i}",
                        name=name,
                        role="staff",
                        dealer_code=dealer_code,
                        dealer_name=dealer["name"],
                        store_code=store_code,
                        store_name=store_name,
                        staff_code=f"{store_code[1:]}{i:02d}",
                        email=f"{prefix}-staff{i}@demo.jpass.example",
                    )
                )
            users.append(
                User(
                    user_id=f"{prefix}-manager",
                    name=manager,
                    role="store_manager",
                    dealer_code=dealer_code,
                    dealer_name=dealer["name"],
                    store_code=store_code,
                    store_name=store_name,
                    staff_code=f"{store_code[1:]}90",
                    email=f"{prefix}-manager@demo.jpass.example",
                )
            )
        users.append(
            User(
                user_id=f"d{d_no}-hq",
                name=("森 隆之", "松本 恵")[d_no - 1],
                role="hq",
                dealer_code=dealer_code,
                dealer_name=dealer["name"],
                email=f"d{d_no}-hq@demo.jpass.example",
            )
        )
    return users


DEMO_USERS: list[User] = _users()
USERS_BY_ID = {u.user_id: u for u in DEMO_USERS}


def staff_codes(dealer_code: str, store_code: str) -> list[str]:
    return [
        u.staff_code
        for u in DEMO_USERS
        if u.dealer_code == dealer_code and u.store_code == store_code and u.role == "staff" and u.staff_code
    ]
