"""Compressed answers (Flask-Compress): pages, JSON and assets when the client accepts them,
never the live stream — against the demo database."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.accounts_support import operator_client

BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends


@pytest.fixture
def client(demo_db_url):
    return operator_client({"DATABASE_URL": demo_db_url})


def _gunzip(response) -> bytes:
    assert response.headers["Content-Encoding"] == "gzip"
    return gzip.decompress(response.data)


def test_json_is_compressed_only_for_a_client_that_asks(client):
    plain = client.get("/api/v1/categories")
    packed = client.get("/api/v1/categories", headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert json.loads(_gunzip(packed)) == plain.get_json()
    assert len(packed.data) < len(plain.data) / 3
    assert "Accept-Encoding" in packed.headers["Vary"]


def _without_nonce(html: bytes) -> bytes:
    return re.sub(rb'nonce="[^"]+"', b'nonce=""', html)


def test_the_operator_page_goes_out_compressed_with_the_best_coding_the_browser_takes(client):
    plain = client.get("/")
    packed = client.get("/", headers={"Accept-Encoding": BROWSER})
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["Content-Encoding"] in ("zstd", "br")
    assert len(packed.data) < len(plain.data) / 3
    as_gzip = client.get("/", headers={"Accept-Encoding": "gzip"})
    # each answer has its own script nonce (web/security.py): the rest is the same page
    assert _without_nonce(_gunzip(as_gzip)) == _without_nonce(plain.data)


def test_a_vendored_script_is_compressed_and_still_revalidates(client):
    url = "/static/vendor/leaflet/leaflet.js"
    with client.get(url) as plain, client.get(url, headers={"Accept-Encoding": "gzip"}) as packed:
        assert plain.status_code == packed.status_code == 200
        assert _gunzip(packed) == plain.data
        assert len(packed.data) < len(plain.data) / 2
        etag = packed.headers["ETag"]
    with client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_the_live_stream_is_never_compressed(client):
    # a compressor would hold the events back until its buffer fills
    response = client.get("/api/v1/stream", headers={"Accept-Encoding": BROWSER}, buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert "Content-Encoding" not in response.headers
        first = next(response.response)
        assert b"retry:" in first  # plain text: the stream's first lines, readable as sent
    finally:
        response.close()
