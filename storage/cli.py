"""Command line for operators: users, migrations, keys, checkpoints, verifying and exporting.

Exit codes: 0 success; 1 the audit trail is damaged (``verify``: the first bad event and the kind
of damage are named); 2 a user error (bad input, unreachable database, a missing or wrong key...),
reported as one line on stderr without a traceback. Changes made here are audited as ``system``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence

from .errors import StorageError
from .integrity import RECORD_MISMATCH
from .migrate import current_revision
from .settings import settings
from .store import Store
from .users import SYSTEM_ACTOR
from .workflow import ROLES


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help="database URL (default: $DATABASE_URL, else the SQLite file in the data folder)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="data folder (default: $STEERING_DATA_DIR, else ./data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storage", description="Manage the control-vector lab's store."
    )
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("add-user", help="create a user (password from $STEERING_PASSWORD or asked)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    _common(p, suppress=True)

    p = sub.add_parser("users", help="list users")
    _common(p, suppress=True)

    for command, text in (
        ("deactivate-user", "deactivate an account (users are never deleted)"),
        ("reactivate-user", "reactivate a deactivated account"),
        (
            "reset-password",
            "set a new password ($STEERING_PASSWORD or asked); the user's signed-in sessions end",
        ),
    ):
        p = sub.add_parser(command, help=text)
        p.add_argument("name")
        _common(p, suppress=True)

    p = sub.add_parser(
        "verify",
        help="check hash links, signatures, checkpoints and the rows the chain describes; exit "
        "1 on damage, 2 on a key problem",
    )
    p.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="checkpoints copied from reports or exports, checked one by one instead of this "
        "store's log (default: the store's log, which must also be complete and linked)",
    )
    p.add_argument(
        "--witness",
        metavar="FILE",
        help="a copy of the checkpoint witness (or of the log), checked as a whole log "
        "(default: $STEERING_CHECKPOINT_WITNESS when set)",
    )
    p.add_argument(
        "--public-key",
        metavar="FILE",
        help="a keyring or PEM public key (default: the keyring next to the signing key)",
    )
    _common(p, suppress=True)

    p = sub.add_parser("checkpoint", help="sign the current head, append it to the log, print it")
    _common(p, suppress=True)

    p = sub.add_parser("rotate-key", help="sign from the next event on with a new key")
    _common(p, suppress=True)

    p = sub.add_parser("export-audit", help="export the audit trail")
    p.add_argument("--format", required=True, choices=("csv", "json"))
    p.add_argument("--out", required=True, metavar="FILE")
    _common(p, suppress=True)

    p = sub.add_parser(
        "migrate", help="bring the schema up to date and sign an audit trail from before signing"
    )
    p.add_argument(
        "--accept-broken-chain",
        action="store_true",
        help="sign an old chain even though it is broken (recorded as chain.accepted_broken)",
    )
    _common(p, suppress=True)
    _api_commands(sub)
    return parser


def _submission_ids(text: str) -> list[int]:
    """``3,7`` -> [3, 7]; argparse reports a ValueError as a usage error (exit 2)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of submission ids; write e.g. --submissions 3,7"
        ) from None


def _api_commands(sub: argparse._SubParsersAction) -> None:
    """The serving API's keys and switches (see storage/api_keys.py)."""
    p = sub.add_parser("add-api-key", help="create an API key and print it once on stdout")
    p.add_argument("name", help="a label for the caller (a team or service), not a user")
    p.add_argument(
        "--submissions",
        type=_submission_ids,
        metavar="ID,...",
        help="limit the key to these approved submissions (default: any approved one)",
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help="the key may also read GET /metrics (it stays an ordinary key for /v1)",
    )
    _common(p, suppress=True)

    p = sub.add_parser("revoke-api-key", help="revoke an API key (its next request gets 401)")
    p.add_argument("name")
    _common(p, suppress=True)

    p = sub.add_parser("api-keys", help="list API keys and their total usage")
    _common(p, suppress=True)

    for command, text in (
        ("steering-off", "refuse every steered API request (503); unsteered ones still work"),
        ("steering-on", "serve approved submissions through the API again"),
    ):
        p = sub.add_parser(command, help=text)
        _common(p, suppress=True)

    p = sub.add_parser("api-sampling", help="keep API prompts and answers (on) or not (off)")
    p.add_argument("state", choices=("on", "off"))
    _common(p, suppress=True)


def _read_password() -> str:
    from_env = settings().password
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise StorageError(
            "No password given: set STEERING_PASSWORD or run the command in a terminal."
        )
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Repeat password: ")
    if first != second:
        raise StorageError("The two passwords do not match; nothing was changed.")
    return first


def _add_user(args: argparse.Namespace) -> int:
    password = _read_password()
    with Store.open(args.db, args.data_dir) as store:
        user = store.add_user(args.name, args.role, password)
    print(f"added user {user.name} ({user.role})")
    return 0


def _users(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir, signing=False) as store:
        users = store.list_users()
    if not users:
        print("no users yet: add one with 'python -m storage add-user NAME --role admin'")
    width = max([len(u.name) for u in users] + [4])
    for u in users:
        state = "active" if u.active else "deactivated"
        created = u.created_at.strftime("%Y-%m-%d %H:%M UTC")
        print(f"{u.name:<{width}}  {u.role:<8}  {state:<11}  {created}")
    return 0


