"""The review workflow: transitions, four eyes, roles, comments, freezing, optimistic locking."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from storage import (
    ConflictError,
    PermissionDeniedError,
    Store,
    StoredSubmission,
    ValidationError,
    WorkflowError,
)
from storage.audit import canonical_json

from .conftest import FAST_HASHER
from .helpers import make_submission


def submitted(store: Store) -> StoredSubmission:
    draft = make_submission(store)
    return store.submit(draft.id, "alice", draft.version)


def test_happy_path_records_every_step(store: Store, people: dict) -> None:
    draft = make_submission(store)
    assert (draft.status, draft.version, draft.content_hash) == ("draft", 1, None)
    sub = store.submit(draft.id, "alice", draft.version)
    assert sub.status == "submitted" and sub.version == 2 and len(sub.content_hash) == 64
    sub = store.review(sub.id, "approve", "accuracy up 7 points, no side effects", "bob", 2)
    assert (sub.status, sub.version) == ("approved", 3)
    assert [(r.decision, r.reviewer) for r in sub.reviews] == [("approve", "bob")]
    sub = store.revoke(sub.id, "side effects found in production", "rita", 3)
    assert sub.status == "revoked"
    assert [r.decision for r in store.get_submission(sub.id).reviews] == ["approve", "revoke"]
    actions = [e.action for e in store.audit_events(object_type="submission")]
    assert actions == [
        "submission.create",
        "submission.submit",
        "submission.approve",
        "submission.revoke",
    ]
    assert store.verify().ok


def test_submit_freezes_content_and_audits_its_hash(store: Store, people: dict, raw) -> None:
    sub = submitted(store)
    event = store.audit_events(action="submission.submit")[0]
    assert event.details["content_hash"] == sub.content_hash
    # the hash covers the vector file, strength, layers and the evaluation's results
    content = event.details["content"]
    assert content["strength"] == 0.5 and content["layers"] == [2, 3]
    assert content["vector_content_hash"] == store.get_vector(sub.vector_id).content_hash
    import hashlib

    assert hashlib.sha256(canonical_json(content).encode()).hexdigest() == sub.content_hash
    assert store.check_submission(sub.id)
    # changing the frozen content behind the store's back is noticed and blocks the review
    with raw.begin() as conn:
        conn.execute(text("UPDATE submissions SET strength = 4.0 WHERE id = :i"), {"i": sub.id})
    assert not store.check_submission(sub.id)
    with pytest.raises(WorkflowError, match="no longer matches"):
        store.review(sub.id, "approve", "fine", "bob", sub.version)


def test_only_the_creator_submits_a_draft(store: Store, people: dict) -> None:
    draft = make_submission(store)
    with pytest.raises(PermissionDeniedError, match="Only alice"):
        store.submit(draft.id, "ada", draft.version)
    assert store.get_submission(draft.id).status == "draft"


def test_four_eyes_creator_cannot_review_even_as_admin(store: Store, people: dict) -> None:
    draft = make_submission(store, builder="ada")
    sub = store.submit(draft.id, "ada", draft.version)
    for decision in ("approve", "reject"):
        with pytest.raises(PermissionDeniedError, match="four-eyes"):
            store.review(sub.id, decision, "looks fine to me", "ada", sub.version)
    assert store.get_submission(sub.id).status == "submitted"
    approved = store.review(sub.id, "approve", "checked the evaluation", "bob", sub.version)
    assert approved.status == "approved"


def test_only_reviewers_and_admins_review(store: Store, people: dict) -> None:
    store.add_user("bert", "builder", "password for bert")
    sub = submitted(store)
    with pytest.raises(PermissionDeniedError, match="only reviewers and admins"):
        store.review(sub.id, "approve", "lgtm", "bert", sub.version)
    with pytest.raises(PermissionDeniedError, match="Unknown user"):
        store.review(sub.id, "approve", "lgtm", "nobody", sub.version)
    with pytest.raises(PermissionDeniedError, match="'system' cannot"):
        store.review(sub.id, "approve", "lgtm", "system", sub.version)
    assert store.review(sub.id, "reject", "no held-out gain", "ada", sub.version).status == (
        "rejected"
    )


def test_deactivated_reviewer_cannot_act(store: Store, people: dict) -> None:
    sub = submitted(store)
    store.set_user_active("bob", False, "ada")
    with pytest.raises(PermissionDeniedError, match="deactivated"):
        store.review(sub.id, "approve", "ok", "bob", sub.version)


@pytest.mark.parametrize("comment", ["", "   ", None])
def test_decisions_need_a_comment(store: Store, people: dict, comment) -> None:
    sub = submitted(store)
    for decision in ("approve", "reject"):
        with pytest.raises(ValidationError, match="comment"):
            store.review(sub.id, decision, comment, "bob", sub.version)
    approved = store.review(sub.id, "approve", "ok", "bob", sub.version)
    with pytest.raises(ValidationError, match="comment"):
        store.revoke(approved.id, comment, "bob", approved.version)
    assert store.get_submission(sub.id).status == "approved"


def test_unknown_decision_is_refused(store: Store, people: dict) -> None:
    sub = submitted(store)
    with pytest.raises(ValidationError, match="'approve' or 'reject'"):
        store.review(sub.id, "maybe", "hmm", "bob", sub.version)


# Every (state, action) pair that is not an arrow in the diagram must be refused.
ACTIONS = ("submit", "approve", "reject", "revoke")
ALLOWED = {("draft", "submit"), ("submitted", "approve"), ("submitted", "reject")}
ALLOWED |= {("approved", "revoke")}


def bring_to(store: Store, status: str) -> StoredSubmission:
    sub = make_submission(store)
    if status == "draft":
        return sub
    sub = store.submit(sub.id, "alice", sub.version)
    if status in ("approved", "revoked"):
        sub = store.review(sub.id, "approve", "ok", "bob", sub.version)
    if status == "rejected":
        sub = store.review(sub.id, "reject", "no", "bob", sub.version)
    if status == "revoked":
        sub = store.revoke(sub.id, "withdrawn", "bob", sub.version)
    assert sub.status == status
    return sub


def act(store: Store, sub: StoredSubmission, action: str) -> StoredSubmission:
    if action == "submit":
        return store.submit(sub.id, "alice", sub.version)
    if action == "revoke":
        return store.revoke(sub.id, "because", "rita", sub.version)
    return store.review(sub.id, action, "because", "rita", sub.version)


@pytest.mark.parametrize("status", ["draft", "submitted", "approved", "rejected", "revoked"])
def test_only_the_allowed_transitions_exist(store: Store, people: dict, status: str) -> None:
    for action in ACTIONS:
        sub = bring_to(store, status)
        events_before = store.verify().count
        if (status, action) in ALLOWED:
            assert act(store, sub, action).status != status
        else:
            with pytest.raises(WorkflowError, match=f"is {status} and cannot be"):
                act(store, sub, action)
            after = store.get_submission(sub.id)
            assert (after.status, after.version) == (status, sub.version)
            assert store.verify().count == events_before


def test_submit_needs_an_evaluation(store: Store, people: dict) -> None:
    vector = store.add_vector(b"v", {"model_id": "m"}, "alice")
    draft = store.create_submission(vector.id, 0.5, [1], None, "alice")
    with pytest.raises(ValidationError, match="no evaluation"):
        store.submit(draft.id, "alice", draft.version)


def test_evaluation_must_belong_to_the_vector(store: Store, people: dict) -> None:
    v1 = store.add_vector(b"v1", {}, "alice")
    v2 = store.add_vector(b"v2", {}, "alice")
    ev = store.add_evaluation(v2.id, {}, {"accuracy": 0.5}, "alice")
    with pytest.raises(ValidationError, match="was run on vector"):
        store.create_submission(v1.id, 0.5, [1], ev.id, "alice")


@pytest.mark.parametrize(
    ("strength", "layers", "message"),
    [
        (float("nan"), [1], "finite"),
        ("strong", [1], "number"),
        (0.5, [], "at least one layer"),
        (0.5, [1, 1], "twice"),
        (0.5, [-1], "0 or more"),
        (0.5, [1.5], "whole numbers"),
    ],
)
def test_draft_content_is_validated(store: Store, people: dict, strength, layers, message) -> None:
    vector = store.add_vector(b"v", {}, "alice")
    with pytest.raises(ValidationError, match=message):
        store.create_submission(vector.id, strength, layers, None, "alice")


def test_stale_version_is_a_conflict_and_changes_nothing(store: Store, people: dict) -> None:
    sub = submitted(store)
    store.review(sub.id, "reject", "not convincing", "bob", sub.version)
    with pytest.raises(ConflictError, match="changed by bob") as info:
        store.review(sub.id, "approve", "convincing", "rita", sub.version)
    assert "Reload" in str(info.value) and "rejected" in str(info.value)
    final = store.get_submission(sub.id)
    assert final.status == "rejected" and [r.reviewer for r in final.reviews] == ["bob"]


def test_two_reviewers_at_once_exactly_one_wins(store: Store, people: dict, db_url: str) -> None:
    """Two sessions (two Store objects, two connection pools) decide at the same instant."""
    sub = submitted(store)
    other = Store.open(db_url, store.data_dir, password_hasher=FAST_HASHER)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def decide(s: Store, reviewer: str, decision: str) -> None:
        barrier.wait()
        try:
            outcomes[reviewer] = s.review(sub.id, decision, f"{reviewer} says", reviewer, 2)
        except ConflictError as exc:
            outcomes[reviewer] = exc

    threads = [
        threading.Thread(target=decide, args=(store, "bob", "approve")),
        threading.Thread(target=decide, args=(other, "rita", "reject")),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other.close()
    winners = [r for r, o in outcomes.items() if isinstance(o, StoredSubmission)]
    losers = [r for r, o in outcomes.items() if isinstance(o, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "Reload it and decide again" in str(outcomes[losers[0]])
    final = store.get_submission(sub.id)
    assert final.version == 3 and [r.reviewer for r in final.reviews] == winners
    decisions = store.audit_events(object_type="submission", object_id=sub.id)
    assert [
        e.actor for e in decisions if e.action in ("submission.approve", "submission.reject")
    ] == (winners)


def test_nothing_is_ever_deleted(store: Store, people: dict, raw) -> None:
    sub = bring_to(store, "revoked")
    with raw.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reviews")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM submissions")).scalar() == 1
    assert not any(name.startswith("delete") for name in dir(store))
    assert store.list_submissions(status="revoked")[0].id == sub.id
    assert store.list_submissions(status="approved") == []
    with pytest.raises(ValidationError, match="Unknown status"):
        store.list_submissions(status="deleted")
