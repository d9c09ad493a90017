"""NGSI-LD error types (clause 5.5.2) and their HTTP status codes (clause 6.3.2).

Every failure a client can fix is one of these; the API layer turns them into
ProblemDetails bodies (IETF RFC 7807, clause 5.5.3) in one place.
"""

from __future__ import annotations

from typing import Any

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiError(Exception):
    """Base of all NGSI-LD errors: carries the error type, HTTP status and a detail."""

    type_name = "InternalError"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, instance: str | None = None, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.instance = instance
        if status is not None:
            self.status = status

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + self.type_name

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.instance is not None:
            body["instance"] = self.instance
        return body


class AlreadyExists(NgsiError):
    type_name, status, title = "AlreadyExists", 409, "Already exists"


class BadRequestData(NgsiError):
    type_name, status, title = "BadRequestData", 400, "Bad request data"


class Conflict(NgsiError):
    type_name, status, title = "Conflict", 409, "Conflict"


class InternalError(NgsiError):
    type_name, status, title = "InternalError", 500, "Internal error"


class InvalidRequest(NgsiError):
    type_name, status, title = "InvalidRequest", 400, "Invalid request"


class LdContextNotAvailable(NgsiError):
    # V1.9.1 table 6.3.2-1 maps LdContextNotAvailable to 504 (earlier versions said 503).
    type_name, status, title = "LdContextNotAvailable", 504, "@context not available"


class NoMultiTenantSupport(NgsiError):
    type_name, status, title = "NoMultiTenantSupport", 501, "No multi-tenant support"


class NonexistentTenant(NgsiError):
    type_name, status, title = "NonexistentTenant", 404, "Nonexistent tenant"


class OperationNotSupported(NgsiError):
    type_name, status, title = "OperationNotSupported", 422, "Operation not supported"


class ResourceNotFound(NgsiError):
    type_name, status, title = "ResourceNotFound", 404, "Resource not found"


class TooComplexQuery(NgsiError):
    type_name, status, title = "TooComplexQuery", 403, "Too complex query"


class TooManyResults(NgsiError):
    type_name, status, title = "TooManyResults", 403, "Too many results"


class HttpStatusOnly(Exception):
    """A status answered with no body (411, 415) as clause 6.3.4 requires."""

    def __init__(self, status: int, body: Any = None):
        super().__init__(status)
        self.status = status
        self.body = body
