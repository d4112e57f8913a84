"""Downloads hand out only what the signed audit trail approved, whatever the row says.

The rows are edited with plain SQL on the app's SQLite file, as an insider with write access to
the database would; the refusal is the one an unapproved submission gets.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from dashboard.common import UserError
from dashboard.tabs import downloads
from tests.app.support import PASSWORD, approved, login, submitted


def edit(ctx, sql: str, **params) -> None:
    engine = create_engine(ctx.store.url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def test_a_row_set_to_approved_behind_the_store_does_not_download(ctx, examples_file):
    sid = submitted(ctx, examples_file)
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(UserError) as honest:
        downloads.download_safetensors(ctx, session, sid)
    edit(ctx, "UPDATE submissions SET status = 'approved' WHERE id = :i", i=sid)
    with pytest.raises(UserError) as edited:
        downloads.download_safetensors(ctx, session, sid)
    # the same refusal as before the edit: the signed trail still says "submitted"
    assert str(edited.value) == str(honest.value)
    assert str(edited.value) == f"Submission #{sid} is submitted; only approved vectors download."


def test_an_approved_strength_edited_behind_the_store_does_not_download(ctx, examples_file):
    sid = approved(ctx, examples_file)
    session = login(ctx, "bob", PASSWORD)
    assert downloads.download_gguf(ctx, session, sid).is_file()  # as approved: it downloads
    edit(ctx, "UPDATE submissions SET strength = 25 WHERE id = :i", i=sid)
    for make in (downloads.download_safetensors, downloads.download_gguf):
        with pytest.raises(UserError, match="only approved vectors download") as refused:
            make(ctx, session, sid)
        assert (
            str(refused.value)
            == f"Submission #{sid} is not approved; only approved vectors download."
        )
    exports = ctx.store.audit_events(action="vector.export")
    assert len(exports) == 1  # only the download made before the edit