def _set_active(args: argparse.Namespace) -> int:
    active = args.command == "reactivate-user"
    with Store.open(args.db, args.data_dir) as store:
        user = store.set_user_active(args.name, active, SYSTEM_ACTOR)
    print(f"{user.name} is {'active' if user.active else 'deactivated'}")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    password = _read_password()
    with Store.open(args.db, args.data_dir) as store:
        user = store.reset_password(args.name, password, SYSTEM_ACTOR)
    print(f"password of {user.name} reset")
    return 0


def _verify(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir, signing=False) as store:
        result = store.verify(args.checkpoints, args.public_key, args.witness)
    if not result.ok and result.reason == RECORD_MISMATCH:
        print(f"stored records BROKEN: {result.message}")
        print(f"the audit chain itself holds: {result.count} events intact.")
        return 1
    if not result.ok:
        print(
            f"audit chain BROKEN at event {result.first_broken_seq} ({result.reason}): "
            f"{result.message}"
        )
        print(f"{result.count} events before it are intact.")
        return 1
    print(result.message)
    print(f"head hash: {result.head_hash}")
    latest = result.latest_checkpoint
    if latest is not None:
        print(f"latest checkpoint: {latest.to_line()}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir) as store:
        print(store.checkpoint().to_line())
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    # signing=False: the old key may be lost, which is exactly when this command is needed.
    with Store.open(args.db, args.data_dir, signing=False) as store:
        old, new = store.rotate_key(SYSTEM_ACTOR)
        where = store.key_paths
    print(f"audit signing key rotated: {old} -> {new}")
    print(f"new private key: {where.private}; keyring (all public keys): {where.keyring}")
    return 0


def _export_audit(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir) as store:
        exported = store.export_audit(args.format, args.out)
    print(f"exported {exported.count} events to {exported.path} (sha256 {exported.sha256})")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir, signing=False) as store:
        print(f"database schema is at revision {current_revision(store.engine)}")
        signed = store.migrate_chain(accept_broken=args.accept_broken_chain)
    if signed:
        print(f"signed the {signed} events of the existing audit trail (chain.signed recorded)")
    else:
        print("audit trail already signed: nothing to do")
    return 0


def _add_api_key(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir) as store:
        key, secret = store.add_api_key(
            args.name, args.submissions, SYSTEM_ACTOR, metrics=args.metrics
        )
    limits = ", ".join(map(str, key.submissions)) if key.submissions else "any approved"
    reads = "; it may read /metrics" if key.metrics else ""
    print(secret)  # alone on stdout, so a script can capture it; it is not shown again
    print(
        f"API key {key.name!r} created (submissions: {limits}{reads}). Store it now: only its "
        "hash is kept.",
        file=sys.stderr,
    )
    return 0


def _revoke_api_key(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir) as store:
        key = store.revoke_api_key(args.name, SYSTEM_ACTOR)
    print(f"API key {key.name!r} is revoked")
    return 0


def _api_keys(args: argparse.Namespace) -> int:
    with Store.open(args.db, args.data_dir, signing=False) as store:
        keys = store.list_api_keys()
        totals: dict[str, int] = {}
        for count in store.api_usage():
            totals[count.key_name] = totals.get(count.key_name, 0) + count.count
    if not keys:
        print("no API keys yet: create one with 'python -m storage add-api-key NAME'")
    for key in keys:
        limits = ",".join(map(str, key.submissions)) if key.submissions else "any"
        state = "active" if key.active else "revoked"
        metrics = "  metrics" if key.metrics else ""
        print(
            f"{key.name}  {key.prefix}...  {state}  submissions={limits}{metrics}  "
            f"requests={totals.get(key.name, 0)}"
        )
    return 0


def _api_switch(args: argparse.Namespace) -> int:
    if args.command == "api-sampling":
        name, enabled = "sampling", args.state == "on"
    else:
        name, enabled = "steering", args.command == "steering-on"
    with Store.open(args.db, args.data_dir) as store:
        changed = store.set_api_switch(name, enabled, SYSTEM_ACTOR)
    state = "on" if enabled else "off"
    print(f"API {name} is {state}" + ("" if changed else " (it already was)"))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add-user": _add_user,
    "users": _users,
    "deactivate-user": _set_active,
    "reactivate-user": _set_active,
    "reset-password": _reset_password,
    "verify": _verify,
    "checkpoint": _checkpoint,
    "rotate-key": _rotate_key,
    "export-audit": _export_audit,
    "migrate": _migrate,
    "add-api-key": _add_api_key,
    "revoke-api-key": _revoke_api_key,
    "api-keys": _api_keys,
    "steering-off": _api_switch,
    "steering-on": _api_switch,
    "api-sampling": _api_switch,
}


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit code (argparse only accepts known commands)."""
    return COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    # The environment first, like app.py and python -m steering. Every storage variable is free
    # text (nothing can be reported yet); a bad path or URL is reported when the store opens it.
    settings()
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing more was changed", file=sys.stderr)
        return 130
