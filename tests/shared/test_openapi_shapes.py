"""The OpenAPI documents show SPEC §7's shapes: every call of the table with the fields the SPEC names (the
response of each JSON call, the body of each write, the filters of each list), and no JSON API route
documents an untyped object. Built apps (SQLite, never started), their documents read as a client would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app as approvals_app
from services.mailer.config import MailerSettings
from services.mailer.main import create_app as mailer_app
from services.returns.config import ReturnsSettings
from services.returns.main import create_app as returns_app
from services.search.config import SearchSettings
from services.search.main import create_app as search_app
from services.selection.config import SelectionSettings
from services.selection.main import create_app as selection_app

# SPEC §7 "Minimum JSON shapes", written down as data. A key is (service, method, path); "x[]" names the
# elements of the list x, "x" a nested object.
ROW = [
    "contract_no",
    "final_payment_date",
    "result_input_deadline",
    "selection",
    "replacement_mark",
    "completed",
    "contractor_name",
    "inspection_ym",
    "model",
    "registration_no",
    "staff_code",
    "store_name",
    "color",
]
CONTRACT = "/api/v1/contracts/{contract_no}"
REQUEST = "/api/v1/requests/{request_id}"
FLOW = ["store_approval", "hq_approval", "hq_approver_emails"]
ACTION = ["version", "note"]

RESPONSES: dict[tuple[str, str, str], dict[str, list[str]]] = {
    ("search", "get", "/api/v1/contracts"): {"": ["total", "truncated", "items"], "items[]": ROW},
    ("search", "get", CONTRACT): {"": [*ROW, "contract", "memo", "selection", "request"]},
    ("selection", "post", f"{CONTRACT}/refinance-simulation"): {
        "": ["monthly_payment", "total_payment", "total_interest", "schedule"],
        "schedule[]": ["no", "payment", "principal", "interest", "balance"],
    },
    ("returns", "post", "/api/v1/returns"): {"": ["request_id"]},
    ("approvals", "get", "/api/v1/approval-flow"): {"": FLOW},
    ("approvals", "put", "/api/v1/approval-flow"): {"": FLOW},
    ("approvals", "get", "/api/v1/requests"): {"": ["items", "counts"]},
    ("approvals", "get", REQUEST): {
        "": [
            "request_id",
            "type",
            "status",
            "status_label",
            "version",
            "contract_no",
            "payload",
            "requested_at",
            "dealer_note",
            "history",
        ]
    },
}
BODIES: dict[tuple[str, str, str], list[str]] = {
    ("selection", "put", f"{CONTRACT}/selection"): [
        "category",
        "replacement",
        "replacement_model",
        "confirmation_received_on",
    ],
    ("selection", "put", f"{CONTRACT}/memo"): ["text"],
    ("selection", "post", f"{CONTRACT}/refinance-simulation"): ["months", "annual_rate"],
    ("selection", "put", f"{CONTRACT}/assignment"): ["store_code", "staff_code"],
    ("returns", "post", "/api/v1/returns"): [
        "contract_no",
        "contact1",
        "contact2",
        "contact3_email",
        "notify_on_completion",
        "result",
        "returned_on",
        "not_returned_reason",
    ],
    ("approvals", "put", "/api/v1/approval-flow"): FLOW,
    ("approvals", "post", f"{REQUEST}/approve"): ACTION,
    ("approvals", "post", f"{REQUEST}/send-back"): ACTION,
    ("approvals", "post", f"{REQUEST}/withdraw"): ACTION,
    ("approvals", "put", REQUEST): [*ACTION, "payload"],
}
QUERIES: dict[tuple[str, str, str], list[str]] = {
    ("search", "get", "/api/v1/contracts"): [
        "mode",
        "registration_no",
        "contractor_name",
        "contract_no",
        "final_from",
        "final_to",
        "model",
        "handling_status",
        "program",
        "inspection",
        "months_from",
        "months_to",
        "sort",
    ],
    ("search", "get", "/api/v1/contracts/export.csv"): ["encoding"],
    ("approvals", "get", "/api/v1/requests"): [
        "tab",
        "type",
        "status",
        "contractor_name",
        "contract_no",
        "updated_from",
        "updated_to",
    ],
}
FILES: dict[tuple[str, str, str], str] = {
    ("search", "get", "/api/v1/contracts/export.csv"): "text/csv",
    ("selection", "get", f"{CONTRACT}/confirmation.pdf"): "application/pdf",
    ("returns", "get", "/api/v1/returns/{request_id}/print.pdf"): "application/pdf",
}
# The JSON calls of SPEC §7 whose answer the table leaves open (it gives their body): typed all the same.
OTHER_JSON_CALLS = [
    ("selection", "put", f"{CONTRACT}/selection"),
    ("selection", "put", f"{CONTRACT}/memo"),
    ("selection", "put", f"{CONTRACT}/assignment"),
    ("approvals", "post", f"{REQUEST}/approve"),
    ("approvals", "post", f"{REQUEST}/send-back"),
    ("approvals", "post", f"{REQUEST}/withdraw"),
    ("approvals", "put", REQUEST),
]


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("openapi")

    def db(name: str) -> str:
        return f"sqlite+aiosqlite:///{folder}/{name}.db"

    apps: dict[str, FastAPI] = {
        "search": search_app(SearchSettings(database_url=db("search"))),
        "selection": selection_app(SelectionSettings(database_url=db("selection"))),
        "returns": returns_app(ReturnsSettings(database_url=db("returns"))),
        "approvals": approvals_app(ApprovalsSettings(database_url=db("approvals"))),
        "mailer": mailer_app(MailerSettings(database_url=db("mailer"))),
    }
    return {name: app.openapi() for name, app in apps.items()}


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind $refs, and of a nullable one (anyOf [x, null]) its non-null side."""
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            sides = [s for s in schema["anyOf"] if s.get("type") != "null"]
            assert len(sides) == 1, f"a union of several shapes: {schema}"
            schema = sides[0]
        else:
            return schema


