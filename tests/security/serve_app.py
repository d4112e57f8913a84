"""A tiny Gradio app behind ``dashboard.web.create_server``, run as a real process by the tests.

``python -m tests.security.serve_app --port P --data-dir D``: opens the SQLite store in D and
serves a Blocks with one text box and buttons whose handlers use the request's identity, a File
output, a private download link, an upload, a slow event, a slow job that stores its result, a
review decision and the chain's length. With ``--dashboard`` it serves the real dashboard
instead, on a tiny model, for the bounded-input tests. Settings come from the environment.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gradio as gr

from dashboard.web import NotSignedInError, current_user, offer
from dashboard.web.cache import prepare_file_cache
from dashboard.web.launch import serve
from dashboard.web.server import create_server
from dashboard.web.settings import settings as web_settings
from dashboard.web.uploads import take_upload, uploaded_file
from storage import Store


def build_blocks(cache: Path, store: Store) -> gr.Blocks:
    """One text box, a name-and-role button, a File output, a download link, an upload, a slow
    event, a reviewer's decision and the audit chain's length as this process sees it."""

    def whoami(note: str, request: gr.Request) -> str:
        try:
            user = current_user(request)
        except NotSignedInError as error:
            raise gr.Error(str(error)) from None
        return f"{user.name}:{user.role}:{note}"

    def make_file(request: gr.Request) -> str:
        user = current_user(request)
        path = Path(tempfile.mkdtemp()) / "result.txt"  # Gradio copies it into its cache
        path.write_text(f"made for {user.name}")
        return str(path)

    def offer_link(request: gr.Request) -> str:
        user = current_user(request)
        return offer(request, f"vector bytes for {user.name}".encode(), "vector.safetensors")

    def upload_size(file: str | None, request: gr.Request) -> str:
        current_user(request)
        if file is None:
            return "no file"
        return str(len(take_upload(file, cache)))

    def slow(seconds: float, request: gr.Request) -> str:
        user = current_user(request)
        time.sleep(min(float(seconds), 10.0))
        return f"{user.name} waited"

    def slow_job(seconds: float, request: gr.Request) -> str:
        # A heavy job in miniature: works, then stores its result (an audit event) as its user.
        user = current_user(request)
        time.sleep(min(float(seconds), 10.0))
        store.record_event(user.name, "test.job_done", "test", user.name, {"s": float(seconds)})
        return f"{user.name} stored"

    def decide(submission_id: float, decision: str, request: gr.Request) -> str:
        user = current_user(request)
        submission = store.get_submission(int(submission_id))
        comment = f"{decision} while the CLI writes"
        return store.review(submission.id, decision, comment, user.name, submission.version).status

    def chain_length(request: gr.Request) -> int:
        current_user(request)
        return store.verify().count

    with gr.Blocks() as blocks:
        note = gr.Textbox(label="note")
        answer = gr.Textbox(label="answer")
        produced = gr.File(label="produced")
        upload = uploaded_file(label="upload")
        gr.Button("who am I").click(whoami, note, answer, api_name="whoami")
        gr.Button("make file").click(make_file, None, produced, api_name="make_file")
        gr.Button("offer").click(offer_link, None, answer, api_name="offer_link")
        gr.Button("size").click(upload_size, upload, answer, api_name="upload_size")
        seconds = gr.Number(label="seconds")
        gr.Button("slow").click(slow, seconds, answer, api_name="slow")
        gr.Button("job").click(slow_job, seconds, answer, api_name="slow_job")
        decision = gr.Textbox(label="decision")
        gr.Button("decide").click(decide, [seconds, decision], answer, api_name="decide")
        length = gr.Number(label="events")
        gr.Button("chain").click(chain_length, None, length, api_name="chain_length")
    return blocks


def dashboard_blocks(store: Store, data_dir: Path, slow_s: float = 0.0) -> tuple[gr.Blocks, object]:
    """The real dashboard, on a tiny randomly initialised model (loaded here, in-process);
    ``slow_s`` makes each of its forward passes wait that long, so a job lasts a while."""
    from dashboard.context import AppContext
    from dashboard.ui import build_ui
    from tests.tiny import make_tiny

    ctx = AppContext(store=store, default_model="tiny", export_dir=data_dir / "exports")
    tiny = make_tiny("llama")
    if slow_s > 0:
        # Every pass of the model runs its first block (the model itself may not be called).
        tiny.model.model.layers[0].register_forward_pre_hook(lambda *_: time.sleep(slow_s))
    ctx.models["tiny"] = tiny
    return build_ui(ctx), ctx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument(
        "--dashboard", action="store_true", help="serve the real dashboard on a tiny model"
    )
    parser.add_argument(
        "--slow-model",
        type=float,
        default=0.0,
        help="seconds the tiny model waits in each forward pass (a job that lasts a while)",
    )
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    store = Store.open(None, data_dir)
    cache = prepare_file_cache(data_dir)
    if args.dashboard:
        store.interrupt_open_jobs()  # as app.py does at start-up
        blocks, owner = dashboard_blocks(store, data_dir, args.slow_model)
    else:
        blocks, owner = build_blocks(cache, store), store
    web = web_settings()
    app = create_server(owner, blocks, data_dir=data_dir, settings=web)
    serve(app, host="127.0.0.1", port=args.port, settings=web)  # as app.py starts it


if __name__ == "__main__":
    main()
