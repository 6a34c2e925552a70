"""A report with a photo when the disk the photos are written to is full (issue 13, item 5;
README, "Faults"): 507 ``insufficient_storage`` with a clear message, and no case — the case,
its first event and its photos are one transaction, so the case is not kept without the photo.

Photos are stored in the database (``case_photos.data``, TOASTed out of line), so the full disk
is PostgreSQL's: the test puts ``case_photos`` in a tablespace on a 64 kB tmpfs of its own
(``mount -t tmpfs``, as root: `make test` runs as root; elsewhere the test is skipped, saying
so) in a cluster of its own, and a photo of 200 kB cannot be written there. The rest of the
database keeps its disk: a report without photos is still taken.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest

from tests.fault_support import case_body, leaf_points, multipart, own_cluster, query, small_town
from tests.waits import HANG_S

TMPFS_SIZE = "64k"
PHOTO = b"\x89PNG\r\n\x1a\n" + os.urandom(200 * 1024)  # incompressible: TOASTed as it is


@pytest.fixture
def full_photo_disk(tmp_path, cli):
    """A small town in a cluster of its own whose case_photos live on a 64 kB tmpfs; its URL."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root (make test runs as root)")
    cluster = own_cluster(tmp_path / "pg")
    # beside the cluster's data: a directory its server's user can reach (db/cluster.py)
    mount = cluster.root.resolve() / "photos-disk"
    mount.mkdir()
    mounted = False
    try:
        url = small_town(cluster, cli, tmp_path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs",
                        str(mount)], check=True, capture_output=True)
        mounted = True
        user = cluster._run_user()
        if user:
            shutil.chown(mount, user=user)
        # only a superuser may create a tablespace; the table moves with its TOAST table
        with psycopg.connect(psycopg.conninfo.make_conninfo(
                cluster.admin_url("gridgov").replace("postgresql+psycopg", "postgresql")),
                autocommit=True) as admin:
            admin.execute(f"CREATE TABLESPACE photos_disk LOCATION '{mount}'")
            admin.execute("ALTER TABLE case_photos SET TABLESPACE photos_disk")
        yield url
    finally:
        cluster.stop()
        if mounted:
            subprocess.run(["umount", str(mount)], check=True)
        cluster.destroy()


def _post(base: str, body: bytes, content_type: str, key: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(base + "/api/v1/cases", data=body, headers={
        "Content-Type": content_type, "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=HANG_S) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, dict(refused.headers), json.loads(refused.read())


def test_a_photo_on_a_full_disk_is_507_and_leaves_no_case(full_photo_disk, gridgov_server):
    url = full_photo_disk
    base = gridgov_server(url).base
    point = leaf_points(url)[0]
    key = str(uuid.uuid4())
    body, content_type = multipart(case_body(*point), [PHOTO])
    for _attempt in range(2):  # and again with the same key: still no room, still no case
        status, headers, answer = _post(base, body, content_type, key)
        assert status == 507, answer
        assert answer["error"] == "insufficient_storage"
        assert "storage is full" in answer["message"]
        assert "nothing of this request was saved" in answer["message"]
        assert "No space left" not in answer["message"] and "photos_disk" not in answer["message"]
        assert int(headers["Retry-After"]) > 0
    assert query(url, "SELECT count(*) FROM cases") == [(0,)]
    assert query(url, "SELECT count(*) FROM case_events") == [(0,)]
    assert query(url, "SELECT count(*) FROM case_photos") == [(0,)]

    # the disk of everything else has room: a report without photos is taken
    status, _headers, answer = _post(base, json.dumps(case_body(*point)).encode(),
                                     "application/json", str(uuid.uuid4()))
    assert status == 201, answer
    assert query(url, "SELECT count(*) FROM cases") == [(1,)]
