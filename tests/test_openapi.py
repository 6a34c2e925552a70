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
from web.api import _openapi_path, openapi_document

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
    page.wait_for_function("document.body.dataset.diagram", timeout=HANG_MS)
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
