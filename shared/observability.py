"""Logs, traces and metrics every service shares.

- structlog JSON logs on stdout with the current trace id in every line (stdlib logging routed through it).
- OpenTelemetry traces across HTTP and Kafka: the FastAPI instrumentation starts a span per request; the
  outbox stores the W3C `traceparent` with each staged message; consumers continue that trace. Exported by
  OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (otherwise trace ids still tie the logs together).
- Prometheus metrics at `/NAME/metrics`: HTTP requests by route template (never by raw path: ids and names
  stay out of labels), consumed/failed/dead-lettered messages per topic, outbox backlog.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from contextvars import Token
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from structlog.typing import EventDict

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "jpass_http_requests_total", "HTTP requests", ["service", "method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "jpass_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MESSAGES_CONSUMED = Counter(
    "jpass_messages_consumed_total", "Messages handled", ["service", "topic", "outcome"], registry=REGISTRY
)
OUTBOX_BACKLOG = Gauge(
    "jpass_outbox_backlog", "Staged messages not yet published", ["service"], registry=REGISTRY
)
OUTBOX_PUBLISHED = Counter(
    "jpass_outbox_published_total", "Messages the outbox relay published", ["service"], registry=REGISTRY
)
EMAILS = Counter(
    "jpass_emails_total", "E-mails by outcome (sent, failed, retried)", ["kind", "outcome"], registry=REGISTRY
)
CONSUMER_RESTARTS = Counter(
    "jpass_consumer_restarts_total",
    "Consumers started again after their group coordination ended",
    ["service"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "jpass_consumer_lag", "Messages behind the end of the topic", ["service", "topic"], registry=REGISTRY
)
# The stuck-partition guard (issue 18): a partition whose committed offset stays put while messages wait
# behind it (deploy/prometheus/alerts.yml: JPassPartitionStuck); `python -m shared.dead_letter_offset` moves
# a group past one offset by hand.
CONSUMER_COMMITTED = Gauge(
    "jpass_consumer_committed_offset",
    "The consumer group's committed offset per partition",
    ["service", "topic", "partition"],
    registry=REGISTRY,
)
CONSUMER_PARTITION_LAG = Gauge(
    "jpass_consumer_partition_lag",
    "Messages behind the end of the partition",
    ["service", "topic", "partition"],
    registry=REGISTRY,
)

_configured: set[str] = set()


def _add_trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event_dict["trace_id"] = format(span.trace_id, "032x")
        event_dict["span_id"] = format(span.span_id, "016x")
    return event_dict


def configure(service: str, json_logs: bool = True) -> None:
    """Once per process: the tracer provider and (unless told otherwise) JSON logs with trace ids."""
    setup_tracing(service)
    if json_logs and service not in _configured:
        _configured.add(service)
        _configure_logging(service)


def _configure_logging(service: str) -> None:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # JSON for production (one object per line, for the log pipeline); `console` for people at a terminal
    # (make run): short lines, and the libraries' consumer-group chatter only from WARNING up.
    console = os.environ.get("JPASS_LOG_FORMAT", "json").lower() == "console"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False, pad_event=0)
        if console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([_short_console_line] if console else []),
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("JPASS_LOG_LEVEL", "INFO").upper())
    if console:
        for chatty in ("aiokafka", "faststream", "kafka", "uvicorn.access", f"jpass.jpass-{service}.broker"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def _short_console_line(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """A terminal line needs the time, level, logger and message: ids and the service name (honcho already
    prefixes each line with the process) would only make it long."""
    for key in ("trace_id", "span_id", "service"):
        event_dict.pop(key, None)
    stamp = event_dict.get("timestamp")
    if isinstance(stamp, str) and "T" in stamp:
        event_dict["timestamp"] = stamp.split("T", 1)[1][:8]
    return event_dict


def setup_tracing(service: str) -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": f"jpass-{service}"}))
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    return trace.get_tracer("jpass")


def current_trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, to store beside an outbox message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def attach_from_headers(headers: Mapping[str, str]) -> Token[Context]:
    """Continue the producer's trace in a consumer; returns a token for `detach`."""
    return otel_context.attach(propagate.extract(dict(headers)))


def detach(token: Token[Context]) -> None:
    otel_context.detach(token)


class RequestMetrics:
    """Count and time every HTTP request by route template and status (plain ASGI middleware; the time
    runs to the last byte of the body, so a streamed CSV is timed whole)."""

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, template).observe(time.perf_counter() - started)


def instrument_app(app: Any, service: str) -> None:
    """Spans and Prometheus metrics for every HTTP request of a FastAPI app."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=f"{service}/healthz,{service}/readyz,{service}/metrics"
    )
    app.add_middleware(RequestMetrics, service=service)
