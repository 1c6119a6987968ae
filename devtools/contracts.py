"""Realistic demo contracts for `tfc.contracts.v1` (deterministic: the same seed gives the same book)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from devtools.demo import DEALERS, staff_codes
from shared.events import PROGRAM_LABELS, ContractSnapshot

FAMILY = [
    "山田",
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "清水",
    "斎藤",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "前田",
    "藤田",
]
FAMILY_KANA = [
    "ヤマダ",
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
    "ヨシダ",
    "ヤマグチ",
    "マツモト",
    "イノウエ",
    "キムラ",
    "ハヤシ",
    "シミズ",
    "サイトウ",
    "ヤマザキ",
    "モリ",
    "イケダ",
    "ハシモト",
    "アベ",
    "イシカワ",
    "マエダ",
    "フジタ",
]
GIVEN = [
    "太郎",
    "花子",
    "一郎",
    "美咲",
    "健太",
    "陽子",
    "翔",
    "さくら",
    "大輔",
    "結衣",
    "拓也",
    "愛",
    "浩二",
    "真由美",
]
GIVEN_KANA = [
    "タロウ",
    "ハナコ",
    "イチロウ",
    "ミサキ",
    "ケンタ",
    "ヨウコ",
    "ショウ",
    "サクラ",
    "ダイスケ",
    "ユイ",
    "タクヤ",
    "アイ",
    "コウジ",
    "マユミ",
]
COMPANIES = [
    ("株式会社ミドリ運輸", "カブシキガイシャミドリウンユ"),
    ("有限会社サクラ工務店", "ユウゲンガイシャサクラコウムテン"),
]
TOYOTA = [
    "プリウス",
    "アクア",
    "ヤリス",
    "カローラ",
    "カローラクロス",
    "ノア",
    "ヴォクシー",
    "アルファード",
    "ハリアー",
    "RAV4",
    "クラウン",
    "シエンタ",
    "ランドクルーザー",
    "ハイエース",
    "プロボックス",
]
LEXUS = ["LS", "ES", "IS", "NX", "RX", "UX", "LX", "LBX"]
COMMERCIAL = {"ハイエース", "プロボックス"}
PROGRAMS = list(PROGRAM_LABELS)
AREAS = {
    "D001": [
        ("品川", "東京都品川区東品川2-3-14", "140-0002"),
        ("世田谷", "東京都世田谷区三軒茶屋1-32-6", "154-0024"),
        ("練馬", "東京都練馬区豊玉北5-18-10", "176-0012"),
        ("足立", "東京都足立区千住3-92", "120-0034"),
    ],
    "D002": [
        ("なにわ", "大阪府大阪市北区梅田3-1-1", "530-0001"),
        ("大阪", "大阪府大阪市中央区難波5-1-60", "542-0076"),
        ("和泉", "大阪府堺市堺区南瓦町3-1", "590-0078"),
        ("神戸", "兵庫県神戸市中央区加納町6-5-1", "650-0001"),
    ],
}
KANA_PLATE = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわ"


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def demo_contracts(
    count: int = 2000, today: date | None = None, seed: int = 20261126
) -> list[ContractSnapshot]:
    rng = random.Random(seed)
    today = today or datetime.now(ZoneInfo("Asia/Tokyo")).date()  # a Japan date, at any hour
    stores = [(dc, d["name"], sc, sn) for dc, d in DEALERS.items() for sc, sn in d["stores"].items()]
    out: list[ContractSnapshot] = []
    for n in range(count):
        dealer_code, dealer_name, store_code, store_name = stores[n % len(stores)]
        brand = "lexus" if rng.random() < 0.2 else "toyota"
        model = rng.choice(LEXUS if brand == "lexus" else TOYOTA)
        if rng.random() < 0.03:
            name, kana = rng.choice(COMPANIES)
        else:
            fi = rng.randrange(len(FAMILY))
            gi = rng.randrange(len(GIVEN))
            name, kana = f"{FAMILY[fi]} {GIVEN[gi]}", f"{FAMILY_KANA[fi]} {GIVEN_KANA[gi]}"
        area, address, postal = rng.choice(AREAS[dealer_code])
        final = today + timedelta(days=rng.randint(-183, 4 * 365))
        term_months = rng.choice([36, 48, 60, 72])
        start = _add_months(final, -term_months)
        first_reg = start - timedelta(days=rng.choice([0, 0, 0, 10, 400]))
        first_reg_text = first_reg.isoformat() if rng.random() > 0.1 else first_reg.strftime("%Y-%m")
        kind = "lease" if rng.random() < 0.12 else "installment"
        program = rng.choice(PROGRAMS)
        handling = "total_loss" if rng.random() < 0.01 else None
        if final < today:
            status = rng.choice(["active", "active", "settled", "returned", "refinanced"])
        else:
            status = "active"
        out.append(
            ContractSnapshot(
                contract_no=f"{dealer_code[1:]}{n + 1:07d}",
                version=1,
                dealer_code=dealer_code,
                dealer_name=dealer_name,
                store_code=store_code,
                store_name=store_name,
                staff_code=rng.choice(staff_codes(dealer_code, store_code)),
                contractor_name=name,
                contractor_name_kana=kana,
                contractor_postal_code=postal,
                contractor_address=f"{address}-{rng.randint(101, 1205)}",
                registration_no=f"{area} {rng.choice(['300', '330', '500', '530', '400'])} "
                f"{rng.choice(KANA_PLATE)} {rng.randint(1, 99):>2}-{rng.randint(0, 99):02d}".replace(
                    "  ", " "
                ),
                brand=brand,
                model=model,
                vehicle_use="commercial" if model in COMMERCIAL else "passenger",
                first_registration_date=first_reg_text,
                program=program,
                contract_kind=kind,
                final_payment_date=final,
                final_payment_amount=rng.randrange(300_000, 4_000_000, 1000),
                annual_rate=rng.choice([0.029, 0.039, 0.049, 0.059]),
                tfc_handling=handling,
                receivable_purchased=rng.random() < 0.02,
                status=status,
            )
        )
    # A few transferred contracts: a second version at another store of the same dealer.
    for c in out[10:40:6]:
        other = next(s for s in stores if s[0] == c.dealer_code and s[2] != c.store_code)
        out.append(
            c.model_copy(
                update={
                    "version": 2,
                    "store_code": other[2],
                    "store_name": other[3],
                    "staff_code": staff_codes(other[0], other[2])[0],
                }
            )
        )
    return out
