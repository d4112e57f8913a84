"""storage.workflow: the one answer to "who may approve, reject or revoke", used by store and UI."""

from __future__ import annotations

import itertools

import pytest

from storage import PermissionDeniedError, Store, WorkflowError
from storage.workflow import ROLES, available_actions, may_review, refusal

from .helpers import make_submission

STATUSES = ("draft", "submitted", "approved", "rejected", "revoked")
# The product's rules written out as a table, independently of the code under test.
STATE_ALLOWS = {("submitted", "approve"), ("submitted", "reject"), ("approved", "revoke")}


def expected_allowed(role: str, own: bool, status: str, action: str) -> bool:
    reviewer = role in ("reviewer", "admin")
    four_eyes_ok = action == "revoke" or not own
    return reviewer and four_eyes_ok and (status, action) in STATE_ALLOWS


def test_roles_and_who_may_review() -> None:
    assert ROLES == ("builder", "reviewer", "admin")
    assert [may_review(r) for r in ROLES] == [False, True, True]
    assert not may_review("owner")


@pytest.mark.parametrize(
    ("role", "own", "status"), list(itertools.product(ROLES, (False, True), STATUSES))
)
def test_available_actions_match_the_rules(role: str, own: bool, status: str) -> None:
    creator = "bob" if own else "alice"
    got = available_actions(actor="bob", role=role, creator=creator, status=status)
    want = tuple(
        a for a in ("approve", "reject", "revoke") if expected_allowed(role, own, status, a)
    )
    assert got == want
    for action in ("approve", "reject", "revoke"):
        why = refusal(
            action, actor="bob", role=role, creator=creator, status=status, submission_id=7
        )
        assert (why is None) == (action in want)


def test_refusal_messages_and_their_order() -> None:
    kw = {"actor": "bert", "creator": "bert", "status": "draft", "submission_id": 3}
    # the role is checked first, then four eyes, then the state
    why = refusal("approve", role="builder", **kw)
    assert why == "bert is a builder; only reviewers and admins can approve submissions."
    assert why.error is PermissionDeniedError
    why = refusal("reject", role="admin", **kw)
    assert why == (
        "bert created submission 3 and cannot review it (four-eyes rule); ask another reviewer."
    )
    why = refusal("revoke", role="admin", **kw)  # four eyes does not apply to revoking
    assert why == "Submission 3 is draft and cannot be revoked: submit it first."
    assert why.error is WorkflowError
    with pytest.raises(ValueError, match="unknown review action"):
        refusal("delete", role="admin", **kw)


def test_the_store_refuses_with_exactly_the_workflow_message(store: Store, people: dict) -> None:
    store.add_user("bert", "builder", "password for bert")
    draft = make_submission(store)
    sub = store.submit(draft.id, "alice", draft.version)
    cases = [("bert", "builder", "approve"), ("bob", "reviewer", "revoke")]
    for actor, role, action in cases:
        why = refusal(
            action,
            actor=actor,
            role=role,
            creator="alice",
            status="submitted",
            submission_id=sub.id,
        )
        assert why is not None
        with pytest.raises(why.error) as info:
            if action == "revoke":
                store.revoke(sub.id, "because", actor, sub.version)
            else:
                store.review(sub.id, action, "because", actor, sub.version)
        assert str(info.value) == why
    assert store.get_submission(sub.id).status == "submitted"
