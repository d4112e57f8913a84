"""Private one-time download links: a file handed to one signed-in session, once, for minutes.

A tab produces the bytes (a vector, a GGUF, a report) for a user allowed to have them and calls
:func:`offer`; the user gets ``/downloads/<token>``. The link works only with the cookie of the
session it was made for, only once, and only until it expires (``STEERING_DOWNLOAD_TTL_S``,
default 5 minutes); then the file is deleted. Files sit under random names in a folder emptied at
start-up: nothing in a path comes from a user name, and a stranger holding the link gets a 404
without using it up.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import WebError
from .identity import SignedInUser

ROUTE_PREFIX = "/downloads/"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str) -> str:
    """A download name with no path parts or odd characters (it goes into a header, not a path)."""
    name = _SAFE_NAME.sub("_", Path(str(filename)).name).strip("._") or "download"
    return name[:120]


@dataclass
class _Offer:
    owner_sid: str
    path: Path
    filename: str
    media_type: str
    expires: float


class DownloadOffers:
    """The table of live links and the folder their files wait in; thread-safe."""

    def __init__(
        self, folder: Path, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.folder = Path(folder)
        self.ttl_s = ttl_s
        self._clock = clock
        self._offers: dict[str, _Offer] = {}
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        # Links do not survive a restart, so neither do their files.
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def offer(
        self,
        owner: SignedInUser,
        data: bytes | Path,
        filename: str,
        media_type: str | None = None,
    ) -> str:
        """Keep ``data`` (bytes, or a file which is moved here) for ``owner``'s session; the URL."""
        token = secrets.token_urlsafe(32)
        key = hashlib.sha256(token.encode()).hexdigest()
        path = self.folder / key
        if isinstance(data, bytes | bytearray):
            path.write_bytes(bytes(data))
        else:
            source = Path(data)
            if not source.is_file():
                raise WebError(f"There is no file to download at {source.name!r}; create it again.")
            shutil.move(str(source), path)
        name = safe_filename(filename)
        media = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        with self._lock:
            self._offers[key] = _Offer(
                owner.session_id, path, name, media, self._clock() + self.ttl_s
            )
        self.sweep()
        self._start_sweeper()
        return ROUTE_PREFIX + token

    def take(self, token: str, session_id: str) -> _Offer | None:
        """The offer for this link if it belongs to this session and is live; it is then used up."""
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            found = self._offers.get(key)
            if found is None or found.owner_sid != session_id:
                return None  # a stranger's request leaves the owner's link intact
            del self._offers[key]
        if found.expires <= self._clock():
            found.path.unlink(missing_ok=True)
            return None
        return found

    def sweep(self) -> int:
        """Delete expired offers and their files; how many went."""
        now = self._clock()
        with self._lock:
            expired = [k for k, o in self._offers.items() if o.expires <= now]
            gone = [self._offers.pop(k) for k in expired]
        for item in gone:
            item.path.unlink(missing_ok=True)
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._offers)

    def _start_sweeper(self) -> None:
        # Expired files go within seconds even if nobody asks again (a daemon thread, one per app).
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep_forever, daemon=True)
        self._sweeper.start()

    def _sweep_forever(self) -> None:
        interval = max(0.05, min(self.ttl_s / 4, 15.0))
        while True:
            time.sleep(interval)
            self.sweep()
