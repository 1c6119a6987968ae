"""Dependencies shared by the API and the pages: the use cases of the app."""

from __future__ import annotations

from fastapi import Request

from services.approvals.use_cases import Approvals


def approvals_of(request: Request) -> Approvals:
    return request.app.state.approvals
