"""The audit trail's Ed25519 signing key and its public keyring, kept outside the database.

Whoever can write to the database can recompute a plain hash chain; they cannot produce a
signature without the private key, which therefore never goes into the database. Files (by default
in the data folder; ``STEERING_AUDIT_KEY_FILE`` names another private key file, e.g. one kept off a
PostgreSQL host):

* ``audit-signing.key``: the private key, PKCS#8 PEM, mode 0600.
* ``audit-signing.pub``: the keyring, JSON: every public key that ever signed this chain and the
  first event it signed (a rotation adds one). Anyone can verify with it; it holds no secret.
* ``audit-signing.hmac``: a random secret for keyed hashes of names typed at a failed sign-in.

New files are written to a temporary name and linked into place (``os.link`` refuses to replace
an existing name), so several processes creating the key at once end with one complete key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import StorageError
from .files import create_exclusive, replace_file
from .settings import AUDIT_KEY_FILE, settings

DEFAULT_KEY_NAME = "audit-signing.key"
KEYRING_FORMAT = "control-vector-lab audit keyring"


class SigningKeyError(StorageError):
    """The signing key or keyring is missing, unreadable or does not match this chain."""


@dataclass(frozen=True)
class KeyPaths:
    """Where the private key, the public keyring and the sign-in HMAC secret live."""

    private: Path
    keyring: Path
    hmac_secret: Path


def key_paths(data_dir: Path) -> KeyPaths:
    """``$STEERING_AUDIT_KEY_FILE``, else ``<data_dir>/audit-signing.key``, and its neighbours."""
    named = settings().audit_key_file
    private = Path(named).expanduser().resolve() if named else data_dir / DEFAULT_KEY_NAME
    stem = private.name[: -len(".key")] if private.name.endswith(".key") else private.name
    return KeyPaths(
        private=private,
        keyring=private.with_name(stem + ".pub"),
        hmac_secret=private.with_name(stem + ".hmac"),
    )


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """A key's short name: the first 16 hex digits of the SHA-256 of its raw 32 bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _load_public_pem(text: str, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise SigningKeyError(f"{where} does not hold a readable public key ({exc}).") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where} holds a public key that is not Ed25519.")
    return key


@dataclass(frozen=True)
class KeyringEntry:
    key_id: str
    public_key: Ed25519PublicKey
    first_seq: int


@dataclass(frozen=True)
class Keyring:
    """Every public key that signed the chain, each from ``first_seq`` until the next one's."""

    entries: tuple[KeyringEntry, ...]

    def entry_for(self, seq: int) -> KeyringEntry:
        """The key in use when event ``seq`` was written (the first key for seq 0)."""
        chosen = self.entries[0]
        for entry in self.entries:
            if entry.first_seq <= seq:
                chosen = entry
        return chosen

    @property
    def current(self) -> KeyringEntry:
        return self.entries[-1]

    def key_ids(self) -> set[str]:
        return {e.key_id for e in self.entries}

    def verify(self, seq: int, key_id: str | None, message: bytes, signature: str | None) -> bool:
        """Whether ``signature`` over ``message`` is by the key in use at ``seq``."""
        entry = self.entry_for(seq)
        if signature is None or key_id != entry.key_id:
            return False
        try:
            entry.public_key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def with_key(self, public_key: Ed25519PublicKey, first_seq: int) -> Keyring:
        return Keyring(
            (*self.entries, KeyringEntry(fingerprint(public_key), public_key, first_seq))
        )

    def to_text(self) -> str:
        keys = [
            {"key_id": e.key_id, "first_seq": e.first_seq, "public_key": _public_pem(e.public_key)}
            for e in self.entries
        ]
        doc = {"format": KEYRING_FORMAT, "version": 1, "keys": keys}
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_text(cls, text: str, where: str) -> Keyring:
        """A keyring file, or a single PEM public key (taken as signing every event)."""
        if text.lstrip().startswith("-----BEGIN"):
            key = _load_public_pem(text, where)
            return cls((KeyringEntry(fingerprint(key), key, 1),))
        try:
            doc = json.loads(text)
            if doc.get("format") != KEYRING_FORMAT:
                raise ValueError("not an audit keyring")
            entries = []
            for item in doc["keys"]:
                key = _load_public_pem(item["public_key"], where)
                if fingerprint(key) != item["key_id"]:
                    raise ValueError(f"key {item['key_id']} does not match its fingerprint")
                entries.append(KeyringEntry(item["key_id"], key, int(item["first_seq"])))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SigningKeyError(
                f"{where} is not an audit keyring or a PEM public key ({exc})."
            ) from exc
        if not entries:
            raise SigningKeyError(f"{where} lists no public key.")
        return cls(tuple(sorted(entries, key=lambda e: e.first_seq)))


