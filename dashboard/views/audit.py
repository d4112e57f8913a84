"""The Audit tab's presenters: the audit trail, what "Verify integrity" found and what it
catches, signed checkpoints (the report shows the same) and failed sign-ins."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from dashboard.views.common import md
from storage import Checkpoint, StoredAuditEvent, VerifyResult

# What happened and who did it first: in a narrow window the first columns are what shows.
AUDIT_COLUMNS = ["action", "actor", "when (UTC)", "object", "seq", "details"]


def audit_table(events: Iterable[StoredAuditEvent]) -> pd.DataFrame:
    rows = [
        [
            e.action,
            e.actor,
            f"{e.ts:%Y-%m-%d %H:%M:%S}",
            f"{e.object_type} {e.object_id}",
            e.seq,
            json.dumps(e.details, ensure_ascii=False, default=str)[:300],
        ]
        for e in events
    ]
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


# ---------------------------------------------------------------------------------- integrity

# The kinds of damage ``Store.verify`` names (VerifyResult.reason), in plain words.
DAMAGE_WORDS: dict[str, str] = {
    "edited": "an entry was changed after it was written",
    "deleted": "an entry was removed",
    "inserted": "an entry was slipped in that the lab never wrote",
    "reordered": "entries were moved out of their order",
    "truncated": "the newest entries were removed",
    "bad-signature": (
        "an entry or a checkpoint does not carry the lab's signature: it was written or rewritten "
        "outside the lab"
    ),
    "checkpoint-missing": (
        "a checkpoint the audit trail records is missing from the checkpoint log (or its witness)"
    ),
    "checkpoint-unlinked": "lines of the checkpoint log were removed, moved or inserted",
    "record-mismatch": (
        "a stored record (a submission, user, API key or switch) was changed outside the lab: it "
        "no longer says what the signed audit trail says"
    ),
}

# What "Verify integrity" catches, row for row as storage/README.md's table (each row has a test
# named there). No row may promise more than the README does.
CAUGHT_COLUMNS = ["someone who can change", "what they do", "caught?"]
CAUGHT_ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "the database only",
        "edit, delete, insert or reorder entries, even recomputing the hashes",
        "yes: they cannot sign the entries",
    ),
    (
        "the database only",
        "delete the newest entries",
        "only against the checkpoint log, and only entries up to its last checkpoint; newer "
        "entries can vanish unnoticed",
    ),
    (
        "the database only",
        "strip every signature and ask for the database to be signed again",
        "refused when the checkpoint log shows the trail was signed; the check then reports a "
        "missing signature",
    ),
    (
        "the database and the signing key, not the checkpoint log",
        "rewrite history and sign it again",
        "up to the last checkpoint; changes after it are not caught",
    ),
    ("the checkpoint log", "edit a checkpoint", "yes: the checkpoint's signature no longer fits"),
    (
        "everything on the machine (database, key, checkpoint log)",
        "rewrite history, sign it again, rewrite the log",
        "only against a checkpoint copy kept elsewhere (a downloaded evaluation report or "
        "audit export)",
    ),
    (
        "the checkpoint log",
        "delete, empty or trim it, or remove or reorder its lines",
        "yes: the audit trail records every checkpoint the log must hold, and its lines link",
    ),
    (
        "the database and the checkpoint log, not the signing key",
        "delete the newest entries and the newer log lines to match",
        "only against the witness copy of the log (STEERING_CHECKPOINT_WITNESS) or a copy kept "
        "elsewhere",
    ),
    (
        "the database only",
        "change a stored record: a submission's status or content, a user's role or active flag, "
        "an API key, a switch",
        "yes: the record no longer matches the signed trail; the API and downloads refuse it",
    ),
)


def caught_markdown() -> str:
    """``CAUGHT_ROWS`` as a Markdown table."""
    head = "| " + " | ".join(CAUGHT_COLUMNS) + " |\n|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(row) + " |" for row in CAUGHT_ROWS)


def checkpoint_rows(checkpoint: Checkpoint) -> list[list[str]]:
    """A signed checkpoint as label/value rows (the Audit tab and the report show the same)."""
    return [
        ["entries covered", str(checkpoint.seq)],
        ["head hash", checkpoint.head],
        ["time (UTC)", checkpoint.time],
        ["signature", checkpoint.sig],
    ]


@dataclass(frozen=True)
class IntegrityView:
    """The outcome of "Verify integrity": plain words first, the technical details apart."""

    ok: bool
    summary: str  # Markdown: intact, or the first bad entry and the kind of damage
    details: str  # Markdown: signature counts, the chain head and the latest checkpoint


def integrity_view(result: VerifyResult) -> IntegrityView:
    """``Store.verify``'s result as a person reads it, with the numbers behind it."""
    if result.ok:
        anchored = (
            f"the history matches the {result.checkpoints} signed "
            f"checkpoint{'' if result.checkpoints == 1 else 's'} kept outside the database"
            if result.checkpoints
            else "no checkpoint kept outside the database has been written yet to compare with"
        )
        summary = (
            f"**Intact.** All {result.count} audit entries check out: every entry links to the "
            f"one before and carries the lab's signature, and {anchored}."
        )
    else:
        where = f" at entry {result.first_broken_seq}" if result.first_broken_seq else ""
        kind = DAMAGE_WORDS.get(result.reason or "", "the trail does not check out")
        before = "entry before it checks" if result.count == 1 else "entries before it check"
        summary = (
            f"**Tampered with.** The first problem is{where}: {kind}. {md(result.message)} "
            f"The {result.count} {before} out."
        )
    rows = [
        ["entries checked and intact", str(result.count)],
        ["signed when written", str(result.signed_at_write)],
        ["signed when an older trail was migrated", str(result.signed_at_migration)],
        ["checkpoints compared", str(result.checkpoints)],
        ["chain head", f"entry {result.head_seq}, hash `{result.head_hash}`"],
    ]
    latest = result.latest_checkpoint
    if latest is None:
        # Verify stops at a broken link or signature before it reads the checkpoint log.
        unread = "not read (the check stopped at the first problem)"
        rows.append(["latest checkpoint", "none written yet" if result.ok else unread])
    else:
        rows += [[f"latest checkpoint: {label}", f"`{v}`"] for label, v in checkpoint_rows(latest)]
    if result.reason:
        rows.append(["kind of damage", f"`{result.reason}`"])
    details = "| | |\n|---|---|\n" + "\n".join(f"| {label} | {value} |" for label, value in rows)
    return IntegrityView(result.ok, summary, details)


