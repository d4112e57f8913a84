"""docs/results.md names the example sets its runs used: those hashes must be the committed sets'
(content hash and file sha256), and every run's JSON in docs/results/ must name the same set."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from steering.data.examples import load_examples

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| (\w+) \| `(assets/examples/[\w.]+)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$"
)


def _data_rows() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    return [m.groups() for line in text.splitlines() if (m := ROW.match(line))]


def test_the_hashes_in_results_md_are_the_committed_sets():
    rows = _data_rows()
    assert {name for name, *_ in rows} == {"arithmetic", "deduction", "ioi"}
    for _name, path, content_hash, file_sha in rows:
        assert load_examples(ROOT / path).content_hash == content_hash, path
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == file_sha, path


def test_every_committed_run_used_the_sets_named_in_results_md():
    by_set = {name: (content, sha) for name, _path, content, sha in _data_rows()}
    runs = sorted((ROOT / "docs" / "results").glob("*.json"))
    assert runs
    for run in runs:
        setup = json.loads(run.read_text())["setup"]
        assert by_set[setup["set"]] == (setup["set_content_hash"], setup["set_file_sha256"]), run
