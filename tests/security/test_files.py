"""Downloads are one-time links for one session; uploads are capped and leave nothing behind;
Gradio's file cache starts empty."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from dashboard.web.cache import cache_folder

from .conftest import BASE_ENV, make_store, start_server
from .helpers import call, signed_in


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_download_link_works_for_its_owner_only_and_once(server, lab) -> None:
    downloads = lab.data_dir / "downloads"
    with signed_in(server, "ann") as ann, signed_in(server, "bob") as bob:
        status, (link,) = call(ann, "offer_link", [])
        assert status == "complete" and link.startswith("/downloads/")
        assert "ann" not in link and all("ann" not in p.name for p in files_under(downloads))
        with server.client() as outsider:
            assert outsider.get(link).status_code == 401
        assert bob.get(link).status_code == 404  # not bob's; and ann's link is not used up
        got = ann.get(link)
        assert got.status_code == 200
        assert got.content == b"vector bytes for ann"
        assert got.headers["content-disposition"] == 'attachment; filename="vector.safetensors"'
        assert got.headers["content-type"] == "application/octet-stream"
        assert ann.get(link).status_code == 404
    assert files_under(downloads) == []


def test_download_link_from_another_session_of_the_same_user_fails(server) -> None:
    with signed_in(server, "ann") as first, signed_in(server, "ann") as second:
        _, (link,) = call(first, "offer_link", [])
        assert second.get(link).status_code == 404
        assert first.get(link).status_code == 200


def test_download_link_expires_and_its_file_goes(server, lab) -> None:
    with signed_in(server, "ann") as ann:
        _, (link,) = call(ann, "offer_link", [])
        assert len(files_under(lab.data_dir / "downloads")) == 1
        time.sleep(3.0)  # STEERING_DOWNLOAD_TTL_S=2; the sweeper runs every 0.5 s
        assert files_under(lab.data_dir / "downloads") == []
        assert ann.get(link).status_code == 404


def test_returned_files_need_a_session(server) -> None:
    with signed_in(server, "ann") as ann:
        _, (produced,) = call(ann, "make_file", [])
        url = produced["url"].removeprefix(server.url)
        assert ann.get(url).content == b"made for ann"
    with server.client() as outsider:
        assert outsider.get(url).status_code == 401


def upload(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": ("rows.csv", data, "text/csv")})


def test_anonymous_upload_is_refused_and_stores_nothing(server, lab) -> None:
    cache = cache_folder(lab.data_dir)
    before = files_under(cache)
    with server.client() as outsider:
        assert upload(outsider, b"prompt,positive\n").status_code == 401
    assert files_under(cache) == before


def test_oversized_upload_is_refused_before_it_is_stored(server, lab) -> None:
    cache = cache_folder(lab.data_dir)
    before = files_under(cache)
    with signed_in(server, "ann") as ann:
        refused = upload(ann, b"x" * (1024 * 1024 + 200 * 1024))  # limit: 1 MB
        assert refused.status_code == 413
        assert "1 MB" in refused.json()["error"]
        # Just over the file limit but within the framing allowance: Gradio's own check refuses.
        also = upload(ann, b"y" * (1024 * 1024 + 1024))
        assert also.status_code == 413

        def chunks():
            yield b"--b\r\n"

        streamed = ann.post(
            "/gradio_api/upload",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 411
    assert files_under(cache) == before


def test_processed_upload_leaves_no_file(server, lab) -> None:
    cache = cache_folder(lab.data_dir)
    before = files_under(cache)
    with signed_in(server, "ann") as ann:
        stored = upload(ann, b"a" * 1000)
        assert stored.status_code == 200
        (path,) = stored.json()
        assert Path(path).is_file()
        file_data = {"path": path, "meta": {"_type": "gradio.FileData"}}
        assert call(ann, "upload_size", [file_data]) == ("complete", ["1000"])
        assert not Path(path).exists()
        # The browser draws the upload component as an ordinary File component.
        kinds = {
            c["props"].get("label"): c["type"] for c in ann.get("/config").json()["components"]
        }
        assert kinds["upload"] == "file"
    assert files_under(cache) == before


def test_gradio_file_cache_is_empty_after_a_restart(tmp_path) -> None:
    make_store(tmp_path).close()
    first = start_server(tmp_path, BASE_ENV)
    try:
        with signed_in(first, "ann") as ann:
            assert call(ann, "make_file", [])[0] == "complete"
    finally:
        first.stop()
    cached = files_under(cache_folder(tmp_path))
    assert [p.read_bytes() for p in cached] == [b"made for ann"]
    second = start_server(tmp_path, BASE_ENV)
    try:
        assert files_under(cache_folder(tmp_path)) == []
    finally:
        second.stop()
