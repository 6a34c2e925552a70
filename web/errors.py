"""One table from error class to HTTP status; every error answers JSON, never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from sqlalchemy.exc import OperationalError

from db.cluster import ClusterError
from db.migrate import SchemaOutOfDate


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details=None, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status


STATUS_FOR = {
    SchemaOutOfDate: (503, "schema_out_of_date"),
    ClusterError: (503, "database_unavailable"),
    OperationalError: (503, "database_unavailable"),
}


def error_response(status: int, code: str, message: str, details=None):
    body = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(body), status


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    for cls, (status, code) in STATUS_FOR.items():
        # first line only: a driver's message can carry the statement and parameters
        app.register_error_handler(
            cls, lambda exc, s=status, c=code: error_response(s, c, str(exc).splitlines()[0])
        )
