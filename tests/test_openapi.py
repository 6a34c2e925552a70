"""The API described: ``/api/v1/openapi.json`` is valid OpenAPI 3.1 generated from the views,
covers every registered ``/api/v1`` route, and the docs page (our own swagger-ui) loads
nothing from another host."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.test_browser import CHROMIUM, VENDOR, Watcher, browser  # noqa: F401  (fixture)
from tests.waits import HANG_MS
from web import create_app
from web.api import _openapi_path, endpoints, openapi_document  # noqa: F401  (endpoints: every operation registered)

# The document and its docs page describe the API; they are not part of it.
SELF_DESCRIBING = {"/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture
def app(empty_db_url):
    return create_app({"DATABASE_URL": empty_db_url})


def test_openapi_document_is_valid_openapi_3_1(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises OpenAPIValidationError naming the offending part


def test_the_validator_would_catch_a_broken_document():
    doc = openapi_document()
    broken = dict(doc, paths={"/api/v1/x": {"get": {"responses": "not a mapping"}}})
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_api_route_is_in_the_document_with_its_methods(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in SELF_DESCRIBING:
            continue
        path = _openapi_path(rule.rule[len("/api/v1"):])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []


def test_intake_operations_are_described_with_bodies_errors_and_the_idempotency_header(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    post = doc["paths"]["/api/v1/cases"]["post"]
    content = post["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert {"201", "400", "409", "413", "422"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    schemas = doc["components"]["schemas"]
    case_in = schemas["CaseIn"]
    assert {"category", "description", "channel"} <= set(case_in["required"])
    channel = case_in["properties"]["channel"]
    assert set(channel["enum"]) == {"patrol", "resident", "hotline", "app", "sensor", "referral"}
    assert "CaseOut" in schemas and "deadlines" in schemas["CaseOut"]["properties"]
    assert "/api/v1/categories" in doc["paths"]
    assert "patch" in doc["paths"]["/api/v1/people/{person_id}"]


def test_every_operation_with_a_body_documents_its_refusals():
    # the fuzzer found bodiless POSTs answered 400 and list bodies 422 where only the view's
    # own errors were listed: the request's checks (web/api/__init__.py) answer them for every
    # operation with a body, so every such operation lists them
    doc = openapi_document()
    missing = [f"{method.upper()} {path} {status}"
               for path, ops in doc["paths"].items() for method, op in ops.items()
               if "requestBody" in op for status in ("400", "413", "422")
               if status not in op["responses"]]
    assert missing == []


def test_every_link_names_an_operation_of_the_document_and_its_parameters():
    # the links tell a client (and the fuzzer's chained calls) where an answer's values go:
    # a draft's revision into the If-Match of the operations that change it
    doc = openapi_document()
    by_id = {op["operationId"]: op for ops in doc["paths"].values() for op in ops.values()}
    links = [link for ops in doc["paths"].values() for op in ops.values()
             for answer in op["responses"].values() for link in answer.get("links", {}).values()]
    assert len(links) >= 3
    for link in links:
        target = by_id[link["operationId"]]
        names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])} | {
            p["name"] for p in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, (link, sorted(names))
        # a header is text: a bare expression would hand on a number (a draft's revision) that
        # the client cannot send (the fuzzer's chained calls stopped at it); embedded, it is text
        for name, value in link["parameters"].items():
            if name.startswith("header."):
                assert not value.startswith("$") and "{$" in value, (name, value)


def test_answers_that_are_not_json_are_documented_in_their_media_types():
    doc = openapi_document()

    def media(path, status="200", method="get"):
        return set(doc["paths"][path][method]["responses"][status].get("content", {}))

    assert media("/api/v1/stats/villages") == {"application/json", "text/csv"}
    assert media("/api/v1/compliance") == {"application/json", "text/csv"}
    assert media("/api/v1/emergencies/{emergency_id}/export.csv") == {"text/csv"}
    assert media("/api/v1/public/photos/{photo_id}") == {"image/jpeg", "image/png", "image/webp"}
    # and every JSON answer has a schema: only the stream, the photos, the CSVs and the
    # empty 204 have none in JSON
    without = sorted(f"{method.upper()} {path} {status}"
                     for path, ops in doc["paths"].items() for method, op in ops.items()
                     for status, answer in op["responses"].items()
                     if "application/json" not in answer.get("content", {}))
    assert without == [
        "DELETE /api/v1/drafts/{draft_id} 204",
        "GET /api/v1/cases/{case_id}/photos/{photo_id} 200",
        "GET /api/v1/emergencies/{emergency_id}/export.csv 200",
        "GET /api/v1/public/photos/{photo_id} 200",
        "GET /api/v1/stream 200",
    ]


@pytest.fixture
def docs_server(app, app_server) -> str:
    if not (VENDOR / "swagger-ui" / "swagger-ui-bundle.js").is_file():
        pytest.fail(f"{VENDOR} has no swagger-ui: run `make assets`")
    return app_server(app).base


def test_docs_page_renders_the_operations_and_loads_nothing_from_another_host(browser, docs_server):  # noqa: F811
    page = browser.new_page()
    watcher = Watcher(page)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{docs_server}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=HANG_MS)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/cases" in p for p in paths)
    assert any("/api/v1/categories" in p for p in paths)
    page.close()
    hosts = {urlparse(u).netloc for u in watcher.requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlparse(docs_server).netloc}, watcher.requests
    assert failed == []
    # Chromium asks for /favicon.ico on its own (not a page request, so not in `failed`); the
    # docs template has no empty icon link yet, so that one 404 is expected
    assert [e for e in watcher.errors if "404 (NOT FOUND)" not in e] == []


def test_docs_page_draws_the_workflow_from_its_data(browser, docs_server, artifacts_dir):  # noqa: F811
    from cases.workflow import ACTIONS

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    watcher = Watcher(page)
    page.goto(f"{docs_server}/api/v1/docs")
    page.wait_for_function("() => document.body.dataset.diagram", timeout=HANG_MS)
    assert page.evaluate("document.body.dataset.diagram") == "drawn", watcher.errors
    drawn = page.locator("#workflow-diagram svg")
    assert drawn.count() == 1
    labels = drawn.text_content()
    for state in ("collected", "dispatched", "handling", "escalated", "parked", "voided"):
        assert state in labels
    assert "accept" in labels and "feed_back" in labels
    rows = page.locator(".workflow-actions tbody tr")
    assert rows.count() == len(ACTIONS)
    assert page.locator('.workflow-actions tr[data-action="dispatch"]').inner_text().count("派遣") == 1
    page.screenshot(path=str(artifacts_dir / "api-docs-workflow.png"))
    page.close()
    hosts = {urlparse(u).netloc for u in watcher.requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlparse(docs_server).netloc}, watcher.requests


def test_two_different_models_of_one_name_are_refused():
    from web.api import _add_component

    components: dict = {"GeocodeOut": {"type": "object", "required": ["input_crs"]}}
    _add_component(components, "GeocodeOut", {"type": "object", "required": ["input_crs"]})  # the same: fine
    with pytest.raises(RuntimeError, match="GeocodeOut"):
        _add_component(components, "GeocodeOut", {"type": "object", "required": ["crs"]})


# The answers' parts the document leaves an open object, each with why. Everything else an
# answer or a body holds is described, so the fuzzer (tests/test_fuzz_api.py) and
# tests/openapi_support.py check it.
LOOSE = {
    # an event's data differs by event type and by version of the code that wrote it (the
    # log is append-only: old events keep old shapes); cases/workflow.py and cases/intake.py
    # write a dozen kinds, and no one schema per type is kept anywhere to describe it from
    "/components/schemas/EventOut/properties/data/anyOf[0]",
    # the same event data, as the action just wrote it (cases/transitions.py)
    "/components/schemas/TransitionEventOut/properties/data/anyOf[0]",
}


def _open_objects(node, path: str = "") -> list[str]:
    """Where ``node`` (a JSON schema, or a document holding them) has an object schema that
    names no properties and leaves its values untyped."""
    found = []
    if isinstance(node, dict):
        kinds = node.get("type")
        is_object = kinds == "object" or (isinstance(kinds, list) and "object" in kinds)
        if (is_object and not node.get("properties")
                and node.get("additionalProperties") in (None, True, {})):
            found.append(path)
        for key, value in node.items():
            found += _open_objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _open_objects(value, f"{path}[{i}]")
    return found


def test_every_object_in_the_document_says_what_it_holds(app):
    # a bare {"type": "object"} (from a `dict` annotation) matches any object: the fuzzer
    # checks nothing inside it. A new one is typed, or added to LOOSE with its reason; one
    # typed since is taken off LOOSE
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert sorted(_open_objects(doc)) == sorted(LOOSE)


def test_the_open_object_check_finds_a_bare_object():
    schema = {"properties": {"a": {"type": "object"}, "b": {"type": ["object", "null"]},
                             "c": {"type": "object", "additionalProperties": {"type": "integer"}},
                             "d": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    assert _open_objects(schema) == ["/properties/a", "/properties/b"]
