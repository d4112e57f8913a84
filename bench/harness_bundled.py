"""lm-evaluation-harness against the real app on the bundled model, next to the lab's own scores
(issue 23's figures on a real model; ``tests/api/test_harness.py`` checks the same on the tiny
model in CI).

Builds an R-C vector from the arithmetic set's first 100 pairs on blocks 8-15 at its 5 %
suggested strength, approves it in a fresh store, starts ``app.py`` in float32, and runs
``lm_eval`` 0.4.13 on the set's last ``--rows`` rows: multiple choice through
``local-completions`` unsteered (``model=default``) and steered (``model=submission-N``), and
``generate_until`` (stop "\\n\\n", the answer's last number) through ``local-chat-completions``
unsteered and with ``--gen_kwargs``. Prints the harness's accuracies beside the lab's
(``score_choices`` on the same rows) and how far each candidate score is from the lab's.

    python bench/harness_bundled.py [--rows 30] [--work DIR] [--lm-eval PYTHON]

``--lm-eval`` is the Python of a virtual environment with ``lm_eval[api]==0.4.13``; by default the
one ``tests/api/test_harness.py`` makes under the model cache. Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["STEERING_DTYPE"] = "float32"  # the app process inherits it: the lab scores float32

from bench.app_process import approved_submission, start_app, stop  # noqa: E402
from steering.build import build_vector  # noqa: E402
from steering.data.examples import load_examples  # noqa: E402
from steering.engine.models import load_model  # noqa: E402
from steering.evaluation.choice_table import score_choices  # noqa: E402
from steering.evaluation.strengths import suggested_strengths  # noqa: E402
from steering.settings import settings  # noqa: E402
from tests.security.conftest import make_store  # noqa: E402

LAYERS = list(range(8, 16))
BUILD_PAIRS = 100
STRENGTH_SHARE = 2  # index into suggested_strengths: (0, 2.5 %, 5 %, 10 %) of the residual norm
DATA = ROOT / "assets" / "examples" / "arithmetic.jsonl"


def write_tasks(folder: Path, rows_file: Path) -> None:
    source = (
        f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {rows_file}\n"
        "test_split: test\n"
    )
    (folder / "lab_gen.yaml").write_text(
        "task: lab_gen\n" + source + "output_type: generate_until\n"
        'doc_to_text: "{{prompt}}"\ndoc_to_target: "{{answer}}"\n'
        'generation_kwargs:\n  until: ["\\n\\n"]\n  max_gen_toks: 48\n'
        "filter_list:\n  - name: last_number\n    filter:\n      - function: regex\n"
        '        regex_pattern: "(-?[0-9]+)"\n        group_select: -1\n'
        "      - function: take_first\n"
        "metric_list:\n  - metric: exact_match\n"
    )
    (folder / "lab_mc.yaml").write_text(
        "task: lab_mc\n" + source + "output_type: multiple_choice\n"
        'doc_to_text: "{{prompt}}"\ndoc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{choices.index(answer)}}"\ntarget_delimiter: ""\n'
        "metric_list:\n  - metric: acc\n"
    )


def run_lm_eval(python: Path, tasks: Path, out: Path, key: str, *args: str) -> list[dict]:
    """The logged samples of one harness run, by document."""
    env = {**os.environ, "OPENAI_API_KEY": key, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-m", "lm_eval", "--log_samples", "--output_path", str(out)]
        + ["--apply_chat_template", "--include_path", str(tasks), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lm_eval failed:\n{done.stderr[-3000:]}")
    (found,) = glob.glob(str(out / "**" / "samples_*.jsonl"), recursive=True)
    return sorted((json.loads(line) for line in Path(found).open()), key=lambda s: s["doc_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--lm-eval", type=Path, default=settings().cache_dir / "lm-eval-0.4.13" / "bin" / "python"
    )
    args = parser.parse_args()
    if not args.lm_eval.exists():
        raise SystemExit(f"no lm_eval Python at {args.lm_eval}: run tests/api/test_harness.py once")
    work = args.work or Path(tempfile.mkdtemp(prefix="harness-bundled-"))
    work.mkdir(parents=True, exist_ok=True)

    examples = load_examples(DATA)
    build_rows, rows = examples.examples[:BUILD_PAIRS], examples.examples[-args.rows :]
    rows_file = work / "rows.jsonl"
    rows_file.write_text(
        "".join(
            json.dumps({"prompt": r.prompt, "answer": r.answer, "choices": list(r.choices)}) + "\n"
            for r in rows
        )
    )
    loaded = load_model("default", dtype="float32")
    vector = build_vector(
        loaded,
        build_rows,
        method="mean_diff",
        negatives="column",
        layers=LAYERS,
        lineage={"dataset_hash": examples.content_hash, "dataset_name": examples.name},
    ).vector
    vector_file = work / "arithmetic.safetensors"
    vector.save(vector_file)
    strength = suggested_strengths(vector.metadata, LAYERS)[STRENGTH_SHARE]
    lab = {
        "default": score_choices(loaded, rows, alphas=[0.0]),
        "steered": score_choices(loaded, rows, vector=vector, alphas=[strength], layers=LAYERS),
    }
    tokenizer_dir = work / "tokenizer"
    loaded.tokenizer.save_pretrained(tokenizer_dir)
    del loaded

    data_dir = work / "data"
    with make_store(data_dir) as store:
        submission = approved_submission(
            store, vector_file.read_bytes(), vector.metadata, strength, LAYERS
        )
        _, key = store.add_api_key("harness")
    tasks = work / "tasks"
    tasks.mkdir(exist_ok=True)
    write_tasks(tasks, rows_file)
    process, url = start_app(data_dir, "default")
    try:
        chat = f"model=default,base_url={url}/v1/chat/completions,tokenizer_backend=None"
        steer = json.dumps({"control_vector": {"submission": submission}})
        generated = {
            case: run_lm_eval(
                args.lm_eval, tasks, work / f"gen-{case}", key,
                "--model", "local-chat-completions", "--model_args", chat,
                "--tasks", "lab_gen", *extra,
            )
            for case, extra in (("default", []), ("steered", ["--gen_kwargs", steer]))
        }  # fmt: skip
        chosen = {}
        for case, model in (("default", "default"), ("steered", f"submission-{submission}")):
            completions = f"model={model},base_url={url}/v1/completions,tokenizer={tokenizer_dir}"
            chosen[case] = run_lm_eval(
                args.lm_eval, tasks, work / f"mc-{case}", key,
                "--model", "local-completions", "--model_args", completions, "--tasks", "lab_mc",
            )  # fmt: skip
    finally:
        stop(process)

    print(f"{args.rows} rows, strength {strength:g}, submission {submission}")
    for case in ("default", "steered"):
        ours = lab[case].sort_values("question")
        samples = chosen[case]
        offsets, spreads, same = [], [], 0
        for sample, (_, row) in zip(samples, ours.iterrows(), strict=True):
            gaps = [float(r[0][0]) - b for r, b in zip(sample["resps"], row.logprobs, strict=True)]
            offsets += gaps
            spreads.append(max(gaps) - min(gaps))
            same += sample["acc"] == float(row.correct)
        harness_right = sum(int(s["acc"]) for s in samples)
        generated_right = sum(int(s["exact_match"]) for s in generated[case])
        print(
            f"{case}: multiple choice harness {harness_right}/{len(samples)}, "
            f"lab {int(ours.correct.sum())}/{len(ours)}, same correctness on {same}; "
            f"harness minus lab per candidate {min(offsets):.4f} to {max(offsets):.4f}, "
            f"largest spread within a question {max(spreads):.1e}; "
            f"generate_until exact_match {generated_right}/{len(generated[case])}"
        )


if __name__ == "__main__":
    main()