def load_keyring(path: Path) -> Keyring:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SigningKeyError(
            f"There is no public key file at {path}. Give the keyring with --public-key, or "
            "restore it from a backup (it lists the keys that signed this audit trail)."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"The public key file {path} cannot be read ({exc}).") from exc
    return Keyring.from_text(text, str(path))


class Signer:
    """The private key in use: signs event hashes and checkpoints."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = fingerprint(self.public_key)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode("ascii")

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_signer(path: Path) -> Signer:
    """The private key at ``path``; a clear error when it is missing or unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningKeyError(
            f"The audit signing key {path} is missing, and this audit trail already has signed "
            f"events, so no new key is made silently. Restore the key from a backup, set "
            f"{AUDIT_KEY_FILE} to where it is, or retire it with 'python -m storage rotate-key'."
        ) from exc
    except OSError as exc:
        raise SigningKeyError(f"The audit signing key {path} cannot be read ({exc}).") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(
            f"{path} is not a usable private key (expected an unencrypted PKCS#8 PEM Ed25519 "
            "key). Restore the right file or retire it with 'python -m storage rotate-key'."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"The key in {path} is not an Ed25519 key.")
    return Signer(key)


def open_signer(paths: KeyPaths, *, may_create: bool) -> Signer:
    """The signing key, created (exclusively) when ``may_create`` and none exists yet.

    ``may_create`` is true only while the chain has no signed event: an empty chain, or the
    migration that signs an old one. Afterwards a missing key is an error, never a new key.
    The key must be the keyring's current key, so a swapped key file is caught here.
    """
    if may_create and not paths.private.exists():
        fresh = Signer.generate()
        create_exclusive(paths.private, fresh.private_pem(), 0o600)  # loser loads the winner's
    signer = load_signer(paths.private)
    if may_create:
        keyring = Keyring((KeyringEntry(signer.key_id, signer.public_key, 1),))
        create_exclusive(paths.keyring, keyring.to_text().encode("utf-8"), 0o644)
    keyring = load_keyring(paths.keyring)
    if keyring.current.key_id != signer.key_id:
        raise SigningKeyError(
            f"The signing key {paths.private} (key {signer.key_id}) is not the current key of "
            f"the keyring {paths.keyring} (key {keyring.current.key_id}): a wrong key file is in "
            "place. Restore the right one, or retire the lost one with "
            "'python -m storage rotate-key'."
        )
    return signer


def install_key(paths: KeyPaths, keyring: Keyring, signer: Signer) -> None:
    """Put a rotated key in place: the keyring listing it first, then the private key.

    The old private key is overwritten, not kept: a retired key should sign nothing more.
    """
    replace_file(paths.keyring, keyring.to_text().encode("utf-8"), 0o644)
    replace_file(paths.private, signer.private_pem(), 0o600)


def login_secret(paths: KeyPaths) -> bytes:
    """The HMAC secret for names typed at failed sign-ins (made on first use)."""
    if not paths.hmac_secret.exists():
        create_exclusive(paths.hmac_secret, secrets.token_hex(32).encode("ascii"), 0o600)
    try:
        return paths.hmac_secret.read_bytes().strip()
    except OSError as exc:
        raise SigningKeyError(f"The secret {paths.hmac_secret} cannot be read ({exc}).") from exc


def keyed_hash(secret: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text``: equal inputs match, the text itself cannot be read back."""
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
