"""What every J-PASS service must agree on: events and topics, identity, outbox/inbox, broker."""
