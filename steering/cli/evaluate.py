"""``python -m steering evaluate``: accuracy of a vector at several strengths, with a verdict.

Evaluates every row of ``--data`` that has an answer (and choices, in choice mode), prints one line
per strength and the verdict, and with ``--json`` writes the report (``EvaluationReport.to_dict``).
A conditional vector's gate is said in words first ("applied to 96 of 100 task questions and to 2
of 229 everyday requests"), then its technical figures, then the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from steering.cli.options import add_dtype_option
from steering.errors import SteeringError
from steering.evaluation.results import CLI_KEYS, GateReport, StrengthResult, column_label
from steering.evaluation.strengths import DEFAULT_ALPHAS, parse_strengths
from steering.evaluation.verdict import gate_sentence
from steering.progress import stderr_progress_bar


def _strengths(text: str) -> list[float]:
    # argparse reports an ArgumentTypeError as a usage error (exit 2) with this message.
    try:
        return parse_strengths(text)
    except SteeringError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _cell(result: StrengthResult, key: str) -> str:
    value = getattr(result, key)
    if key == "alpha":
        return f"{value:g}"
    return _fmt(value, 2 if key == "entropy_bits" else 3)


def format_table(results: Sequence[StrengthResult]) -> str:
    """One line per strength: the ``CLI_KEYS`` fields under their labels (``RESULT_COLUMNS``)."""
    labels = [column_label(key) for key in CLI_KEYS]
    cells = [[_cell(r, key) for key in CLI_KEYS] for r in results]
    widths = [max([len(label)] + [len(row[i]) for row in cells]) for i, label in enumerate(labels)]
    lines = [" ".join(label.rjust(w) for label, w in zip(labels, widths, strict=True))]
    lines += [" ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def format_gate(gate: GateReport) -> str:
    """The gate in words, then its figures: the block read, the threshold and both open rates."""
    return (
        f"{gate_sentence(gate, questions='task questions')}\n"
        f"gate: block {gate.layer}, cosine threshold {gate.threshold:.4f}; open on "
        f"{gate.task_open_rate:.1%} of {gate.task_rows} task rows and "
        f"{gate.everyday_open_rate:.1%} of {gate.everyday_rows} held-out everyday prompts"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from steering.data.examples import load_examples
    from steering.engine.models import load_model
    from steering.evaluation.evaluate import evaluate
    from steering.layers import parse_layers
    from steering.vectors import ControlVector

    vector = ControlVector.load(args.vector)
    examples = load_examples(args.data)
    rows = [e for e in examples.examples if e.answer]
    mode = args.mode or ("choice" if rows and all(e.choices for e in rows) else "generate")
    if mode == "choice":
        rows = [e for e in rows if e.choices]
    if not rows:
        need = "an 'answer' and 'choices'" if mode == "choice" else "an 'answer'"
        raise SteeringError(f"No row of '{args.data}' has {need} to evaluate against.")
    loaded = load_model(args.model, dtype=args.dtype)
    layers = parse_layers(args.layers, loaded.num_layers) if args.layers else None
    report = evaluate(
        loaded,
        vector,
        rows,
        alphas=args.alphas,
        layers=layers,
        mode=mode,
        batch_size=args.batch_size,
        progress=stderr_progress_bar("evaluating"),
        side_effects=not args.no_side_effects,
        max_new_tokens=args.max_new_tokens,
    )
    print(f"{report.model} | {len(rows)} rows | mode {report.mode} | {report.dtype_reason}")
    if report.gate is not None:
        print(format_gate(report.gate))
    print(format_table(report.results))
    print(report.verdict)
    if args.json:
        data = report.to_dict()
        data["data"] = {"path": str(args.data), "hash": examples.content_hash}
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        sys.stderr.write(f"report written to {path}\n")
    return 0


def add_evaluate_command(subparsers: argparse._SubParsersAction, model_help: str) -> None:
    """Register ``evaluate`` on the main CLI's subcommands."""
    ev = subparsers.add_parser("evaluate", help="accuracy of a vector at several strengths")
    ev.add_argument("--model", default="default", help=model_help)
    add_dtype_option(ev)
    ev.add_argument("--vector", required=True, help="a .safetensors control vector")
    ev.add_argument("--data", required=True, help="CSV, JSONL, JSON or XLSX rows with 'answer'")
    ev.add_argument(
        "--alphas",
        type=_strengths,
        default=list(DEFAULT_ALPHAS),
        help="strengths, e.g. 0,0.5,1 (0, the unsteered model, is always included)",
    )
    ev.add_argument("--layers", default=None, help="all, A-B or I,J,... (default: the vector's)")
    ev.add_argument("--mode", choices=["choice", "generate"], default=None)
    ev.add_argument("--json", default=None, help="write the report as JSON here")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--max-new-tokens", type=int, default=48, help="generate mode only")
    ev.add_argument(
        "--no-side-effects", action="store_true", help="skip perplexity and neutral prompts"
    )
    ev.set_defaults(run=cmd_evaluate)
