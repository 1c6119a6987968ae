"""The one way every service says no (issue 19). Pure: no framework.

A refusal has a kind from a closed set, a stable code (SPEC §7), the Japanese message shown as is, and the
form field it concerns. It carries no HTTP status: `shared.web` maps each kind to one status, the same for
the JSON API and the pages. Domains raise or return it; use cases raise it; pages that re-render their
form with the message beside the field catch it, and everything else reaches `service_app`'s one handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

RefusalKind = Literal["not_found", "forbidden", "conflict", "invalid", "stale", "busy"]


class FieldProblem(Protocol):
    """One field's error of a form (shared.requests.FieldError, or a Refusal with a field)."""

    @property
    def field(self) -> str | None: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


class Refusal(Exception):
    """Nothing changed, and why. `errors`: every field at fault when a form has several (the refusal's own
    code, message and field are the first's), or approvals' payload errors as {field: message}."""

    def __init__(
        self,
        kind: RefusalKind,
        code: str,
        message: str,
        field: str | None = None,
        *,
        errors: Sequence[FieldProblem] | Mapping[str, str] = (),
    ) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.field, self.errors = kind, code, message, field, errors

    @classmethod
    def invalid(cls, errors: Sequence[FieldProblem]) -> Refusal:
        """A form with errors (at least one)."""
        first = errors[0]
        return cls("invalid", first.code, first.message, first.field, errors=errors)

    def by_field(self) -> tuple[dict[str, str], list[str]]:
        """The messages next to their fields, and those tied to no field (how a form page shows them)."""
        if isinstance(self.errors, Mapping):
            return dict(self.errors), []
        problems = self.errors or [self]
        return {p.field: p.message for p in problems if p.field}, [p.message for p in problems if not p.field]
