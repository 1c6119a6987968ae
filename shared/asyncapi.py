"""AsyncAPI 3.0 documents of each service's topics, built from the same Pydantic models the code uses,
served as JSON (`/asyncapi/NAME.json`) and as a readable page (`/asyncapi/NAME`) without any CDN script."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from shared.settings import CommonSettings


@dataclass(frozen=True)
class Channel:
    topic: str
    direction: Literal["publish", "subscribe"]  # publish = this service sends; subscribe = it receives
    messages: tuple[tuple[str, type[BaseModel]], ...]  # (event type or name, data model)
    key: str
    description: str = ""
    enveloped: bool = True
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)


def _message_schema(name: str, model: type[BaseModel], enveloped: bool) -> dict[str, Any]:
    data_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if not enveloped:
        return data_schema
    return {
        "type": "object",
        "description": f"CloudEvents 1.0 envelope (structured JSON), type `{name}`",
        "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "unique event id; consumers ignore ids they processed"},
            "source": {"type": "string"},
            "type": {"const": name},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string", "description": "the Kafka key (contract_no or request_id)"},
            "datacontenttype": {"const": "application/json"},
            "data": data_schema,
        },
    }


def asyncapi_document(
    service: str, title: str, settings: CommonSettings, channels: list[Channel]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": f"Kafka topics of the J-PASS {service} service.",
        },
        "defaultContentType": "application/json",
        "servers": {"kafka": {"host": settings.kafka_bootstrap_servers, "protocol": "kafka"}},
        "channels": {},
        "operations": {},
        "components": {"messages": {}},
    }
    for ch in channels:
        channel_id = ch.topic.replace(".", "_")
        refs = {}
        for name, model in ch.messages:
            message_id = f"{channel_id}__{name.replace('.', '_')}"
            message: dict[str, Any] = {
                "name": name,
                "title": name,
                "contentType": "application/json",
                "payload": _message_schema(name, model, ch.enveloped),
                "bindings": {"kafka": {"key": {"type": "string", "description": ch.key}}},
            }
            if name in ch.examples:
                message["examples"] = [{"payload": ch.examples[name]}]
            doc["components"]["messages"][message_id] = message
            refs[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        doc["channels"][channel_id] = {
            "address": ch.topic,
            "description": ch.description,
            "messages": refs,
            "bindings": {"kafka": {"topic": ch.topic}},
        }
        doc["operations"][f"{ch.direction}_{channel_id}"] = {
            "action": "send" if ch.direction == "publish" else "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
    return doc


def _pretty(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def asyncapi_router(service: str, title: str, settings: CommonSettings, channels: list[Channel]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(f"/asyncapi/{service}.json")
    async def document() -> JSONResponse:
        return JSONResponse(asyncapi_document(service, title, settings, channels))

    @router.get(f"/asyncapi/{service}", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        doc = asyncapi_document(service, title, settings, channels)
        templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "asyncapi.html",
            {
                "user": None,
                "doc": doc,
                "service": service,
                "dumps": lambda o: json.dumps(o, ensure_ascii=False, indent=2),
            },
        )

    return router
