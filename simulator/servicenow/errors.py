"""ServiceNow's error envelope: {"error": {"message", "detail"}, "status": "failure"}."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    message: str
    detail: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    status: str = "failure"


class SnError(Exception):
    def __init__(self, status_code: int, message: str, detail: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.detail = status_code, message, detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "detail": self.detail}, "status": "failure"}


def not_authenticated() -> SnError:
    return SnError(401, "User Not Authenticated", "Required to provide Auth information")


def no_record() -> SnError:
    return SnError(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")


def no_records_v1() -> SnError:
    return SnError(404, "No Record found",
                   "Records matching query not found. Check query parameter or offset parameter")


def invalid_table(name: str) -> SnError:
    return SnError(400, f"Invalid table {name}", None)


def acl_denied(operation: str) -> SnError:
    return SnError(403, "Operation Failed", f"ACL Exception {operation} Failed due to security constraints")


def query_denied() -> SnError:
    return SnError(403, "Insufficient rights to query records",
                   "Field(s) present in the query do not have permission to be read")


def data_policy(labels: list[str]) -> SnError:
    return SnError(403, "Operation Failed",
                   "Data Policy Exception: \nThe following fields are mandatory: " + ", ".join(labels))


def bad_request(message: str, detail: str | None = None) -> SnError:
    return SnError(400, message, detail)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Invalid table, malformed body or query"},
    401: {"model": ErrorEnvelope, "description": "User Not Authenticated"},
    413: {"model": ErrorEnvelope, "description": "Request body over the limit (10 MB; BPSN_SN_MAX_BODY_BYTES)"},
}
