"""Japanese labels and messages of the selection service, in one place (wording from the manual)."""

from __future__ import annotations

from shared import rules

CATEGORY_LABELS: dict[str, str] = rules.CATEGORY_LABELS
# On the お支払方法確認書 the customer circles one of these (manual: 「現金決済」に〇をする).
FORM_OPTIONS: tuple[str, ...] = ("現金決済", "車両返却", "再分割", "早期完済")
REPLACEMENT_LABELS: dict[str, str] = {"no": "無", "yes": "有"}
REPLACEMENT_NO_HINT = "自社代替無し（他社代替・不明含む）"
REPLACEMENT_OTHER = "その他/車種名等"
CONTRACT_KIND_FINAL_LABEL: dict[str, str] = {"installment": "最終回年月日", "lease": "リース満了年月日"}

# The replacement-vehicle pull-down (代替車両): current Toyota and Lexus line-ups; anything else is entered
# as その他/車種名等 with free text.
REPLACEMENT_MODELS: dict[str, tuple[str, ...]] = {
    "トヨタ": (
        "アクア",
        "アルファード",
        "ヴェルファイア",
        "ヴォクシー",
        "カムリ",
        "カローラ",
        "カローラ クロス",
        "カローラ ツーリング",
        "クラウン",
        "シエンタ",
        "センチュリー",
        "ノア",
        "ハイエース",
        "ハリアー",
        "プリウス",
        "ヤリス",
        "ヤリス クロス",
        "ライズ",
        "ランドクルーザー",
        "ランドクルーザー プラド",
        "ルーミー",
        "C-HR",
        "GR86",
        "GRスープラ",
        "RAV4",
        "bZ4X",
    ),
    "レクサス": (
        "LBX",
        "UX",
        "NX",
        "RX",
        "RZ",
        "LX",
        "GX",
        "LM",
        "IS",
        "ES",
        "LS",
        "RC",
        "LC",
    ),
}
ALL_REPLACEMENT_MODELS: frozenset[str] = frozenset(
    m for models in REPLACEMENT_MODELS.values() for m in models
)

# ご留意事項 of 進捗・結果入力 (manual, verbatim)
SELECTION_NOTES: tuple[str, ...] = (
    "最終回選択は、お客様から「お支払方法確認書」を受領後に入力してください",
    "最終回期日の2ヶ月前までに最終回選択結果を入力してください",
    "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です",
)
# The manual's note beside 選択区分「車両返却」 on 進捗・結果入力 (4. 車両返却のお手続き, 4))
VEHICLE_RETURN_NOTE = (
    "車両が貴社へ返却または未返却が確定されましたら、すみやかにJ-PASS WEB 車両返却機能"
    "（顧客詳細の「車両返却 結果入力・進捗確認」）にて車両返却結果入力を行ってください。"
)
VEHICLE_RETURN_NOTE_EXTRA = (
    "一部商品はJ-PASS WEBによるご連絡のみではお手続きは完了しません"
    "（車両返却結果入力後、TFCから別途ご案内をお送りいたします）。"
)
# ご留意事項 of the お支払方法確認書 (manual, verbatim)
CONFIRMATION_NOTES: tuple[str, ...] = (
    "最終回支払い方法のお客様へのご確認は、最終回期日の2ヶ月前までに必ず完了してください",
    "お客様の届出事項（住所、氏名等）に変更がある場合、変更手続き完了後の結果入力をお願いします",
    "本書面の弊社への送付は不要です（最終回対応終了まで貴社で保管願います）",
)
MEMO_PURPOSE = (
    "ご入庫時の提案や査定状況などを記入する自由記入欄となります（店舗内での情報共有化に活用ください）"
)

MSG_CONTRACT_NOT_FOUND = "指定された契約は見つかりません。"
MSG_CATEGORY_REQUIRED = "選択区分を選択してください。"
MSG_REPLACEMENT_REQUIRED = "自社代替の「無」または「有」を選択してください。"
MSG_REPLACEMENT_MODEL_REQUIRED = (
    "自社代替「有」の場合は、代替車両を選択してください"
    "（該当車種がない場合は「その他/車種名等」を選択し車種名を入力してください）。"
)
MSG_REPLACEMENT_MODEL_TOO_LONG = "代替車両の車種名は{max}文字以内で入力してください。"
MSG_REPLACEMENT_MODEL_NOT_ALLOWED = "自社代替「無」の場合、代替車両は入力できません。"
MSG_CONFIRMATION_REQUIRED = (
    "最終回選択は、お客様から「お支払方法確認書」を受領後に入力してください。受領日を入力してください。"
)
MSG_CONFIRMATION_IN_FUTURE = "お支払方法確認書の受領日に未来の日付は入力できません。"
MSG_CONFIRMATION_TOO_OLD = "お支払方法確認書の受領日は{since}以降の日付を入力してください。"
MSG_CATEGORY_CHANGE_LOCKED = (
    "最終回選択区分の入力変更は、最終回期日の1ヶ月前まで可能です。期限を過ぎているため変更できません。"
)
MSG_LATE = "結果入力期限（{deadline}）を過ぎています。入力は可能ですが、期限超過として記録されます。"
MSG_MEMO_TOO_LONG = "自由記入欄は{max}文字以内で入力してください（現在{n}文字）。"
MSG_ASSIGNMENT_FORBIDDEN = "店舗・スタッフ変更は、本部または店長のみ行えます。"
MSG_UNKNOWN_STORE = "変更先の店舗を、貴社の店舗から選択してください。"
MSG_STAFF_CODE_REQUIRED = "スタッフコードを入力してください。"
MSG_STAFF_CODE_INVALID = "スタッフコードは半角英数字32文字以内で入力してください。"
MSG_NOT_EARLY_PAYOFF = (
    "この契約の選択区分は「{category}」で登録されています（早期完済ではありません）。"
    "早期完済とする場合は、進捗・結果入力で選択区分「早期完済」を登録してください。"
)
MSG_NO_CATEGORY_FOR_EARLY_PAYOFF = (
    "この契約の選択区分はまだ登録されていません。"
    "早期完済とする場合は、進捗・結果入力で選択区分「早期完済」を登録してください。"
)
MSG_UNKNOWN_STAFF = (
    "スタッフコード「{staff_code}」は変更先の店舗のスタッフに登録されていません。"
    "変更先の店舗のスタッフから選択してください。"
)
MSG_MONTHS_OUT_OF_RANGE = "支払回数は{min}回から{max}回の間で指定してください。"
MSG_RATE_OUT_OF_RANGE = "実質年率は0%から{max}%の間で指定してください。"
MSG_REFINANCE_WINDOW = (
    "再分割シミュレーションは、最終回期日の9ヶ月前から最終回期日まで（{opens}～{closes}）実施可能です。"
)
MSG_NO_PRINCIPAL = "最終回金額がないため、再分割シミュレーションはできません。"
MSG_INVALID_DATE = "日付を正しく入力してください。"
MSG_INVALID_NUMBER = "数値を正しく入力してください。"


def yen(amount: int) -> str:
    return f"{amount:,}円"
