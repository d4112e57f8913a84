"""Start the control-vector lab dashboard: ``python app.py [--host H] [--port P] [--db URL]``.

Options fall back to environment variables (``STEERING_HOST``, ``STEERING_PORT``, ``DATABASE_URL``,
``STEERING_DATA_DIR``, ``STEERING_MODEL``). Every package's settings are read first
(:func:`read_settings`): each bad variable is printed as one ``error:`` line and the process exits
with status 2 before the store opens or a model loads. The UI lives in the ``dashboard`` package;
this file only parses options, opens the store, sets up demo accounts on a first local run, and
serves the dashboard behind the sign-in page (:mod:`dashboard.web`).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboard.api.settings import ApiSettings
from dashboard.api.settings import settings as api_settings
from dashboard.web.errors import SettingsError as WebSettingsError
from dashboard.web.settings import WebSettings
from dashboard.web.settings import settings as web_settings
from steering.settings import DTYPES, SteeringSettings
from steering.settings import SettingsError as EngineSettingsError
from steering.settings import settings as engine_settings
from storage.settings import StorageSettings
from storage.settings import settings as storage_settings

if TYPE_CHECKING:
    from dashboard.context import AppContext
    from storage import Store

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEMO_USERS = (("demo-builder", "builder"), ("demo-reviewer", "reviewer"))


@dataclass(frozen=True)
class AppSettings:
    """Every package's settings, read from the environment before anything else happens."""

    engine: SteeringSettings
    storage: StorageSettings
    web: WebSettings
    api: ApiSettings


def read_settings() -> tuple[AppSettings | None, list[str]]:
    """All settings, or None and every problem (one line each) when a variable is bad."""
    problems: list[str] = []
    try:
        engine = engine_settings()
    except EngineSettingsError as error:
        problems.extend(error.problems)
        engine = SteeringSettings()  # stands in so that the API's own variables are still checked
    try:
        web = web_settings()
    except WebSettingsError as error:
        problems.extend(error.problems)
        web = WebSettings()
    try:
        api = api_settings(engine=engine)
    except WebSettingsError as error:
        problems.extend(error.problems)
        api = ApiSettings()
    if problems:
        return None, problems
    return AppSettings(engine=engine, storage=storage_settings(), web=web, api=api), []


def build_parser(
    web: WebSettings | None = None, stored: StorageSettings | None = None
) -> argparse.ArgumentParser:
    """The options; their defaults come from the settings (by default this process's)."""
    web = web or web_settings()
    stored = stored or storage_settings()
    parser = argparse.ArgumentParser(description="The control-vector lab dashboard.")
    parser.add_argument(
        "--host",
        default=web.host,
        help="address to listen on (default: $STEERING_HOST, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=web.port,
        help="port (default: $STEERING_PORT, else 7860)",
    )
    parser.add_argument(
        "--db",
        default=stored.database_url,
        help="database URL (default: $DATABASE_URL, else SQLite in the data folder)",
    )
    parser.add_argument(
        "--data-dir",
        default=stored.data_dir,
        help="data folder (default: $STEERING_DATA_DIR, else ./data)",
    )
    parser.add_argument(
        "--model",
        default=web.model,
        help="model preselected and used (default: $STEERING_MODEL, else the bundled model)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="number format models are loaded in: auto (bfloat16 on CUDA and on CPUs with native "
        "bfloat16, else float32), float32 or bfloat16 (default: $STEERING_DTYPE, else auto)",
    )
    parser.add_argument(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load the model in the background at start-up (default: yes)",
    )
    return parser


def ensure_users(store: Store, host: str) -> list[tuple[str, str, str]] | None:
    """Demo accounts on a first local run: ``[(name, role, password)]``; None if users exist.

    Raises SystemExit with instructions when there are no users and the address is not local:
    generated passwords printed on a console are fine on a laptop, not on a shared server.
    """
    if store.list_users():
        return None
    if host not in LOCAL_HOSTS:
        raise SystemExit(
            f"No users exist yet, and demo accounts are only created when the app listens on "
            f"127.0.0.1 (not {host}). Add users first, e.g.:\n"
            "  python -m storage add-user NAME --role builder\n"
            "  python -m storage add-user NAME --role reviewer"
        )
    created: list[tuple[str, str, str]] = []
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        store.add_user(name, role, password)
        created.append((name, role, password))
    return created


def dashboard_context(store: Store, args: argparse.Namespace) -> AppContext:
    """The process-wide context the dashboard and the API share.

    Each model's pace is measured as it loads, so the first build or evaluation says how long it
    will take at once instead of timing the model first.
    """
    from dashboard import estimates
    from dashboard.context import AppContext

    return AppContext(
        store=store, default_model=args.model, dtype=args.dtype, after_load=estimates.pace
    )


def main(argv: Sequence[str] | None = None) -> int:
    found, problems = read_settings()
    if found is None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    args = build_parser(found.web, found.storage).parse_args(argv)

    from storage import StorageError, Store

    try:
        store = Store.open(args.db, args.data_dir)
    except StorageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # No job of this database runs before this process starts one: any still marked running
    # was cut short by the last stop, and its user's next visit says so.
    interrupted = store.interrupt_open_jobs()
    if interrupted:
        print(
            f"{len(interrupted)} job(s) cut short by the last stop marked interrupted.", flush=True
        )
    demo = ensure_users(store, args.host)
    if demo:
        print("Demo mode: no users existed, so these accounts were created:", flush=True)
        for name, role, password in demo:
            print(f"  {role:9} user: {name:14} password: {password}", flush=True)

    from dashboard.ui import build_ui, css, queue_in_lanes
    from dashboard.web.cache import prepare_file_cache
    from dashboard.web.launch import serve
    from dashboard.web.server import create_server

    # Before the Blocks is built: its components read the cache folder when created.
    prepare_file_cache(store.data_dir)
    ctx = dashboard_context(store, args)
    if args.preload:
        ctx.preload()
    blocks = queue_in_lanes(build_ui(ctx))  # heavy jobs and light events in lanes of their own
    note = (
        "Demo mode: the demo accounts and their passwords are printed in the console where the "
        "app was started."
        if demo
        else ""
    )
    server = create_server(
        ctx, blocks, data_dir=store.data_dir, settings=found.web, css=css(), login_note=note
    )
    print(f"Dashboard on http://{args.host}:{args.port} (sign in at /login)", flush=True)
    # On Ctrl-C or SIGTERM uvicorn shuts the server down, then re-raises the signal (so no
    # `finally` here would run): the server's shutdown closes the context and its temporary folder.
    server.router.add_event_handler("shutdown", ctx.close)
    # The same start as the security tests' app: forwarding headers only from trusted proxies.
    serve(server, host=args.host, port=args.port, settings=found.web)
    return 0


if __name__ == "__main__":
    sys.exit(main())
