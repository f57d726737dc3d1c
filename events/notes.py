"""Signed checkpoints and cosignatures, in the formats of the C2SP specifications that Go's checksum
database and Sigstore follow: `signed-note`, `tlog-checkpoint` and `tlog-cosignature` (Ed25519).

A checkpoint is a note whose text is three lines: the log's origin, its tree size, its root hash (base64).
The log signs the text; each witness adds a cosignature line that also covers the time it cosigned. Any
tool that reads these formats (Go's `golang.org/x/mod/sumdb/note`, for one) can check accord's checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "COSIGNATURE",
    "ED25519",
    "Checkpoint",
    "KeyError_",
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "cosignature_message",
    "signed_by",
    "split_note",
]

ED25519 = 0x01
"""The signature type of a log's Ed25519 key (signed-note)."""
COSIGNATURE = 0x04
"""The signature type of a witness's Ed25519 cosignature key (tlog-cosignature, cosignature/v1)."""
DASH = "\u2014 "
"""What starts a signature line: an em dash and a space."""

_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]*")
"""A tree size: ASCII decimal, no leading zero (str.isdigit would take other scripts' digits too)."""


class NoteError(ValueError):
    """A note, checkpoint or signature that does not have the specified form, or does not verify."""


class KeyError_(NoteError):  # KeyError is a builtin with another meaning
    """A key string that is not a key."""


def _key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise KeyError_(f"a key name must be non-empty, with no spaces and no '+': {name!r}")
    return name


def _b64(text: str, what: str, error_type: type[NoteError] = NoteError) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise error_type(f"{what} is not base64: {error}") from None


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with its name: a log's (type 0x01) or a witness's (type 0x04)."""

    name: str
    key: Ed25519PrivateKey
    kind: int = ED25519

    @classmethod
    def generate(cls, name: str, kind: int = ED25519) -> Signer:
        return cls(_check_name(name), Ed25519PrivateKey.generate(), kind)

    @classmethod
    def parse(cls, text: str) -> Signer:
        """A key in the form `PRIVATE+KEY+<name>+<key id hex>+<base64(type || seed)>` (Go's sumdb/note)."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:  # the five parts of the form
            raise KeyError_("a private key reads PRIVATE+KEY+<name>+<key id>+<base64 key>")
        name, key = _check_name(parts[2]), _b64(parts[4], "the private key", KeyError_)
        if len(key) != 33 or key[0] not in (ED25519, COSIGNATURE):  # type byte and 32-byte seed
            raise KeyError_("the private key is not an Ed25519 key (type 0x01 or 0x04 and a 32-byte seed)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]), key[0])
        if signer.key_id.hex() != parts[3]:
            raise KeyError_(f"the private key's id {parts[3]} does not match its name and key ({signer.key_id.hex()})")
        return signer

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.kind, self.public)

    def __str__(self) -> str:
        seed = self.key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.kind]) + seed).decode()}"

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public, self.kind)

    def sign(self, text: str) -> str:
        """The note of `text` signed by this (log's) key: the text, a blank line, the signature line."""
        _check_text(text)
        signature = self.key.sign(text.encode())
        return f"{text}\n{DASH}{self.name} {base64.b64encode(self.key_id + signature).decode()}\n"

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """A cosignature line (cosignature/v1) of this witness's key on a checkpoint's text, at `timestamp`."""
        signature = self.key.sign(cosignature_message(checkpoint_text, timestamp))
        blob = self.key_id + struct.pack(">Q", timestamp) + signature
        return f"{DASH}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Signature:
    """One signature line of a note, taken apart (not yet verified)."""

    name: str
    key_id: bytes
    blob: bytes
    line: str


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key with its name, in the form `<name>+<key id hex>+<base64(type || key)>`."""

    name: str
    public: bytes
    kind: int = ED25519

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:  # name, key id, key
            raise KeyError_("a public key reads <name>+<key id>+<base64 key>")
        name, key = _check_name(parts[0]), _b64(parts[2], "the public key", KeyError_)
        if len(key) != 33 or key[0] not in (ED25519, COSIGNATURE):  # type byte and 32-byte key
            raise KeyError_("the public key is not an Ed25519 key (type 0x01 or 0x04 and 32 bytes)")
        verifier = cls(name, key[1:], key[0])
        if verifier.key_id.hex() != parts[1]:
            raise KeyError_(f"the public key's id {parts[1]} does not match its name and key ({verifier.key_id.hex()})")
        return verifier

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.kind, self.public)

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.kind]) + self.public).decode()}"

    def verify(self, text: str, signature: Signature) -> int | None:
        """Check `signature` (one line of a note) over `text`; the cosignature's time for a witness's key.
        Raises NoteError when it is this key's and does not verify."""
        if signature.name != self.name or signature.key_id != self.key_id:
            raise NoteError(f"the signature is not by {self.name}")
        key = Ed25519PublicKey.from_public_bytes(self.public)
        timestamp: int | None = None
        body, message = signature.blob[4:], text.encode()
        if self.kind == COSIGNATURE:
            if len(body) != 72:  # 8-byte time and 64-byte signature
                raise NoteError(f"the cosignature by {self.name} is not 72 bytes")
            timestamp, body = struct.unpack(">Q", body[:8])[0], body[8:]
            message = cosignature_message(text, timestamp)
        try:
            key.verify(body, message)
        except InvalidSignature:
            raise NoteError(f"the signature by {self.name} does not verify") from None
        return timestamp


def signed_by(text: str, signatures: Sequence[Signature], keys: Iterable[Verifier]) -> bool:
    """Whether one of `keys` signed `text`: among the note's `signatures`, one by a key of that name and id that
    verifies (signatures by other keys are not looked at, as signed-note says)."""
    for key in keys:
        for signature in signatures:
            if (signature.name, signature.key_id) != (key.name, key.key_id):
                continue
            try:
                key.verify(text, signature)
            except NoteError:
                continue
            return True
    return False


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a witness signs (tlog-cosignature, cosignature/v1)."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):  # control characters
        raise NoteError("a note's text must end with a newline and hold no control character but newlines")


def split_note(note: str) -> tuple[str, list[Signature]]:
    """A note's text and its signature lines (signed-note: the text ends at the last blank line)."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is its text, a blank line, then signature lines")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    _check_text(text)
    signatures: list[Signature] = []
    for line in lines:
        name, space, blob_text = line.removeprefix(DASH).partition(" ")
        if not line.startswith(DASH) or not space:
            raise NoteError(f"not a signature line: {line!r}")
        blob = _b64(blob_text, f"the signature by {name}")
        if len(blob) < 5:  # a key id and at least one byte
            raise NoteError(f"the signature by {name} is too short")
        signatures.append(Signature(name, blob[:4], blob, line + "\n"))
    if not signatures:
        raise NoteError("the note has no signature")
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint's text: the log's origin, its tree size and its root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or "" in lines[:3]:  # three lines and the last newline
            raise NoteError("a checkpoint's text is three lines: origin, tree size, root hash")
        origin, size, root = lines[:3]
        if not _SIZE.fullmatch(size):
            raise NoteError(f"a checkpoint's tree size is a decimal number, not {size!r}")
        digest = _b64(root, "the checkpoint's root hash")
        if len(digest) != 32:  # SHA-256
            raise NoteError("a checkpoint's root hash is 32 bytes")
        return cls(origin, int(size), digest)
