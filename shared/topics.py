"""Kafka topic names. TFC topics are a stable interface (SPEC §7); `jpass.*` internal ones are ours."""

# With TFC
TFC_CONTRACTS = "tfc.contracts.v1"  # in: contract snapshots, key contract_no
TFC_REQUEST_UPDATES = "tfc.request-updates.v1"  # in: TFC's answers to requests, key request_id
JPASS_REQUESTS = "jpass.requests.v1"  # out: requests for TFC, key request_id

# Between our services
SELECTION_EVENTS = "jpass.selection.v1"  # selection, memo, assignment; key contract_no
# Every intake's submissions (車両返却 from returns; 再分割審査申込 and 早期完済受付 from selection), one
# event type per request type; key contract_no. Named for its first type; kept so consumers stay put.
REQUEST_SUBMISSIONS = "jpass.returns.v1"
RETURN_SUBMISSIONS = REQUEST_SUBMISSIONS
REQUEST_STATUS = "jpass.request-status.v1"  # request status changed; key request_id
REQUEST_TIMEOUTS = "jpass.request-timeouts.v1"  # reminder timeouts; key request_id

# Our enveloped topics: the data field each event's subject (= its Kafka key) is taken from.
EVENT_KEYS = {
    SELECTION_EVENTS: "contract_no",
    REQUEST_SUBMISSIONS: "contract_no",
    REQUEST_STATUS: "request_id",
    REQUEST_TIMEOUTS: "request_id",
}

ALL_TOPICS = (
    TFC_CONTRACTS,
    TFC_REQUEST_UPDATES,
    JPASS_REQUESTS,
    SELECTION_EVENTS,
    RETURN_SUBMISSIONS,
    REQUEST_STATUS,
    REQUEST_TIMEOUTS,
)


def dead_letter(topic: str) -> str:
    """Poison messages of `topic` go here, with the reason in the headers."""
    return f"{topic}.dlq"
