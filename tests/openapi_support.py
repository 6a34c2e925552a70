"""An answer checked against ``/api/v1/openapi.json``, for the regular tests of a view: the
status is one the document lists for the operation, the content type one it lists for that
status, and the body matches its schema. The same checks the fuzzer makes
(tests/test_fuzz_api.py), on an answer a test chose with care (a signed feed event, a CSV).
"""

from __future__ import annotations

from functools import cache

import schemathesis

from web.api import endpoints, openapi_document  # noqa: F401  (endpoints: every operation)


@cache
def _schema():
    return schemathesis.openapi.from_dict(openapi_document())


def assert_documented(method: str, path: str, response) -> None:
    """``response`` (a Flask test client's or requests') answers ``method path`` (the path as
    the document names it, ``/api/v1/cases/{case_id}``) as documented; AssertionError or
    schemathesis' FailureGroup naming what differs."""
    doc = openapi_document()
    declared = doc["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method} {path} answered {status}, documented: {sorted(declared)}"
    content = declared[status].get("content", {})
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    if content or kind:
        assert kind in content, f"{method} {path} {status} answered {kind!r}, documented: {sorted(content)}"
    _schema()[path][method.upper()].validate_response(response)