FAILED_SIGNIN_COLUMNS = ["when (UTC)", "account", "reason", "client"]


def failed_signins_table(events: Iterable[StoredAuditEvent]) -> pd.DataFrame:
    """Failed sign-ins, newest first as given. A name that does not exist is shown only as the
    start of its keyed hash (the store never keeps the typed text: people type passwords there)."""
    rows = []
    for e in events:
        name_hmac = e.details.get("name_hmac")
        account = f"unknown name (keyed hash {name_hmac[:12]}…)" if name_hmac else e.object_id
        rows.append(
            [
                f"{e.ts:%Y-%m-%d %H:%M:%S}",
                account,
                str(e.details.get("reason", "")),
                str(e.details.get("client", "")),
            ]
        )
    return pd.DataFrame(rows, columns=FAILED_SIGNIN_COLUMNS)


# ---------------------------------------------------------------------------------- API usage


def applied_words(requests: int, applied: int, not_applied: int) -> str:
    """How often a vector was applied, in words ("applied to 12 of 15 requests"); "" when
    nothing was counted (unsteered, or counted before the gate was). A completions request with
    several prompts counts each, so when the prompts outnumber the requests it says prompts."""
    total = applied + not_applied
    if total == 0:
        return ""
    what = "requests" if total == requests else "prompts"
    if total == 1:
        what = what[:-1]
    return f"applied to {applied} of {total} {what}"
