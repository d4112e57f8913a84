"""Tab 2, Examples: pick a bundled set or upload a file; preview it and split it.

A file with any problem is refused: every problem is listed with its row, nothing is stored.
When every problem lies in a row, its builder may use the other rows instead ("Use the N valid
rows and skip M"): the skipped row numbers are stored with the set, said in its summary, in the
vector's lineage, and so in the evidence the reviewer and the report show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from dashboard import earlier
from dashboard.browser_state import BrowserSession, PendingUpload
from dashboard.common import SPLIT_SEED, UserError, export_folder, need_user
from dashboard.context import AppContext
from dashboard.events import download_markdown, guarded, offer_file, unchanged
from dashboard.views.common import md
from dashboard.views.examples import (
    ERROR_COLUMNS,
    PREVIEW_COLUMNS,
    preview_table,
    row_errors_table,
    row_list,
    skip_offer,
    skipped_rows_sentence,
)
from dashboard.web.uploads import take_upload, uploaded_file
from steering.data.examples import (
    ExampleSet,
    ExampleSetError,
    bundled_example_sets,
    load_examples,
)
from steering.data.template import TEMPLATE_FORMATS, template_bytes


@dataclass(frozen=True)
class ExamplesView:
    """What the tab shows after a set was chosen (or refused)."""

    preview: pd.DataFrame
    errors: pd.DataFrame
    summary: str
    heldout_prompts: list[str]
    skip_offer: str = ""  # the label of the button that uses the valid rows ("" : no offer)


def bundled_sets() -> list[str]:
    """The names of the example sets shipped with the lab."""
    return sorted(bundled_example_sets())


def pick_bundled(
    ctx: AppContext, session: BrowserSession, name: str, heldout_fraction: float = 0.3
) -> ExamplesView:
    """Use one of the bundled example sets."""
    sets = bundled_example_sets()
    if name not in sets:
        raise UserError(f"Choose one of the bundled sets: {', '.join(sorted(sets))}.")
    path = Path(sets[name])
    return _accept(ctx, session, path.read_bytes(), path.name, name, heldout_fraction)


def upload_examples(
    ctx: AppContext, session: BrowserSession, path: str | None, heldout_fraction: float = 0.3
) -> ExamplesView:
    """Validate an uploaded file; on any problem nothing is stored and every row error is listed."""
    if not path:
        raise UserError("Choose a CSV, JSONL, JSON or Excel file to upload.")
    file = Path(path)
    data = take_upload(file)  # read, then deleted: no uploaded file stays in Gradio's cache
    return _accept(ctx, session, data, file.name, file.stem[:200], heldout_fraction)


def _accept(
    ctx: AppContext,
    session: BrowserSession,
    data: bytes,
    filename: str,
    name: str,
    heldout_fraction: float,
    skip_rows: tuple[int, ...] = (),
) -> ExamplesView:
    user = need_user(session)
    session.pending_upload = None
    try:
        example_set = load_examples(data, filename=filename, name=name, skip_rows=skip_rows)
    except ExampleSetError as error:
        return _refused(session, error, data, filename, name)
    stored = ctx.store.add_example_set(
        example_set.name or name,
        data,
        filename,
        example_set.content_hash,
        len(example_set.examples),
        user,
        skipped_rows=example_set.skipped_rows,
    )
    earlier.use_example_set(session, example_set, stored.id, heldout_fraction)
    return _view(session, example_set)


def _refused(
    session: BrowserSession, error: ExampleSetError, data: bytes, filename: str, name: str
) -> ExamplesView:
    """Every problem listed; when they all lie in rows, the offer to use the other rows."""
    count = len(error.errors)
    summary = (
        f"**{md(filename)} was not accepted: {count} problem{'s' if count != 1 else ''} "
        "found. Nothing was stored.** Fix the rows listed below and upload the file again"
    )
    offer = ""
    if error.can_skip:
        bad = error.bad_rows
        session.pending_upload = PendingUpload(data, filename, name, bad)
        offer = skip_offer(error.valid_rows, len(bad))
        summary += (
            f", or use the {error.valid_rows} valid rows without row{'s' if len(bad) > 1 else ''} "
            f"{row_list(bad)}: the skipped rows are recorded with the set, and the reviewer "
            "sees them"
        )
    empty = pd.DataFrame(columns=PREVIEW_COLUMNS)
    return ExamplesView(empty, row_errors_table(error.errors), summary + ".", [], offer)


def use_valid_rows(
    ctx: AppContext, session: BrowserSession, heldout_fraction: float = 0.3
) -> ExamplesView:
    """Store the refused file without its broken rows (its builder's choice), and use it."""
    pending = session.pending_upload
    if pending is None:
        raise UserError("Upload the file again: there is no refused file waiting to be used.")
    return _accept(
        ctx,
        session,
        pending.data,
        pending.filename,
        pending.name,
        heldout_fraction,
        pending.bad_rows,
    )


def _view(session: BrowserSession, example_set: ExampleSet) -> ExamplesView:
    """What the tab shows for the session's example set, as split."""
    build, heldout = session.build_rows, session.heldout_rows
    negatives = "with" if example_set.has_negatives else "without"
    summary = (
        f"**{md(example_set.name or 'Examples')}**: {len(example_set.examples)} rows "
        f"({negatives} a 'negative' column of flawed answers). Split at random, the same way "
        f"every time (seed {SPLIT_SEED}): **{len(build)} build rows** to make the vector, "
        f"**{len(heldout)} held-out rows** kept apart to test it."
    )
    if example_set.skipped_rows:
        summary += " " + skipped_rows_sentence(example_set.skipped_rows)
    return ExamplesView(
        preview_table(example_set),
        pd.DataFrame(columns=ERROR_COLUMNS),
        summary,
        [e.prompt for e in heldout],
    )


def reopen(
    ctx: AppContext, session: BrowserSession, set_id: int | None, heldout_fraction: float = 0.3
) -> ExamplesView:
    """One of the user's earlier example sets, read again from the store, split as chosen."""
    example_set = earlier.reopen_example_set(ctx, session, set_id, heldout_fraction)
    return _view(session, example_set)


def template_file(ctx: AppContext, session: BrowserSession, fmt: str) -> Path:
    """The example-set template (the columns and two example rows) in the user's folder."""
    user = need_user(session)
    if fmt not in TEMPLATE_FORMATS:
        raise UserError(f"Choose one of {', '.join(TEMPLATE_FORMATS)} for the template.")
    path = export_folder(ctx, user) / f"example-set-template.{fmt}"
    path.write_bytes(template_bytes(fmt))
    return path


@dataclass(frozen=True)
class ExamplesTab:
    bundled: gr.Dropdown
    use_bundled: gr.Button
    upload: gr.File
    fraction: gr.Slider
    status: gr.Markdown
    errors: gr.Dataframe
    preview: gr.Dataframe
    earlier: gr.Dropdown  # the user's earlier example sets, kept current by ui.py and wire
    template_csv: gr.Button
    template_xlsx: gr.Button
    use_valid: gr.Button  # "Use the N valid rows and skip M", shown for a file with broken rows


# The preview's column widths, in PREVIEW_COLUMNS order: every column stays on screen.
PREVIEW_WIDTHS: list[str | int] = ["6%", "22%", "22%", "18%", "10%", "14%", "8%"]


def create_ui() -> ExamplesTab:
    sets = bundled_sets()
    with gr.Tab("2 · Examples", id="examples", elem_id="tab-examples"):
        gr.Markdown(
            "Example pairs: a **prompt** (the question), a **positive** answer (correct "
            "reasoning) and optionally a **negative** one (flawed reasoning), plus the correct "
            "**answer** and the **choices** to pick from, for the evaluation; **split** (build or "
            "heldout) is optional. Upload a CSV, JSONL, JSON or Excel file, pick a bundled set, "
            "or reopen one of yours. Rows are numbered as your file shows them: in a spreadsheet "
            "the header is row 1, so the first example is row 2."
        )
        with gr.Row():
            with gr.Column(min_width=260):
                bundled = gr.Dropdown(
                    choices=sets,
                    value="arithmetic" if "arithmetic" in sets else None,
                    label="Bundled example set",
                    elem_id="bundled-set",
                )
                use_bundled = gr.Button("Use this set", variant="primary", elem_id="use-bundled")
                earlier_sets = gr.Dropdown(
                    choices=[],
                    value=None,
                    label="…or reopen your earlier work",
                    info="Example sets you used before, newest first",
                    elem_id="examples-earlier",
                )
            with gr.Column(min_width=260):
                upload = uploaded_file(
                    label="…or upload your own file",
                    file_types=[".csv", ".jsonl", ".json", ".xlsx", ".xls"],
                    elem_id="upload-examples",
                    height=130,
                )
                with gr.Row(elem_id="template-row"):
                    template_csv = gr.Button(
                        "Template (CSV)", size="sm", min_width=150, elem_id="template-csv"
                    )
                    template_xlsx = gr.Button(
                        "Template (Excel)", size="sm", min_width=150, elem_id="template-xlsx"
                    )
        fraction = gr.Slider(
            0.1,
            0.5,
            value=0.3,
            step=0.05,
            label="Share of rows held out for testing",
            info="Held-out rows are never used to build the vector; the split is random but the "
            "same every time, so a build can be repeated.",
            elem_id="heldout-fraction",
        )
        status = gr.Markdown(elem_id="examples-status")
        use_valid = gr.Button(visible=False, variant="secondary", elem_id="examples-use-valid")
        errors = gr.Dataframe(
            label="Problems found (fix these rows and upload again)",
            headers=ERROR_COLUMNS,
            visible=False,
            interactive=False,
            wrap=True,
            elem_id="examples-errors",
        )
        preview = gr.Dataframe(
            label="Preview (every column of the file)",
            headers=PREVIEW_COLUMNS,
            interactive=False,
            wrap=True,
            max_chars=90,
            max_height=420,
            column_widths=PREVIEW_WIDTHS,
            elem_id="examples-preview",
        )
    return ExamplesTab(
        bundled,
        use_bundled,
        upload,
        fraction,
        status,
        errors,
        preview,
        earlier_sets,
        template_csv,
        template_xlsx,
        use_valid,
    )


def wire(ctx: AppContext, state: gr.State, tab: ExamplesTab, question: gr.Dropdown) -> None:
    """Choosing an example set previews it and fills the Compare tab's ``question`` list."""

    def show(view: ExamplesView, session: BrowserSession) -> dict:
        return {
            state: session,
            tab.status: view.summary,
            tab.errors: gr.Dataframe(value=view.errors, visible=len(view.errors) > 0),
            tab.preview: view.preview,
            question: gr.Dropdown(choices=[(p[:120], p) for p in view.heldout_prompts], value=None),
            # A new set is listed at once; the one on screen is the one chosen.
            tab.earlier: gr.Dropdown(
                choices=earlier.example_set_choices(ctx, session), value=session.example_set_id
            ),
            tab.use_valid: gr.Button(value=view.skip_offer, visible=True)
            if view.skip_offer
            else gr.Button(visible=False),
        }

    def do_bundled(session: BrowserSession, name: str, share: float) -> dict:
        return show(pick_bundled(ctx, session, name, share), session)

    outputs = [state, tab.status, tab.errors, tab.preview, question, tab.earlier, tab.use_valid]

    def do_upload(session: BrowserSession, path: str | None, share: float) -> dict:
        if not path:
            return unchanged(outputs)
        return show(upload_examples(ctx, session, path, share), session)

    def do_reopen(session: BrowserSession, set_id: int | None, share: float) -> dict:
        if not set_id:  # the list was opened and closed without a choice
            return unchanged(outputs)
        return show(reopen(ctx, session, set_id, share), session)

    tab.use_bundled.click(
        guarded(tab.status, do_bundled), [state, tab.bundled, tab.fraction], outputs
    )
    # The upload is deleted once read, so the box is emptied: the next file goes straight in.
    tab.upload.upload(
        guarded(tab.status, do_upload), [state, tab.upload, tab.fraction], outputs
    ).then(lambda: None, None, tab.upload)

    def do_use_valid(session: BrowserSession, share: float) -> dict:
        return show(use_valid_rows(ctx, session, share), session)

    tab.use_valid.click(guarded(tab.status, do_use_valid), [state, tab.fraction], outputs)
    tab.earlier.input(guarded(tab.status, do_reopen), [state, tab.earlier, tab.fraction], outputs)

    def templater(fmt: str) -> Callable[[BrowserSession], dict]:
        def do_template(session: BrowserSession) -> dict:
            path = template_file(ctx, session, fmt)
            return {tab.status: download_markdown(path.name, offer_file(path))}

        return guarded(tab.status, do_template)

    tab.template_csv.click(templater("csv"), [state], [tab.status])
    tab.template_xlsx.click(templater("xlsx"), [state], [tab.status])