def operation(docs: dict[str, dict[str, Any]], key: tuple[str, str, str]) -> dict[str, Any]:
    service, method, path = key
    ops = docs[service]["paths"].get(path, {})
    assert method in ops, f"{service}: {method.upper()} {path} is not documented"
    return ops[method]


def success(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    codes = [code for code in op["responses"] if code.startswith("2")]
    assert len(codes) == 1, f"one documented success, got {codes}"
    return codes[0], op["responses"][codes[0]]


def json_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    _, response = success(op)
    return resolve(doc, response["content"]["application/json"]["schema"])


def at(doc: dict[str, Any], schema: dict[str, Any], where: str) -> dict[str, Any]:
    """The object schema at `where` ("", "items[]", "a.b")."""
    for part in filter(None, where.split(".")):
        name = part.removesuffix("[]")
        schema = resolve(doc, schema["properties"][name])
        if part.endswith("[]"):
            assert schema.get("type") == "array", f"{where}: not a list"
            schema = resolve(doc, schema["items"])
    return schema


def is_typed_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and bool(schema.get("properties"))


@pytest.mark.parametrize("key", list(RESPONSES), ids=lambda k: f"{k[1].upper()} {k[0]}{k[2]}")
def test_responses_have_the_spec_fields(
    documents: dict[str, dict[str, Any]], key: tuple[str, str, str]
) -> None:
    doc = documents[key[0]]
    schema = json_schema(doc, operation(documents, key))
    for where, fields in RESPONSES[key].items():
        shown = at(doc, schema, where)
        assert is_typed_object(shown), f"{where or 'the body'} is untyped: {shown}"
        missing = [f for f in fields if f not in shown["properties"]]
        assert not missing, f"{where or 'the response'} lacks {missing}"


def test_the_spec_row_values() -> None:
    """The enumerations SPEC §7 spells out are the documented ones (color, replacement_mark)."""
    from services.search import views

    props = views.ContractRow.model_json_schema()["properties"]
    assert props["color"]["enum"] == ["gray", "green", "blue", "red", "yellow", "white"]
    assert props["replacement_mark"]["enum"] == ["○", "ー", "未", ""]


@pytest.mark.parametrize("key", list(BODIES), ids=lambda k: f"{k[1].upper()} {k[0]}{k[2]}")
def test_bodies_have_the_spec_fields(documents: dict[str, dict[str, Any]], key: tuple[str, str, str]) -> None:
    doc = documents[key[0]]
    body = operation(documents, key)["requestBody"]["content"]["application/json"]["schema"]
    shown = resolve(doc, body)
    missing = [f for f in BODIES[key] if f not in shown.get("properties", {})]
    assert not missing, f"the body lacks {missing}"


@pytest.mark.parametrize("key", list(QUERIES), ids=lambda k: f"{k[1].upper()} {k[0]}{k[2]}")
def test_list_filters_are_documented(documents: dict[str, dict[str, Any]], key: tuple[str, str, str]) -> None:
    params = {p["name"] for p in operation(documents, key).get("parameters", []) if p["in"] == "query"}
    missing = [q for q in QUERIES[key] if q not in params]
    assert not missing, f"undocumented filters {missing}"


@pytest.mark.parametrize("key", list(FILES), ids=lambda k: f"{k[1].upper()} {k[0]}{k[2]}")
def test_files_are_documented_as_files(
    documents: dict[str, dict[str, Any]], key: tuple[str, str, str]
) -> None:
    _, response = success(operation(documents, key))
    assert FILES[key] in response.get("content", {}), response


def test_every_json_api_route_documents_a_typed_answer(documents: dict[str, dict[str, Any]]) -> None:
    """Every /api/ operation answers a typed JSON object, a file, or nothing (204); never `dict[str, Any]`
    (an object without properties) or an empty schema."""
    untyped = []
    seen = set()
    for service, doc in documents.items():
        for path, ops in doc["paths"].items():
            if not path.startswith("/api/"):
                continue
            for method, op in ops.items():
                seen.add((service, method, path))
                code, response = success(op)
                content = response.get("content", {})
                if code == "204" or (content and "application/json" not in content):
                    continue  # nothing, or a file (checked above)
                schema = resolve(doc, content.get("application/json", {}).get("schema", {}))
                if not is_typed_object(schema) or schema.get("additionalProperties") is True:
                    untyped.append(f"{service}: {method.upper()} {path}")
    assert not untyped, f"untyped JSON answers: {untyped}"
    spec_calls = {*RESPONSES, *BODIES, *QUERIES, *FILES, *OTHER_JSON_CALLS}
    assert spec_calls <= seen, f"SPEC §7 calls not documented: {spec_calls - seen}"
    assert len(seen) >= 28, sorted(seen)  # the JSON and file API of the five services
