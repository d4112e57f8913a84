"""Audit-chain append throughput, signed vs plain, with 1 and 4 writer processes, SQLite and PG.

Each event is one full unit of work as the dashboard does it: a write transaction, the chain-head
lock, one appended event, commit (fsync). "signed" is the store as shipped (Ed25519 signature per
event, a checkpoint every 100 events); "plain" is the same store with signing and checkpoints
switched off, i.e. the chain as it was before. The ratio signed/plain is the cost of signing
(goal: >= 0.8). Prints a table and writes bench/results/storage.json.

    python bench/storage_bench.py [--events 400] [--repeats 3] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from storage import Store, audit  # noqa: E402


class _NoSignature:
    """Stands in for the signer: events get no signature (the chain before signing)."""

    key_id = None

    def sign(self, message: bytes) -> None:
        return None


class PlainStore(Store):
    """The shipped store minus signing and checkpoints, for the side-by-side comparison."""

    def _signer(self):  # type: ignore[override]
        return _NoSignature()

    def _checkpoint_if_due(self, *args, **kwargs) -> None:  # type: ignore[override]
        return None


def _writer(url: str, data_dir: str, count: int, signed: bool, start, ready) -> float:
    kind = Store if signed else PlainStore
    with kind.open(url, data_dir) as store:
        store.record_event("system", "bench.warmup", "bench", "w", {})
        ready.wait()
        start.wait()
        t0 = time.perf_counter()
        for i in range(count):
            store.record_event("system", "generate", "bench", str(i), {"i": i, "text": "x" * 64})
        return time.perf_counter() - t0


def _chain_ok(url: str, data_dir: str, signed: bool) -> bool:
    if signed:
        with Store.open(url, data_dir) as store:
            return store.verify().ok
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            return audit.verify(session).ok
    finally:
        engine.dispose()


def measure(url: str, data_dir: str, processes: int, events: int, signed: bool) -> dict:
    (Store if signed else PlainStore).open(url, data_dir).close()  # migrate before the clock
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    ready, start = manager.Barrier(processes + 1), manager.Barrier(processes + 1)
    per = events // processes
    with ctx.Pool(processes) as pool:
        jobs = [
            pool.apply_async(_writer, (url, data_dir, per, signed, start, ready))
            for _ in range(processes)
        ]
        ready.wait()
        t0 = time.perf_counter()
        start.wait()
        for job in jobs:
            job.get()
        wall = time.perf_counter() - t0
    manager.shutdown()
    if not _chain_ok(url, data_dir, signed):
        raise SystemExit(f"the benchmark broke the audit chain at {url}")
    return {
        "events": per * processes,
        "seconds": round(wall, 3),
        "events_per_s": per * processes / wall,
    }


def _pg_urls(pg_url: str):
    """Yield a URL with a fresh schema for each use, dropping it afterwards; None if no server."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        admin.dispose()
        return None

    def fresh():
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(pg_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        return url, schema

    def drop(schema: str) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    return fresh, drop, admin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of plain + signed")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pg = _pg_urls(args.pg_url)
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and pg is None:
                continue
            for procs in (1, 4):
                result = {"backend": backend, "processes": procs}
                rates: dict[bool, list[float]] = {False: [], True: []}
                # Alternate plain and signed, several rounds, and keep the medians: on a shared
                # machine the disk's fsync time drifts more than signing costs.
                for round_ in range(args.repeats):
                    for signed in (False, True):
                        folder = Path(tmp) / f"{backend}-{procs}-{signed}-{round_}"
                        if backend == "sqlite":
                            url = f"sqlite:///{folder}/lab.db"
                            got = measure(url, str(folder), procs, args.events, signed)
                        else:
                            fresh, drop, _ = pg
                            url, schema = fresh()
                            try:
                                got = measure(url, str(folder), procs, args.events, signed)
                            finally:
                                drop(schema)
                        rates[signed].append(got["events_per_s"])
                        result["events"] = got["events"]
                result["plain_events_per_s"] = round(statistics.median(rates[False]), 1)
                result["signed_events_per_s"] = round(statistics.median(rates[True]), 1)
                result["signed_vs_plain"] = round(
                    result["signed_events_per_s"] / result["plain_events_per_s"], 2
                )
                rows.append(result)
        if pg is not None:
            pg[2].dispose()
    print(
        f"{'backend':<11} {'procs':>5} {'events':>6} {'plain ev/s':>10} {'signed ev/s':>11} {'signed/plain':>12}"
    )
    for r in rows:
        print(
            f"{r['backend']:<11} {r['processes']:>5} {r['events']:>6} "
            f"{r['plain_events_per_s']:>10.1f} {r['signed_events_per_s']:>11.1f} "
            f"{r['signed_vs_plain']:>11.2f}x"
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
