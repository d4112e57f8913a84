"""Audit-chain append throughput: events/s with 1 and 4 writer processes, SQLite and PostgreSQL.

Each event is one full unit of work as the dashboard does it: a write transaction, the chain-head
lock, one appended event, commit (fsync). Prints a table and writes bench/results/storage.json.

    python bench/storage_bench.py [--events 400] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from storage import Store  # noqa: E402


def _writer(url: str, data_dir: str, count: int, start, ready) -> float:
    with Store.open(url, data_dir) as store:
        store.record_event("system", "bench.warmup", "bench", "w", {})
        ready.wait()
        start.wait()
        t0 = time.perf_counter()
        for i in range(count):
            store.record_event("system", "generate", "bench", str(i), {"i": i, "text": "x" * 64})
        return time.perf_counter() - t0


def measure(url: str, data_dir: str, processes: int, events: int) -> dict:
    Store.open(url, data_dir).close()  # migrate before the clock starts
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    ready, start = manager.Barrier(processes + 1), manager.Barrier(processes + 1)
    per = events // processes
    with ctx.Pool(processes) as pool:
        jobs = [
            pool.apply_async(_writer, (url, data_dir, per, start, ready)) for _ in range(processes)
        ]
        ready.wait()
        t0 = time.perf_counter()
        start.wait()
        for job in jobs:
            job.get()
        wall = time.perf_counter() - t0
    manager.shutdown()
    with Store.open(url, data_dir) as store:
        verified = store.verify()
    if not verified.ok:
        raise SystemExit(f"the benchmark broke the audit chain: {verified.message}")
    return {
        "processes": processes,
        "events": per * processes,
        "seconds": round(wall, 3),
        "events_per_s": round(per * processes / wall, 1),
        "chain_ok": verified.ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for procs in (1, 4):
            url = f"sqlite:///{tmp}/bench-{procs}.db"
            rows.append({"backend": "sqlite", **measure(url, tmp, procs, args.events)})
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        else:
            for procs in (1, 4):
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                try:
                    url = (
                        make_url(args.pg_url)
                        .update_query_dict({"options": f"-csearch_path={schema}"})
                        .render_as_string(hide_password=False)
                    )
                    rows.append({"backend": "postgresql", **measure(url, tmp, procs, args.events)})
                finally:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    base = {r["backend"]: r["events_per_s"] for r in rows if r["processes"] == 1}
    print(
        f"{'backend':<11} {'procs':>5} {'events':>6} {'seconds':>8} {'events/s':>9} {'vs 1 proc':>9}"
    )
    for r in rows:
        ratio = r["events_per_s"] / base[r["backend"]]
        r["ratio_vs_1_process"] = round(ratio, 2)
        print(
            f"{r['backend']:<11} {r['processes']:>5} {r['events']:>6} {r['seconds']:>8.2f} "
            f"{r['events_per_s']:>9.1f} {ratio:>8.2f}x"
        )
    out = ROOT / "bench" / "results" / "storage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": multiprocessing.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
