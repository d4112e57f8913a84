"""EleutherAI's lm-evaluation-harness (``lm_eval`` 0.4.13) against the real app on 127.0.0.1 with
the tiny test model: a ``generate_until`` task through ``local-chat-completions`` (its stop
sequence cuts the answers), unsteered and with an approved submission, and a multiple-choice task
through ``local-completions`` (log-likelihood), whose accuracy and candidate scores must equal
the lab's own evaluation of the same rows.

``lm_eval[api]`` does not install beside the project's pins (it would move python-dateutil), so
it lives in a virtual environment of its own, made once under the model cache and reusing the
project's packages (torch, transformers) through a ``.pth`` file.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from steering.data.examples import load_examples
from steering.evaluation.choice_table import score_choices
from steering.settings import settings
from tests.api.conftest import LAYERS, ROOT

LM_EVAL = "lm_eval[api]==0.4.13"
DATA = ROOT / "assets" / "examples" / "arithmetic.jsonl"
ROWS = 6
INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def lm_eval_python() -> Path:
    """The Python of the harness's own environment (made on first use)."""
    venv = settings().cache_dir / "lm-eval-0.4.13"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "zz_project_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", LM_EVAL],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert installed.returncode == 0, f"pip install {LM_EVAL} failed:\n{installed.stderr[-3000:]}"
    return python


def write_tasks(folder: Path, stop: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = (
        f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {DATA}\ntest_split: test\n"
    )
    (folder / "lab_gen.yaml").write_text(
        "task: lab_gen\n" + source + "output_type: generate_until\n"
        'doc_to_text: "{{prompt}}"\ndoc_to_target: "{{answer}}"\n'
        f"generation_kwargs:\n  until: [{json.dumps(stop)}]\n  max_gen_toks: 24\n"
        "metric_list:\n  - metric: exact_match\n"
    )
    (folder / "lab_mc.yaml").write_text(
        "task: lab_mc\n" + source + "output_type: multiple_choice\n"
        'doc_to_text: "{{prompt}}"\ndoc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{choices.index(answer)}}"\ntarget_delimiter: ""\n'
        "metric_list:\n  - metric: acc\n"
    )


def run_lm_eval(python: Path, out: Path, key: str, *args: str) -> list[dict]:
    """Run the harness; the logged samples of its one task, by document."""
    env = {**os.environ, "OPENAI_API_KEY": key, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-m", "lm_eval", "--limit", str(ROWS), "--log_samples"]
        + ["--output_path", str(out), "--apply_chat_template", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (found,) = glob.glob(str(out / "**" / "samples_*.jsonl"), recursive=True)
    return sorted((json.loads(line) for line in Path(found).open()), key=lambda s: s["doc_id"])


def greedy(lab, key: str, prompt: str) -> str:
    answer = httpx.post(
        lab.base_url + "/chat/completions",
        json={
            "model": "model",
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": 24,
        },
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["choices"][0]["message"]["content"]


def used(lab, key_name: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for use in lab.store.api_usage():
        if use.key_name == key_name:
            counts[use.submission_id] = counts.get(use.submission_id, 0) + use.count
    return counts


def mean(samples: list[dict], metric: str) -> float:
    return sum(float(s[metric]) for s in samples) / len(samples)


def test_lm_eval_runs_through_the_gate_with_stops_and_the_labs_own_scores(
    api_lab, lm_eval_python, tmp_path
):
    rows = load_examples(DATA).examples[:ROWS]
    probe = api_lab.new_key("harness-probe")
    # A stop string the tiny model's first greedy answer holds, a few characters in.
    first = greedy(api_lab, probe, rows[0].prompt)
    assert len(first) >= 4
    stop = first[2:4]
    write_tasks(tmp_path / "tasks", stop)
    model_dir = api_lab.data_dir.parent / "model"
    common = ["--include_path", str(tmp_path / "tasks")]
    chat = ",".join(
        ["model=model", f"base_url={api_lab.base_url}/chat/completions", "tokenizer_backend=None"]
    )
    plain_key, steered_key = api_lab.new_key("harness-plain"), api_lab.new_key("harness-steered")
    submission = api_lab.submissions["approved_a"]

    plain = run_lm_eval(
        lm_eval_python,
        tmp_path / "plain",
        plain_key,
        "--model",
        "local-chat-completions",
        "--model_args",
        chat,
        "--tasks",
        "lab_gen",
        *common,
    )
    assert plain[0]["resps"][0][0] == first[: first.find(stop)] != first  # cut before the stop
    assert all(stop not in s["resps"][0][0] for s in plain)
    steered = run_lm_eval(
        lm_eval_python,
        tmp_path / "steered",
        steered_key,
        "--model",
        "local-chat-completions",
        "--model_args",
        chat,
        "--tasks",
        "lab_gen",
        "--gen_kwargs",
        json.dumps({"control_vector": {"submission": submission}}),
        *common,
    )
    assert len(steered) == ROWS
    assert used(api_lab, "harness-plain") == {0: ROWS}
    assert used(api_lab, "harness-steered") == {submission: ROWS}

    unsteered, with_vector = mean(plain, "exact_match"), mean(steered, "exact_match")
    print(f"generate_until exact_match: unsteered {unsteered:.3f}, steered {with_vector:.3f}")

    # Multiple choice: unsteered as the model's name, steered as the model submission-N (the
    # harness sends no --gen_kwargs with log-likelihood requests, so the model id names it).
    candidates = sum(len(r.choices) for r in rows)
    strength = api_lab.store.get_submission(submission).strength
    runs = {
        "model": score_choices(api_lab.model, rows, alphas=[0.0]),
        f"submission-{submission}": score_choices(
            api_lab.model,
            rows,
            vector=api_lab.vectors["a"],
            alphas=[strength],
            layers=list(LAYERS),
        ),
    }
    scores: dict[str, list[list[float]]] = {}  # each row's candidate scores, by model
    for model, ours in runs.items():
        key_name = f"harness-choices-{model}"
        args = f"model={model},base_url={api_lab.base_url}/completions,tokenizer={model_dir}"
        samples = run_lm_eval(
            lm_eval_python,
            tmp_path / key_name,
            api_lab.new_key(key_name),
            "--model",
            "local-completions",
            "--model_args",
            args,
            "--tasks",
            "lab_mc",
            *common,
        )
        scores[model] = []
        for sample, (_, row) in zip(samples, ours.iterrows(), strict=True):
            harness = [float(resp[0][0]) for resp in sample["resps"]]
            assert harness == pytest.approx(list(row.logprobs), abs=1e-4)
            assert sample["acc"] == float(row.correct)
            scores[model].append(harness)
        assert mean(samples, "acc") == pytest.approx(float(ours.correct.mean()))
        counted = {0 if model == "model" else submission: candidates}
        assert used(api_lab, key_name) == counted  # every request through the gate, as named
        harness_acc, lab_acc = mean(samples, "acc"), float(ours.correct.mean())
        print(f"multiple choice acc, model={model}: harness {harness_acc:.3f}, lab {lab_acc:.3f}")
    plain_scores, steered_scores = ([x for row in run for x in row] for run in scores.values())
    assert steered_scores != pytest.approx(plain_scores, abs=1e-4)  # the vector was applied
