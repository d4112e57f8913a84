"""Code run in child processes by the concurrency and durability tests (importable for spawn)."""

from __future__ import annotations

import sys

from storage import Store


def append_events(url: str, data_dir: str, worker: int, count: int) -> list[int]:
    """Append ``count`` events as fast as possible; return their sequence numbers."""
    with Store.open(url, data_dir) as store:
        return [
            store.record_event("system", "generate", "worker", worker, {"i": i}).seq
            for i in range(count)
        ]


def checkpoint_repeatedly(url: str, data_dir: str, count: int) -> int:
    """Write ``count`` checkpoints on demand (each a log line and an event); returns count."""
    with Store.open(url, data_dir) as store:
        for _ in range(count):
            store.checkpoint()
    return count


def write_forever(url: str, data_dir: str, vector_id: int, evaluation_id: int) -> None:
    """State changes and their events in a loop; report each one only after it committed."""
    with Store.open(url, data_dir) as store:
        i = 0
        while True:
            draft = store.create_submission(vector_id, 0.5, [1, 2], evaluation_id, "alice")
            print(f"created {draft.id}", flush=True)
            store.submit(draft.id, "alice", draft.version)
            print(f"submitted {draft.id}", flush=True)
            event = store.record_event("alice", "generate", "prompt", f"p{i}", {"i": i})
            print(f"event {event.seq}", flush=True)
            i += 1


if __name__ == "__main__":
    write_forever(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))


def open_at_once(url: str, data_dir: str, barrier) -> str:  # noqa: ANN001 - a Manager proxy
    """Wait for the others, then open the store (which creates the key if none exists)."""
    barrier.wait()
    with Store.open(url, data_dir) as store:
        event = store.record_event("system", "generate", "worker", "key-race", {})
        return event.key_id
