"""Events may name only this sign-in's own uploads (issue 19 points 1 and 9).

A signed-in builder sends upload events whose file reference names a server path: the system's
password file, the app's database and signing key, a CSV outside the upload folder, another
sign-in's upload, symlinks into the data folder, ``..`` and ``%2e`` segments, and ``file=`` URLs,
through every Gradio route that takes event data. Each gets 400 before Gradio reads or copies
anything (its cache folder is byte for byte unchanged), while the builder's own upload, named
exactly as the upload route returned it, still works once, and in the real dashboard still
previews and stores.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from dashboard.web.cache import cache_folder
from dashboard.web.event_gate import NOT_UPLOADED

from .bounded import Journey
from .conftest import BASE_ENV, Server, make_store, start_server
from .helpers import call, fn_index, join, signed_in

META = {"_type": "gradio.FileData"}
ROWS = (
    b"prompt,positive,answer\n"
    b"What is 40 plus 2? Answer with the number only.,40 + 2 = 42. The answer is 42.,42\n"
    b"What is 7 times 6? Answer with the number only.,7 * 6 = 42. The answer is 42.,42\n"
)


def file_data(path: str, **extra: object) -> dict:
    return {"path": path, "meta": META, **extra}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (symlinks as their target's name) and its bytes."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = os.readlink(path).encode()
        elif path.is_file():
            found[str(path)] = path.read_bytes()
    return found


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    response = client.post("/gradio_api/upload", files={"files": (name, data, "text/csv")})
    assert response.status_code == 200, response.text
    (path,) = response.json()
    return path


def browser_file_data(server: Server, path: str, name: str, size: int) -> dict:
    """The FileData Gradio's browser client sends after an upload (its ``url`` encoded per
    path segment, as the client writes it)."""
    encoded = "/".join(quote(part, safe="") for part in path.split("/"))
    return file_data(
        path,
        url=f"{server.url}/gradio_api/file={encoded}",
        orig_name=name,
        size=size,
        mime_type="text/csv",
        is_stream=False,
    )


@pytest.fixture
def targets(server, lab, tmp_path) -> Iterator[Callable[[str], dict[str, object]]]:
    """Attack values by name, for the sign-in whose own upload is ``own`` (set up here: a CSV
    outside the upload folder, symlinks into the data folder, another sign-in's upload)."""
    data_dir = lab.data_dir.resolve()
    cache = cache_folder(data_dir).resolve()
    secret_csv = tmp_path / "secret.csv"
    secret_csv.write_bytes(ROWS)
    link_out = tmp_path / "rows.csv"
    link_out.symlink_to(data_dir / "lab.db")
    # An insider's symlink placed inside Gradio's upload folder, pointing at the signing key.
    planted = cache / ("f" * 64)
    planted.mkdir(exist_ok=True)
    link_in = planted / "rows.csv"
    link_in.unlink(missing_ok=True)
    link_in.symlink_to(data_dir / "audit-signing.key")
    cats_rows = b"prompt,positive\ncat's row,yes\n"
    with signed_in(server, "cat") as cat:
        others = upload(cat, "cats.csv", cats_rows)

        def build(own: str) -> dict[str, object]:
            own_dir = Path(own).parent
            return {
                "/etc/passwd": file_data("/etc/passwd"),
                "the database": file_data(str(data_dir / "lab.db")),
                "the database's WAL": file_data(str(data_dir / "lab.db-wal")),
                "the signing key": file_data(str(data_dir / "audit-signing.key")),
                "the checkpoint log": file_data(str(data_dir / "checkpoints.jsonl")),
                "a csv outside the upload folder": file_data(str(secret_csv)),
                "another sign-in's upload": file_data(others),
                "a symlink into the data folder": file_data(str(link_out)),
                "a symlink planted in the upload folder": file_data(str(link_in)),
                "'..' out of the own upload's folder": file_data(f"{own_dir}/../../lab.db"),
                "'..' back to the own upload": file_data(f"{own_dir}/../{own_dir.name}/rows.csv"),
                "a relative path": file_data("lab.db"),
                "'%2e' segments in the path": file_data(f"{cache}/%2e%2e/lab.db"),
                "'%2e' segments in the url": file_data(
                    own, url=f"{server.url}/gradio_api/file={cache}/%2e%2e/lab.db"
                ),
                "the own upload with a url to /etc/passwd": file_data(
                    own, url="/gradio_api/file=/etc/passwd"
                ),
                "a file= url as plain text": "/gradio_api/file=/etc/passwd",
                "an http url as the path": file_data(f"{server.url}/gradio_api/file={own}"),
                "a FileData without a path": {"meta": META, "orig_name": "rows.csv"},
                "a nested reference": {"files": [[file_data("/etc/passwd")]]},
            }

        yield build
        # cat's upload was never consumed by the attacks: cat can still use it.
        assert call(cat, "upload_size", [file_data(others)]) == ("complete", [str(len(cats_rows))])
    link_in.unlink()
    planted.rmdir()


def send_event(server: Server, client: httpx.Client, route: str, value: object) -> httpx.Response:
    """One upload event carrying ``value`` as its file, through ``route``."""
    if route == "queue/join":
        body = {
            "data": [value],
            "fn_index": fn_index(client, "upload_size"),
            "session_hash": uuid.uuid4().hex,
        }
    elif route == "call/v2/upload_size":
        body = {"file": value}
    elif route == "component_server":
        body = {"session_hash": uuid.uuid4().hex, "component_id": 1, "fn_name": "x", "data": value}
    else:
        body = {"data": [value]}
    return client.post(f"/gradio_api/{route}", json=body)


EVENT_ROUTES = [
    "queue/join",
    "call/upload_size",
    "call/v2/upload_size",
    "run/upload_size",
    "api/upload_size",
    "stream/some-event-id",
    "component_server",
]


@pytest.mark.parametrize("route", EVENT_ROUTES)
def test_an_event_naming_a_file_it_did_not_upload_gets_400_and_nothing_is_cached(
    server, lab, targets, route
) -> None:
    cache = cache_folder(lab.data_dir)
    database = (lab.data_dir / "lab.db").read_bytes()[:100]
    with signed_in(server, "ann") as ann:
        own = upload(ann, "rows.csv", ROWS)
        before = snapshot(cache)
        for name, value in targets(own).items():
            refused = send_event(server, ann, route, value)
            assert refused.status_code == 400, (name, refused.status_code, refused.text[:300])
            assert refused.json() == {"error": NOT_UPLOADED}, name
            assert snapshot(cache) == before, f"{name}: Gradio's cache changed"
        # None of the refusals used up the builder's own upload, and it still works once.
        assert call(ann, "upload_size", [file_data(own)]) == ("complete", [str(len(ROWS))])
        assert not Path(own).exists()
        again = send_event(server, ann, route, file_data(own))
        assert again.status_code == 400 and again.json() == {"error": NOT_UPLOADED}
    assert (lab.data_dir / "lab.db").read_bytes()[:100] == database


def test_the_own_upload_works_as_the_browser_sends_it(server) -> None:
    with signed_in(server, "ann") as ann:
        own = upload(ann, "my rows.csv", ROWS)  # a space: the browser's url encodes it
        value = browser_file_data(server, own, "my rows.csv", len(ROWS))
        index = fn_index(ann, "upload_size")
        assert join(ann, index, [value], uuid.uuid4().hex) == (200, [str(len(ROWS))])


def test_an_upload_belongs_to_its_sign_in_not_to_its_user(server) -> None:
    with signed_in(server, "ann") as first, signed_in(server, "ann") as second:
        own = upload(first, "rows.csv", ROWS)
        assert call(second, "upload_size", [file_data(own)]) == ("refused", 400)
        assert call(first, "upload_size", [file_data(own)]) == ("complete", [str(len(ROWS))])


def test_a_refused_event_leaves_the_upload_unused(server) -> None:
    with signed_in(server, "ann") as ann:
        own = upload(ann, "rows.csv", ROWS)
        # Accepted by the gate, refused by Gradio (no session hash): the upload is not used up.
        body = {"data": [file_data(own)], "fn_index": fn_index(ann, "upload_size")}
        refused = ann.post("/gradio_api/queue/join", json=body)
        assert refused.status_code == 400 and "Session hash not found" in refused.text
        assert call(ann, "upload_size", [file_data(own)]) == ("complete", [str(len(ROWS))])


def test_event_bodies_that_cannot_be_inspected_are_refused(server) -> None:
    with signed_in(server, "ann") as ann:
        not_json = ann.post(
            "/gradio_api/queue/join",
            content=b"data=/etc/passwd",
            headers={"content-type": "application/json"},
        )
        assert not_json.status_code == 400
        multipart = ann.post(
            "/gradio_api/component_server",
            files={"files": ("x.csv", b"a")},
            data={"session_hash": "h", "component_id": "1", "fn_name": "x"},
        )
        assert multipart.status_code == 400


# --- the real dashboard: the Examples tab's upload event ----------------------------------


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("dashboard-files")
    make_store(data_dir).close()
    running = start_server(data_dir, BASE_ENV, "--dashboard")
    yield running
    running.stop()


def example_sets_of(data_dir: Path, user: str) -> list[str]:
    from storage import Store

    with Store.open(None, data_dir) as store:
        return [s.name for s in store.list_example_sets() if s.created_by == user]


def test_the_examples_tab_previews_and_stores_only_the_own_upload(dashboard, tmp_path) -> None:
    data_dir = dashboard.data_dir.resolve()
    cache = cache_folder(data_dir)
    outside = tmp_path / "secret.csv"
    outside.write_bytes(ROWS)
    with signed_in(dashboard, "ann") as client:
        journey = Journey(client)
        before = snapshot(cache)
        for path in (
            "/etc/passwd",
            str(data_dir / "lab.db"),
            str(data_dir / "audit-signing.key"),
            str(outside),
        ):
            refused = journey.event("do_upload", upload_examples=file_data(path))
            assert refused.status == 400, (path, refused.text)
            assert "secret" not in refused.text and "42" not in refused.text
            assert snapshot(cache) == before, path
        assert example_sets_of(data_dir, "ann") == []
        shown = journey.examples("rows.csv", ROWS)
    assert shown.status == 200
    assert "What is 7 times 6?" in shown.text and "2 rows" in shown.text, shown.text[:500]
    assert example_sets_of(data_dir, "ann") == ["rows"]
    assert snapshot(cache) == before  # the upload was read, then deleted
