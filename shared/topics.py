"""Kafka topic names. TFC topics are a stable interface (SPEC §7); `jpass.*` internal ones are ours."""

# With TFC
TFC_CONTRACTS = "tfc.contracts.v1"  # in: contract snapshots, key contract_no
TFC_REQUEST_UPDATES = "tfc.request-updates.v1"  # in: TFC's answers to requests, key request_id
JPASS_REQUESTS = "jpass.requests.v1"  # out: requests for TFC, key request_id

# Between our services
SELECTION_EVENTS = "jpass.selection.v1"  # selection, memo, assignment; key contract_no
RETURN_SUBMISSIONS = "jpass.returns.v1"  # vehicle-return submitted; key contract_no
REQUEST_STATUS = "jpass.request-status.v1"  # request status changed; key request_id
REQUEST_TIMEOUTS = "jpass.request-timeouts.v1"  # reminder timeouts; key request_id

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
