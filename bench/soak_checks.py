"""The soak's invariants, checked once the rush is over and the system has drained.

- Every accepted write is visible in every read model: committed in its own service, in search's list and
  detail, in returns' copy, in approvals' progress and history, in the mail log and the mail catcher.
- Nothing twice: one request per returned contract, one history entry per request version, one TFC
  answer of each kind per request, one e-mail per trigger and recipient.
- No stuck partition: every consumer group's committed offset at the end offset (lag 0, also as the
  services' own jpass_consumer_lag metric reports it), no outbox backlog, no mail left pending.
- Dead letters only for the injected poison, and each poison dead-lettered by every group of its topic.

Reads go through the gateway as the users see it (本部 sees the whole dealer) and, for what no page shows
(sequence numbers, duplicates), straight from each service's database."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.soak_load import HQ_APPROVERS, POISON_KEY, TFC_GROUP, Ledger, Tokens
from shared.topics import ALL_TOPICS, REQUEST_SUBMISSIONS, SELECTION_EVENTS, dead_letter
from tests.support import pg_dsn

HQ_USER = "bench-hq1"
EXAMPLES = 500  # in the report; the summary prints the first few


# --------------------------------------------------------------------------------------------
# Kafka: consumer groups, their positions, dead letters


async def _clients(bootstrap: str) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        await consumer.start()
    except BaseException:
        await admin.close()
        raise
    return admin, consumer


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


Positions = dict[str, dict[tuple[str, int], tuple[int, int]]]


async def _read_positions(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> Positions:
    """group → {(topic, partition): (committed, end)} for every consumer group of the services (a group
    is `<service group>.<topic>`; no commit yet counts as 0)."""
    groups = {}
    for group, _ in await admin.list_consumer_groups():
        topic = group.split(".", 1)[1] if "." in group else ""
        if group != TFC_GROUP and topic in ALL_TOPICS:
            groups[group] = topic
    tps = {t: await _partitions(consumer, t) for t in set(groups.values())}
    ends = await consumer.end_offsets([tp for parts in tps.values() for tp in parts])
    committed = await asyncio.gather(
        *(admin.list_consumer_group_offsets(g, partitions=tps[t]) for g, t in groups.items())
    )
    out: Positions = {}
    for (group, topic), done in zip(groups.items(), committed, strict=True):
        out[group] = {
            (tp.topic, tp.partition): (
                done[tp].offset if tp in done and done[tp].offset >= 0 else 0,
                ends[tp],
            )
            for tp in tps[topic]
        }
    return out


async def positions(bootstrap: str, timeout_s: float = 15) -> Positions:
    """The groups' positions, read once with clients of its own."""

    async def once() -> Positions:
        admin, consumer = await _clients(bootstrap)
        try:
            return await _read_positions(admin, consumer)
        finally:
            await consumer.stop()
            await admin.close()

    return await asyncio.wait_for(once(), timeout_s)


class Watch:
    """The groups' positions read again and again (recovery, drain) with clients kept between reads; after
    a failure (the broker paused, connections cut) the next read connects afresh."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def positions(self, timeout_s: float = 15) -> Positions:
        try:
            if self.clients is None:
                self.clients = await asyncio.wait_for(_clients(self.bootstrap), timeout_s)
            return await asyncio.wait_for(_read_positions(*self.clients), timeout_s)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.clients is not None:
            admin, consumer = self.clients
            self.clients = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 10)


def behind(groups: dict[str, dict[tuple[str, int], tuple[int, int]]]) -> list[str]:
    """Partitions whose group has not committed up to the end: 'group topic[p] committed/end'."""
    return [
        f"{group} {topic}[{p}] {done}/{end}"
        for group, parts in sorted(groups.items())
        for (topic, p), (done, end) in sorted(parts.items())
        if done < end
    ]


async def dead_letters(bootstrap: str) -> list[dict[str, Any]]:
    """Every record of every dead-letter topic: its topic, key and the dlq-* headers."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=5000
    )
    await consumer.start()
    try:
        tps = [tp for t in ALL_TOPICS for tp in await _partitions(consumer, dead_letter(t))]
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batches = await asyncio.wait_for(consumer.getmany(*pending, timeout_ms=500), 15)
            for tp, records in batches.items():
                for r in records:
                    headers = {k: (v or b"").decode(errors="replace") for k, v in r.headers or ()}
                    out.append({"topic": tp.topic, "key": (r.key or b"").decode(errors="replace"), **headers})
                    if r.offset + 1 >= ends[tp]:
                        pending.discard(tp)
        return out
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------------------------
# databases


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def outbox_backlog(urls: dict[str, str]) -> dict[str, int]:
    return {
        name: (await fetch(url, "SELECT count(*) AS n FROM outbox"))[0]["n"] for name, url in urls.items()
    }


async def pending_mails(urls: dict[str, str]) -> int:
    return (await fetch(urls["mailer"], "SELECT count(*) AS n FROM mails WHERE status <> 'sent'"))[0]["n"]


async def incomplete_requests(urls: dict[str, str], request_ids: Iterable[str]) -> int:
    rows = await fetch(urls["approvals"], "SELECT request_id, status FROM requests")
    status = {r["request_id"]: r["status"] for r in rows}
    return sum(1 for rid in request_ids if status.get(rid) != "completed")


# --------------------------------------------------------------------------------------------
# the checks


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lost": len(self.lost),
            "duplicates": len(self.duplicates),
            "unexpected": len(self.unexpected),
            "stuck": len(self.stuck),
            "lost_examples": self.lost[:EXAMPLES],
            "duplicate_examples": self.duplicates[:EXAMPLES],
            "unexpected_examples": self.unexpected[:EXAMPLES],
            "stuck_examples": self.stuck[:EXAMPLES],
            **self.counts,
        }


class Checker:
    def __init__(self, gateway: str, bootstrap: str, urls: dict[str, str], metrics: dict[str, str]) -> None:
        self.gateway = gateway
        self.bootstrap = bootstrap
        self.urls = urls
        self.metrics = metrics  # service → its own /<service>/metrics URL
        self.tokens = Tokens()
        self.f = Findings()
        self._topics: dict[str, list[Any]] = {}

    async def run(self, ledger: Ledger) -> Findings:
        async with httpx.AsyncClient(base_url=self.gateway, timeout=30) as http:
            self.http = http
            self.sem = asyncio.Semaphore(8)
            await self.partitions(ledger)  # first: a consumer still catching up shows as behind, not as lost
            db = await self.databases()
            await self.selections(ledger, db)
            await self.memos(ledger, db)
            await self.contracts(ledger, db)
            await self.requests(ledger, db)
            await self.mails(db)
        return self.f

    async def topic(self, topic: str) -> list[Any]:
        """Every record of `topic` (for telling where a lost write was lost)."""
        if topic not in self._topics:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await consumer.start()
            try:
                tps = await _partitions(consumer, topic)
                ends = await consumer.end_offsets(tps)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                records: list[Any] = []
                pending = {tp for tp in tps if ends[tp] > 0}
                while pending:
                    for tp, batch in (
                        await asyncio.wait_for(consumer.getmany(*pending, timeout_ms=500), 15)
                    ).items():
                        records.extend(batch)
                        if batch and batch[-1].offset + 1 >= ends[tp]:
                            pending.discard(tp)
                self._topics[topic] = records
            finally:
                await consumer.stop()
        return self._topics[topic]

    async def published_selection(self, no: str, seq: int) -> str:
        """Where a selection got lost: on jpass.selection.v1 (at partition@offset) or never published."""
        for r in await self.topic(SELECTION_EVENTS):
            if r.key == no.encode():
                event = json.loads(r.value)
                if event.get("data", {}).get("seq") == seq:
                    return f"published at {r.partition}@{r.offset}"
        return f"never published on {SELECTION_EVENTS}"

    async def get(self, path: str, **params: Any) -> Any:
        async with self.sem:
            r = await self.http.get(path, params=params, headers=self.tokens.headers(HQ_USER))
        r.raise_for_status()
        return r.json()

    async def databases(self) -> dict[str, list[asyncpg.Record]]:
        u = self.urls
        queries = {
            "sel_log": (u["selection"], "SELECT contract_no, seq FROM change_log"),
            "sel_current": (
                u["selection"],
                "SELECT contract_no, seq, category, replacement, replacement_model FROM selections",
            ),
            "sel_memos": (u["selection"], "SELECT contract_no, seq, text FROM memo_entries"),
            "sel_contracts": (u["selection"], "SELECT contract_no, version FROM contracts"),
            "search_contracts": (
                u["search"],
                "SELECT contract_no, version, seq, selection_seq, selection_category, replacement, "
                "replacement_model, final_payment_amount FROM contracts",
            ),
            "search_memos": (u["search"], "SELECT contract_no, seq, text FROM memo_history"),
            "search_requests": (
                u["search"],
                "SELECT request_id, contract_no, status, version FROM contract_requests",
            ),
            "ret_contracts": (u["returns"], "SELECT contract_no, version FROM contracts"),
            "ret_selection": (
                u["returns"],
                "SELECT contract_no, category_seq, category FROM contract_selection",
            ),
            "ret_submissions": (u["returns"], "SELECT request_id, contract_no FROM submissions"),
            "ret_status": (u["returns"], "SELECT request_id, status, version FROM request_status"),
            "requests": (
                u["approvals"],
                "SELECT request_id, contract_no, status, version, approvers, payload FROM requests",
            ),
            "history": (
                u["approvals"],
                "SELECT request_id, version, action, actor_role, to_status FROM request_history",
            ),
            "mails": (
                u["mailer"],
                "SELECT request_id, request_version, kind, recipient, status, message_id FROM mails",
            ),
        }
        rows = await asyncio.gather(*(fetch(url, sql) for url, sql in queries.values()))
        return dict(zip(queries, rows, strict=True))

    # ---------------------------------------------------------------------------------------------

    async def selections(self, ledger: Ledger, db: dict[str, list[asyncpg.Record]]) -> None:
        """Each accepted selection committed; search (detail, list) and returns show the current one."""
        committed = {(r["contract_no"], r["seq"]) for r in db["sel_log"]}
        for no, seq in ledger.selections:
            if (no, seq) not in committed:
                self.f.lost.append(f"selection {no}@{seq}: not in selection's change log")
        current = {r["contract_no"]: r for r in db["sel_current"]}
        search = {r["contract_no"]: r for r in db["search_contracts"]}
        ret = {r["contract_no"]: r for r in db["ret_selection"]}
        touched = sorted({no for no, _ in ledger.selections})
        for no in touched:
            want = current.get(no)
            if want is None:
                self.f.lost.append(f"selection {no}: selection has no current selection")
                continue
            s = search.get(no)
            shown = (
                (s["selection_seq"], s["selection_category"], s["replacement"], s["replacement_model"])
                if s
                else None
            )
            if shown != (want["seq"], want["category"], want["replacement"], want["replacement_model"]):
                where = await self.published_selection(no, want["seq"])
                self.f.lost.append(f"selection {no}@{want['seq']}: search has {shown} ({where})")
            r = ret.get(no)
            if r is None or (r["category_seq"], r["category"]) != (want["seq"], want["category"]):
                where = await self.published_selection(no, want["seq"])
                self.f.lost.append(
                    f"selection {no}@{want['seq']}: returns has {dict(r) if r else None} ({where})"
                )

        async def shown(no: str) -> None:
            want = current[no]
            detail = await self.get(f"/api/v1/contracts/{no}")
            listed = await self.get("/api/v1/contracts", mode="individual", contract_no=no)
            rows = [i for i in listed["items"] if i["contract_no"] == no]
            sel = detail.get("selection") or {}
            if (sel.get("category"), sel.get("replacement"), sel.get("replacement_model")) != (
                want["category"],
                want["replacement"],
                want["replacement_model"],
            ):
                self.f.lost.append(f"selection {no}@{want['seq']}: search detail shows {sel}")
            if len(rows) != 1 or rows[0]["selection"] != want["category"]:
                self.f.lost.append(f"selection {no}@{want['seq']}: search list shows {rows}")

        await asyncio.gather(*(shown(no) for no in touched if no in current))
        self.f.counts["contracts_with_selections_checked"] = len(touched)

    async def memos(self, ledger: Ledger, db: dict[str, list[asyncpg.Record]]) -> None:
        selection = {(r["contract_no"], r["seq"]): r["text"] for r in db["sel_memos"]}
        search = {(r["contract_no"], r["seq"]): r["text"] for r in db["search_memos"]}
        by_contract: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for no, seq, text in ledger.memos:
            if selection.get((no, seq)) != text:
                self.f.lost.append(f"memo {no}@{seq}: not committed in selection")
            if search.get((no, seq)) != text:
                self.f.lost.append(f"memo {no}@{seq}: not in search's memo history")
            by_contract[no].append((seq, text))

        async def shown(no: str) -> None:
            history = (await self.get(f"/api/v1/contracts/{no}"))["memo"]["history"]
            seen = Counter((h["seq"], h["text"]) for h in history)
            for entry in by_contract[no]:
                if seen[entry] == 0:
                    self.f.lost.append(f"memo {no}@{entry[0]}: not on search's detail page")
            for entry, n in seen.items():
                if n > 1:
                    self.f.duplicates.append(f"memo {no}@{entry[0]}: {n} times in the detail's history")

        await asyncio.gather(*(shown(no) for no in sorted(by_contract)))

    async def contracts(self, ledger: Ledger, db: dict[str, list[asyncpg.Record]]) -> None:
        """TFC's new contract versions reached search, selection and returns; the detail shows them."""
        versions = {
            name: {r["contract_no"]: r["version"] for r in db[table]}
            for name, table in (
                ("search", "search_contracts"),
                ("selection", "sel_contracts"),
                ("returns", "ret_contracts"),
            )
        }
        for no, (version, _) in ledger.contract_versions.items():
            for name, have in versions.items():
                if have.get(no, -1) < version:
                    self.f.lost.append(f"contract {no} v{version}: {name} has v{have.get(no)}")

        async def shown(no: str, amount: int) -> None:
            detail = await self.get(f"/api/v1/contracts/{no}")
            if detail["contract"]["final_payment_amount"] != amount:
                self.f.lost.append(
                    f"contract {no}: detail shows {detail['contract']['final_payment_amount']}, sent {amount}"
                )

        await asyncio.gather(*(shown(no, amount) for no, (_, amount) in ledger.contract_versions.items()))

    async def requests(self, ledger: Ledger, db: dict[str, list[asyncpg.Record]]) -> None:
        """Returns → one request each, completed (the drain lets the approvers and TFC finish), with every
        accepted approval and TFC answer in its history once, and the same status in search and returns."""
        requests = {r["request_id"]: r for r in db["requests"]}
        history: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for h in db["history"]:
            history[h["request_id"]].append(h)
        await self.returned(ledger, db, requests)
        self.histories(ledger, history)
        self.f.counts["requests"] = len(requests)
        self.f.counts["requests_unacknowledged"] = len(set(requests) - set(ledger.returns))
        await asyncio.gather(
            *(
                self.request_shown(requests[rid], sub["contract_no"])
                for rid, sub in ledger.returns.items()
                if rid in requests
            )
        )

    async def returned(
        self, ledger: Ledger, db: dict[str, list[asyncpg.Record]], requests: dict[str, asyncpg.Record]
    ) -> None:
        """Each accepted return: committed in returns, one request, completed, the same in search, returns."""
        submissions = {r["request_id"] for r in db["ret_submissions"]}
        per_contract = Counter(r["contract_no"] for r in db["requests"])
        models = {
            "search": {r["request_id"]: r for r in db["search_requests"]},
            "returns": {r["request_id"]: r for r in db["ret_status"]},
        }
        for rid, sub in ledger.returns.items():
            no = sub["contract_no"]
            if rid not in submissions:
                self.f.lost.append(f"return {rid} ({no}): not committed in returns")
            if per_contract[no] > 1:
                self.f.duplicates.append(f"contract {no}: {per_contract[no]} requests")
            req = requests.get(rid)
            if req is None:
                published = any(rid.encode() in r.value for r in await self.topic(REQUEST_SUBMISSIONS))
                where = "published" if published else "never published"
                self.f.lost.append(
                    f"return {rid} ({no}): no request in approvals ({where} on {REQUEST_SUBMISSIONS})"
                )
                continue
            state = (req["status"], req["version"])
            if state[0] != "completed":
                self.f.lost.append(f"return {rid} ({no}): request {state}, not completed")
            for name, model in models.items():
                got = model.get(rid)
                seen = (got["status"], got["version"]) if got else None
                if seen != state:
                    self.f.lost.append(f"request {rid}: {name} has {seen}, approvals {state}")

    def histories(self, ledger: Ledger, history: dict[str, list[asyncpg.Record]]) -> None:
        """One history entry per version, one TFC answer of each kind; every accepted approval and answer."""
        for rid, entries in history.items():
            versions = Counter(h["version"] for h in entries)
            tfc = Counter(h["action"] for h in entries if h["actor_role"] == "tfc")
            self.f.duplicates += [
                f"request {rid}: history version {v} {n} times" for v, n in versions.items() if n > 1
            ]
            self.f.duplicates += [
                f"request {rid}: TFC {a} {n} times in the history" for a, n in tfc.items() if n > 1
            ]
        for rid, version, user in ledger.approvals:
            if not any(h["version"] == version and h["action"] == "approve" for h in history.get(rid, [])):
                self.f.lost.append(f"approval {rid} v{version} by {user}: not in the history")
        for rid, action, update_id in ledger.tfc_answers:
            if not any(h["action"] == action and h["actor_role"] == "tfc" for h in history.get(rid, [])):
                self.f.lost.append(f"TFC {action} {update_id}: not in the history of {rid}")

    async def request_shown(self, req: asyncpg.Record, no: str) -> None:
        """The request's page, 進捗一覧 (once, either tab) and the customer detail agree with approvals."""
        rid = req["request_id"]
        detail = await self.get(f"/api/v1/requests/{rid}")
        progress = await self.get("/api/v1/requests", tab="past", contract_no=no)
        progress_now = await self.get("/api/v1/requests", contract_no=no)
        listed = [i["request_id"] for i in progress["items"] + progress_now["items"]]
        contract = await self.get(f"/api/v1/contracts/{no}")
        on_detail = [r for r in contract.get("requests", []) if r["request_id"] == rid]
        if (detail["status"], detail["version"]) != (req["status"], req["version"]):
            self.f.lost.append(f"request {rid}: approvals page shows {detail['status']} v{detail['version']}")
        if listed.count(rid) != 1:
            kind = self.f.duplicates if listed.count(rid) > 1 else self.f.lost
            kind.append(f"request {rid}: {listed.count(rid)} times in 進捗一覧 for {no}")
        if len(on_detail) != 1 or on_detail[0]["status"] != req["status"]:
            self.f.lost.append(f"request {rid}: search detail shows {on_detail}")

    @staticmethod
    def expected_mails(db: dict[str, list[asyncpg.Record]]) -> set[tuple[str, int, str, str]]:
        """From approvals' history: 本部承認依頼 when a request reached hq_pending, 完了 to the contact and
        every approver when it completed (the soak's users always ask for the completion mail)."""
        requests = {r["request_id"]: r for r in db["requests"]}
        expected: set[tuple[str, int, str, str]] = set()
        for h in db["history"]:
            req = requests.get(h["request_id"])
            if req is None:
                continue
            if h["to_status"] == "hq_pending":
                expected.add((h["request_id"], h["version"], "approval_request", HQ_APPROVERS))
            if h["to_status"] == "completed":
                people = {_json(req["payload"]).get("contact3_email")}
                people |= {a.get("email") for a in _json(req["approvers"])}
                expected |= {(h["request_id"], h["version"], "completion", e) for e in people - {None, ""}}
        return expected

    async def mails(self, db: dict[str, list[asyncpg.Record]]) -> None:
        """Each expected mail recorded once, sent, in the catcher and in the mail log; nothing else."""
        expected = self.expected_mails(db)
        rows = db["mails"]
        recorded = Counter((m["request_id"], m["request_version"], m["kind"], m["recipient"]) for m in rows)
        per_trigger = Counter((m["request_id"], m["kind"], m["recipient"]) for m in rows)
        self.f.lost += [f"mail {key}: not recorded" for key in sorted(expected - set(recorded))]
        self.f.unexpected += [f"mail {key}: not expected" for key in sorted(set(recorded) - expected)]
        self.f.duplicates += [f"mail {key}: {n} rows" for key, n in per_trigger.items() if n > 1]
        caught = await self.http.get("/dev/mail/messages")
        caught.raise_for_status()
        delivered = Counter(m["message_id"] for m in caught.json())
        for m in rows:
            what = f"mail {m['request_id']} {m['kind']} {m['recipient']}"
            if m["status"] != "sent":
                self.f.lost.append(f"{what}: {m['status']}")
            elif delivered[m["message_id"]] == 0:
                self.f.lost.append(f"{what}: not in the catcher")
        by_request: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for m in rows:
            by_request[m["request_id"]].append(m)
        await asyncio.gather(*(self.mails_logged(rid, mails) for rid, mails in by_request.items()))
        self.f.counts["mails"] = len(rows)
        self.f.counts["mails_expected"] = len(expected)
        # A mailer killed after the relay accepted a mail and before it recorded that sends it again on
        # restart, with the same Message-ID (receivers drop it): reported, not a duplicate e-mail.
        self.f.counts["mails_resent_same_message_id"] = sum(n - 1 for n in delivered.values() if n > 1)

    async def mails_logged(self, rid: str, mails: list[asyncpg.Record]) -> None:
        log = await self.get("/api/v1/mail-log", request_id=rid)
        seen = Counter((i["kind"], i["to"]) for i in log["items"])
        for m in mails:
            times = seen[(m["kind"], m["recipient"])]
            if times != 1:
                kind = self.f.duplicates if times > 1 else self.f.lost
                kind.append(f"mail {rid} {m['kind']} {m['recipient']}: {times} times in the mail log")

    async def partitions(self, ledger: Ledger) -> None:
        groups = await positions(self.bootstrap)
        self.f.stuck.extend(behind(groups))
        self.f.counts["groups_at_end"] = {
            g: {f"{t}[{p}]": f"{done}/{end}" for (t, p), (done, end) in sorted(parts.items())}
            for g, parts in sorted(groups.items())
        }
        self.f.counts["consumer_groups"] = len(groups)
        self.f.counts["partitions"] = sum(len(p) for p in groups.values())
        self.f.counts["lag"] = sum(
            max(0, end - done) for parts in groups.values() for done, end in parts.values()
        )
        # Seen on Tansu: a partition's end offset reported one below an offset every group had consumed and
        # committed. Not lag, and nothing of ours is missing (the checks above read the records' effects).
        self.f.counts["committed_beyond_end"] = [
            f"{g} {t}[{p}] {done}/{end}"
            for g, parts in sorted(groups.items())
            for (t, p), (done, end) in sorted(parts.items())
            if done > end
        ]
        self.f.counts["metrics_lag"] = await self.metrics_lag()
        self.f.counts["outbox_backlog"] = sum((await outbox_backlog(self.urls)).values())
        letters = await dead_letters(self.bootstrap)
        poison_keys = {key for _, key in ledger.poison}
        for d in letters:
            if d["key"] not in poison_keys:
                by, reason = d.get("dlq-consumer-group"), d.get("dlq-reason", "")[:200]
                self.f.unexpected.append(f"dead letter {d['topic']} key {d['key']} by {by}: {reason}")
        got = Counter(
            (d["key"], d.get("dlq-consumer-group")) for d in letters if d["key"].startswith(POISON_KEY)
        )
        missing = 0
        for topic, key in ledger.poison:
            for group in (g for g in groups if g.split(".", 1)[1] == topic):
                if got[(key, group)] == 0:
                    missing += 1
                    self.f.stuck.append(f"poison {key} on {topic}: not dead-lettered by {group}")
        self.f.counts["dead_letters"] = len(letters)
        self.f.counts["poison_messages"] = len(ledger.poison)
        self.f.counts["poison_dead_letters_expected"] = sum(
            1 for topic, _ in ledger.poison for g in groups if g.split(".", 1)[1] == topic
        )
        self.f.counts["poison_dead_letters_missing"] = missing

    async def metrics_lag(self) -> float:
        """jpass_consumer_lag summed over every service, as each reports it (what the alert watches)."""
        total = 0.0
        for url in self.metrics.values():
            with contextlib.suppress(httpx.HTTPError):
                text = (await self.http.get(url)).text
                total += sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("jpass_consumer_lag{")
                )
        return total


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})
