"""accord's checkpoints are C2SP signed notes that other implementations write and read byte for byte.

events/notes.py writes and reads `signed-note`, `tlog-checkpoint` and `tlog-cosignature` (Ed25519). These
tests hold it to vectors published with Go's `golang.org/x/mod/sumdb/note` and with the C2SP signed-note
specification, and to a cosigned checkpoint checked against the specifications' formats: the same keys
give the same key strings and the same notes, and their signatures verify. What does not have the
specified form, or does not verify, is refused with NoteError (a ValueError), saying what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.notes import (
    COSIGNATURE,
    ED25519,
    Checkpoint,
    KeyError_,
    NoteError,
    Signature,
    Signer,
    Verifier,
    cosignature_message,
    split_note,
)

# Vector A: golang.org/x/mod/sumdb/note's example key and note.
PETER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_NOTE = (
    PETER_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# Vector B: the C2SP signed-note specification's example.
FOO_VERIFIER = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# Vector C: a checkpoint of three leaves, signed by its log and cosigned by a witness.
LOG_KEY = "PRIVATE+KEY+example.com/log+baa06b0f+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
WITNESS_VERIFIER = "example.com/witness+e48fb910+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
CHECKPOINT_TEXT = "example.com/log\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n"
COSIGNED_AT = 1700000000
COSIGNED_NOTE = (
    CHECKPOINT_TEXT
    + "\n\u2014 example.com/log uqBrD89aatKkKmjblveK3G1QCUgg3caoQe8YmuPI93XZ2BLGctglvMZm1UTI8GbcdTAIAxg0DaZcN+i9N7d6+Ne16AI=\n"
    + "\u2014 example.com/witness 5I+5EAAAAABlU/EA/6OQ+Krb5ExJPrOT9xJNpl8eA3u8OwwuNfenQTH/9JrkFU0RKQdd0vINWNuosC5GsoXZyzrHPyFocDSgmZSsBQ==\n"
)

ROOT = bytes.fromhex("36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1")
"""The root of the tree of leaves "a", "b", "c" (tests/test_merkle.py), the root of CHECKPOINT_TEXT."""


def witness() -> Signer:
    return Signer("example.com/witness", Ed25519PrivateKey.from_private_bytes(bytes(range(32))), COSIGNATURE)


def key_string(name: str, kind: int, key: bytes, *, private: bool = False) -> str:
    """A key string with the key id its name, type and key give (the form checked, not the id)."""
    public = Ed25519PrivateKey.from_private_bytes(key).public_key().public_bytes_raw() if private else key
    key_id = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4].hex()
    encoded = base64.b64encode(bytes([kind]) + key).decode()
    return f"PRIVATE+KEY+{name}+{key_id}+{encoded}" if private else f"{name}+{key_id}+{encoded}"


def with_blob(signature: Signature, blob: bytes) -> Signature:
    return Signature(signature.name, blob[:4], blob, signature.line)


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


class TestGoSumdbNoteVector:
    """Go's sumdb/note example: the same private key gives the same public key and the same signed note."""

    def test_the_private_key_string_round_trips(self) -> None:
        signer = Signer.parse(PETER_KEY)
        assert (signer.name, signer.kind, signer.key_id.hex()) == ("PeterNeumann", ED25519, "c74f20a3")
        assert str(signer) == PETER_KEY

    def test_the_private_key_gives_the_published_verifier_key(self) -> None:
        assert str(Signer.parse(PETER_KEY).verifier) == PETER_VERIFIER
        assert Verifier.parse(PETER_VERIFIER) == Signer.parse(PETER_KEY).verifier
        assert str(Verifier.parse(PETER_VERIFIER)) == PETER_VERIFIER

    def test_signing_the_text_gives_the_published_note(self) -> None:
        assert Signer.parse(PETER_KEY).sign(PETER_TEXT) == PETER_NOTE

    def test_the_published_note_verifies(self) -> None:
        text, signatures = split_note(PETER_NOTE)
        assert text == PETER_TEXT and len(signatures) == 1
        assert signatures[0].name == "PeterNeumann" and signatures[0].key_id.hex() == "c74f20a3"
        assert signatures[0].line == PETER_NOTE[len(PETER_TEXT) + 1 :]
        assert Verifier.parse(PETER_VERIFIER).verify(text, signatures[0]) is None  # a log's key: no time

    def test_a_key_string_may_carry_surrounding_whitespace(self) -> None:
        assert str(Signer.parse(f"  {PETER_KEY}\n")) == PETER_KEY
        assert str(Verifier.parse(f"{PETER_VERIFIER}\n")) == PETER_VERIFIER

    @pytest.mark.parametrize("text", ["no final newline", "a bell\x07\n", "a tab\there\n", "a NUL\x00\n"])
    def test_text_that_a_note_cannot_hold_is_not_signed(self, text: str) -> None:
        with pytest.raises(NoteError, match="must end with a newline and hold no control character but newlines"):
            Signer.parse(PETER_KEY).sign(text)


class TestSignedNoteSpecVector:
    """The C2SP signed-note specification's example note verifies, and changing it in any way does not."""

    def test_the_example_verifies(self) -> None:
        text, signatures = split_note(FOO_NOTE)
        assert text == "This is an example message.\n"
        assert [(s.name, s.key_id.hex()) for s in signatures] == [("example.com/foo", "530d903a")]
        assert Verifier.parse(FOO_VERIFIER).verify(text, signatures[0]) is None

    @pytest.mark.parametrize("text", ["This is an example message!\n", "This is an example message.\n\n", "this is an example message.\n"])
    def test_a_tampered_text_does_not_verify(self, text: str) -> None:
        _, signatures = split_note(FOO_NOTE)
        with pytest.raises(NoteError, match=r"the signature by example.com/foo does not verify"):
            Verifier.parse(FOO_VERIFIER).verify(text, signatures[0])

    @pytest.mark.parametrize("at", [4, 20, 67])
    def test_a_tampered_signature_does_not_verify(self, at: int) -> None:
        text, (signature,) = split_note(FOO_NOTE)
        with pytest.raises(NoteError, match=r"the signature by example.com/foo does not verify"):
            Verifier.parse(FOO_VERIFIER).verify(text, with_blob(signature, flipped(signature.blob, at)))

    def test_a_tampered_key_id_is_not_this_keys_signature(self) -> None:
        text, (signature,) = split_note(FOO_NOTE)
        with pytest.raises(NoteError, match=r"the signature is not by example.com/foo"):
            Verifier.parse(FOO_VERIFIER).verify(text, with_blob(signature, flipped(signature.blob, 0)))

    def test_a_signature_of_another_key_is_not_this_keys(self) -> None:
        text, (signature,) = split_note(PETER_NOTE)
        with pytest.raises(NoteError, match=r"the signature is not by example.com/foo"):
            Verifier.parse(FOO_VERIFIER).verify(text, signature)

    def test_a_truncated_signature_does_not_verify(self) -> None:
        text, (signature,) = split_note(FOO_NOTE)
        with pytest.raises(NoteError, match="does not verify"):
            Verifier.parse(FOO_VERIFIER).verify(text, with_blob(signature, signature.blob[:-1]))


class TestCosignatureVector:
    """A checkpoint signed by its log and cosigned by a witness (cosignature/v1) is the expected note, and
    the witness's key reads back the time it cosigned."""

    def test_the_witness_key_is_a_cosignature_key_with_the_expected_verifier(self) -> None:
        assert str(witness().verifier) == WITNESS_VERIFIER
        assert Verifier.parse(WITNESS_VERIFIER) == Verifier("example.com/witness", witness().public, COSIGNATURE)
        assert Signer.parse(str(witness())).kind == COSIGNATURE
        assert str(Signer.parse(str(witness()))) == str(witness())

    def test_the_log_key_string_round_trips(self) -> None:
        log = Signer.parse(LOG_KEY)
        assert (log.name, log.kind, log.key_id.hex(), str(log)) == ("example.com/log", ED25519, "baa06b0f", LOG_KEY)

    def test_the_cosigned_checkpoint_is_the_expected_note(self) -> None:
        note = Signer.parse(LOG_KEY).sign(CHECKPOINT_TEXT) + witness().cosign(CHECKPOINT_TEXT, COSIGNED_AT)
        assert note == COSIGNED_NOTE

    def test_the_cosignature_line_holds_key_id_time_and_signature(self) -> None:
        _, (_, cosignature) = split_note(COSIGNED_NOTE)
        assert cosignature.key_id.hex() == "e48fb910" and len(cosignature.blob) == 4 + 8 + 64
        assert struct.unpack(">Q", cosignature.blob[4:12]) == (COSIGNED_AT,)

    def test_what_the_witness_signs(self) -> None:
        message = cosignature_message(CHECKPOINT_TEXT, COSIGNED_AT)
        assert message == b"cosignature/v1\ntime 1700000000\n" + CHECKPOINT_TEXT.encode()
        _, (_, cosignature) = split_note(COSIGNED_NOTE)
        witness().key.public_key().verify(cosignature.blob[12:], message)  # raises InvalidSignature if not

    def test_both_signatures_verify_and_the_witness_reads_the_time(self) -> None:
        text, (signed, cosigned) = split_note(COSIGNED_NOTE)
        assert text == CHECKPOINT_TEXT
        assert Signer.parse(LOG_KEY).verifier.verify(text, signed) is None
        assert Verifier.parse(WITNESS_VERIFIER).verify(text, cosigned) == COSIGNED_AT

    def test_a_cosignature_checked_with_the_logs_key_is_refused(self) -> None:
        text, (_, cosigned) = split_note(COSIGNED_NOTE)
        with pytest.raises(NoteError, match=r"the signature is not by example.com/log"):
            Signer.parse(LOG_KEY).verifier.verify(text, cosigned)

    def test_the_logs_signature_checked_with_the_witness_key_is_refused(self) -> None:
        text, (signed, _) = split_note(COSIGNED_NOTE)
        with pytest.raises(NoteError, match=r"the signature is not by example.com/witness"):
            Verifier.parse(WITNESS_VERIFIER).verify(text, signed)

    def test_the_witness_public_key_read_as_a_logs_key_is_another_key(self) -> None:
        """The type is part of the key id: the same Ed25519 key of type 0x01 does not claim the cosignature."""
        text, (_, cosigned) = split_note(COSIGNED_NOTE)
        as_log_key = Verifier("example.com/witness", witness().public, ED25519)
        with pytest.raises(NoteError, match=r"the signature is not by example.com/witness"):
            as_log_key.verify(text, cosigned)

    def test_a_cosignature_with_another_time_does_not_verify(self) -> None:
        text, (_, cosigned) = split_note(COSIGNED_NOTE)
        later = cosigned.blob[:4] + struct.pack(">Q", COSIGNED_AT + 1) + cosigned.blob[12:]
        with pytest.raises(NoteError, match=r"the signature by example.com/witness does not verify"):
            Verifier.parse(WITNESS_VERIFIER).verify(text, with_blob(cosigned, later))

    def test_a_cosignature_of_another_checkpoint_does_not_verify(self) -> None:
        _, (_, cosigned) = split_note(COSIGNED_NOTE)
        other = Checkpoint("example.com/log", 4, ROOT).text()
        with pytest.raises(NoteError, match=r"the signature by example.com/witness does not verify"):
            Verifier.parse(WITNESS_VERIFIER).verify(other, cosigned)

    @pytest.mark.parametrize("cut", [1, 8, 40])
    def test_a_cosignature_of_the_wrong_length_is_refused(self, cut: int) -> None:
        text, (_, cosigned) = split_note(COSIGNED_NOTE)
        with pytest.raises(NoteError, match=r"the cosignature by example.com/witness is not 72 bytes"):
            Verifier.parse(WITNESS_VERIFIER).verify(text, with_blob(cosigned, cosigned.blob[:-cut]))


class TestCheckpoint:
    """A checkpoint's text is its origin, its tree size in decimal and its root hash in base64, a line each."""

    def test_the_vectors_checkpoint_parses_and_writes_back(self) -> None:
        checkpoint = Checkpoint.parse(CHECKPOINT_TEXT)
        assert checkpoint == Checkpoint("example.com/log", 3, ROOT)
        assert checkpoint.text() == CHECKPOINT_TEXT

    @pytest.mark.parametrize("checkpoint", [Checkpoint("o", 0, bytes(32)), Checkpoint("example.com/x", 2**63, b"\xff" * 32)])
    def test_text_and_parse_round_trip(self, checkpoint: Checkpoint) -> None:
        assert Checkpoint.parse(checkpoint.text()) == checkpoint

    def test_lines_after_the_root_are_extension_lines(self) -> None:
        assert Checkpoint.parse(CHECKPOINT_TEXT + "extension line\n") == Checkpoint("example.com/log", 3, ROOT)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "example.com/log\n3\n",
            "example.com/log\n",
            "example.com/log\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=",  # no final newline
            "\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n",  # no origin
            "example.com/log\n\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n",  # no size
        ],
    )
    def test_fewer_than_three_lines_are_refused(self, text: str) -> None:
        with pytest.raises(NoteError, match="a checkpoint's text is three lines: origin, tree size, root hash"):
            Checkpoint.parse(text)

    @pytest.mark.parametrize("size", ["03", "00", "-3", "+3", " 3", "3 ", "3.0", "0x3", "three", "1_000", "1e3"])
    def test_a_size_that_is_not_a_decimal_number_is_refused(self, size: str) -> None:
        with pytest.raises(NoteError, match=re.escape(f"a checkpoint's tree size is a decimal number, not '{size}'")):
            Checkpoint.parse(f"example.com/log\n{size}\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n")

    # `str.isdigit()` holds for other scripts' digits too: a superscript three would reach int() and fail there,
    # and Arabic-Indic or fullwidth digits would be read as a size the text does not spell.
    @pytest.mark.parametrize("size", ["\u00b3", "\u0661\u0662", "\uff13"])
    def test_a_size_in_digits_other_than_ascii_is_refused(self, size: str) -> None:
        with pytest.raises(NoteError, match="a checkpoint's tree size is a decimal number"):
            Checkpoint.parse(f"example.com/log\n{size}\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n")

    @pytest.mark.parametrize("root", [bytes(31), bytes(33), bytes(1), bytes(64)])
    def test_a_root_that_is_not_32_bytes_is_refused(self, root: bytes) -> None:
        with pytest.raises(NoteError, match="a checkpoint's root hash is 32 bytes"):
            Checkpoint.parse(f"example.com/log\n3\n{base64.b64encode(root).decode()}\n")

    @pytest.mark.parametrize(
        "root",
        [
            "NmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE",  # padding left off
            "NmQuc8JUCrEh46a_lUWwokmCzYMOsT080Z3jzmwCHsE=",  # the URL-safe alphabet
            "NmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=!",
            "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1 ",
        ],
    )
    def test_a_root_that_is_not_base64_is_refused(self, root: str) -> None:
        with pytest.raises(NoteError, match="the checkpoint's root hash is not base64"):
            Checkpoint.parse(f"example.com/log\n3\n{root}\n")


class TestSplitNote:
    """A note is its text, a blank line, then one or more signature lines; anything else is refused."""

    def test_the_text_ends_at_the_last_blank_line(self) -> None:
        note = "first paragraph\n\nsecond paragraph\n" + PETER_NOTE[len(PETER_TEXT) :]
        text, signatures = split_note(note)
        assert text == "first paragraph\n\nsecond paragraph\n" and len(signatures) == 1

    def test_every_signature_line_is_taken_in_order(self) -> None:
        _, signatures = split_note(COSIGNED_NOTE)
        assert [s.name for s in signatures] == ["example.com/log", "example.com/witness"]
        assert "".join(s.line for s in signatures) == COSIGNED_NOTE[len(CHECKPOINT_TEXT) + 1 :]

    @pytest.mark.parametrize(
        "note",
        [
            PETER_TEXT + PETER_NOTE[len(PETER_TEXT) + 1 :],  # no blank line before the signatures
            PETER_TEXT.replace("\n", " ") + "\u2014 PeterNeumann x08go/ZJ\n",
            PETER_NOTE.rstrip("\n"),  # the last line unterminated
            "",
        ],
    )
    def test_a_note_without_a_blank_line_is_refused(self, note: str) -> None:
        with pytest.raises(NoteError, match="a signed note is its text, a blank line, then signature lines"):
            split_note(note)

    @pytest.mark.parametrize("note", [PETER_TEXT + "\n", PETER_NOTE + "\n"])
    def test_a_note_without_signature_lines_is_refused(self, note: str) -> None:
        with pytest.raises(NoteError, match="the note has no signature"):
            split_note(note)

    @pytest.mark.parametrize(
        "line",
        [
            "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ==",  # a hyphen, not an em dash
            "\u2014PeterNeumann x08go/ZJkuBS9UG/SffcvIAQ==",  # no space after the dash
            "\u2014 PeterNeumann",  # no signature
            "just text",
        ],
    )
    def test_a_line_that_is_not_a_signature_is_refused(self, line: str) -> None:
        with pytest.raises(NoteError, match="not a signature line"):
            split_note(f"{PETER_TEXT}\n{line}\n")

    def test_a_signature_that_is_not_base64_is_refused(self) -> None:
        with pytest.raises(NoteError, match="the signature by PeterNeumann is not base64"):
            split_note(f"{PETER_TEXT}\n\u2014 PeterNeumann not-base64!\n")

    def test_a_signature_shorter_than_a_key_id_and_a_byte_is_refused(self) -> None:
        with pytest.raises(NoteError, match="the signature by PeterNeumann is too short"):
            split_note(f"{PETER_TEXT}\n\u2014 PeterNeumann {base64.b64encode(b'abcd').decode()}\n")

    def test_a_text_with_a_control_character_is_refused(self) -> None:
        with pytest.raises(NoteError, match="no control character"):
            split_note(PETER_NOTE.replace("problem,", "problem,\x1b"))


class TestKeyStrings:
    """A key string that is not an Ed25519 key of its name and key id is refused with KeyError_ (a NoteError)."""

    def test_the_key_error_is_a_note_error_and_a_value_error(self) -> None:
        assert issubclass(KeyError_, NoteError) and issubclass(NoteError, ValueError)
        assert not issubclass(KeyError_, KeyError)

    @pytest.mark.parametrize("key_id", ["c74f20a4", "00000000", "c74f20a", "c74f20a30"])
    def test_a_wrong_key_id_is_refused(self, key_id: str) -> None:
        with pytest.raises(KeyError_, match=f"the public key's id {key_id} does not match its name and key \\(c74f20a3\\)"):
            Verifier.parse(PETER_VERIFIER.replace("c74f20a3", key_id))
        with pytest.raises(KeyError_, match=f"the private key's id {key_id} does not match its name and key \\(c74f20a3\\)"):
            Signer.parse(PETER_KEY.replace("c74f20a3", key_id))

    def test_a_key_under_another_name_does_not_match_its_id(self) -> None:
        with pytest.raises(KeyError_, match="does not match its name and key"):
            Verifier.parse(PETER_VERIFIER.replace("PeterNeumann", "PeterNeuman"))
        with pytest.raises(KeyError_, match="does not match its name and key"):
            Signer.parse(PETER_KEY.replace("PeterNeumann", "PeterNeuman"))

    @pytest.mark.parametrize("name", ["Peter Neumann", "Peter\tNeumann", "Peter\u00a0Neumann"])
    def test_a_name_with_a_space_is_refused(self, name: str) -> None:
        says = re.escape(f"a key name must be non-empty, with no spaces and no '+': {name!r}")
        with pytest.raises(KeyError_, match=says):
            Verifier.parse(key_string(name, ED25519, bytes(32)))
        with pytest.raises(KeyError_, match=says):
            Signer.parse(key_string(name, ED25519, bytes(range(32)), private=True))
        with pytest.raises(KeyError_, match=says):
            Signer.generate(name)

    def test_an_empty_name_is_refused(self) -> None:
        with pytest.raises(KeyError_, match="a key name must be non-empty"):
            Verifier.parse(key_string("", ED25519, bytes(32)))
        with pytest.raises(KeyError_, match="a key name must be non-empty"):
            Signer.generate("")

    def test_a_name_with_a_plus_is_refused(self) -> None:
        with pytest.raises(KeyError_, match="no '\\+': 'Peter\\+Neumann'"):
            Signer.generate("Peter+Neumann", COSIGNATURE)
        # In a key string the '+' ends the name: what follows does not read as a key.
        with pytest.raises(NoteError, match="the public key is not base64"):
            Verifier.parse(key_string("Peter+Neumann", ED25519, bytes(32)))
        with pytest.raises(NoteError, match="the private key is not base64"):
            Signer.parse(key_string("Peter+Neumann", ED25519, bytes(range(32)), private=True))

    def test_a_key_that_is_not_base64_is_refused_as_a_key(self) -> None:
        with pytest.raises(KeyError_):
            Verifier.parse("PeterNeumann+c74f20a3+not base64!")

    @pytest.mark.parametrize("kind", [0x00, 0x02, 0x03, 0x05, 0xFF])
    def test_a_type_other_than_ed25519_is_refused(self, kind: int) -> None:
        with pytest.raises(KeyError_, match=r"the public key is not an Ed25519 key \(type 0x01 or 0x04 and 32 bytes\)"):
            Verifier.parse(key_string("PeterNeumann", kind, bytes(32)))
        with pytest.raises(KeyError_, match=r"the private key is not an Ed25519 key \(type 0x01 or 0x04 and a 32-byte seed\)"):
            Signer.parse(key_string("PeterNeumann", kind, bytes(range(32)), private=True))

    @pytest.mark.parametrize("length", [0, 31, 33, 64])
    def test_a_key_that_is_not_32_bytes_is_refused(self, length: int) -> None:
        with pytest.raises(KeyError_, match="the public key is not an Ed25519 key"):
            Verifier.parse(key_string("PeterNeumann", ED25519, bytes(length)))

    def test_a_key_of_either_ed25519_type_is_read(self) -> None:
        for kind in (ED25519, COSIGNATURE):
            verifier = Verifier.parse(key_string("PeterNeumann", kind, bytes(range(32, 64))))
            assert (verifier.kind, verifier.public) == (kind, bytes(range(32, 64)))
            signer = Signer.parse(key_string("PeterNeumann", kind, bytes(range(32)), private=True))
            assert (signer.kind, signer.key.private_bytes_raw()) == (kind, bytes(range(32)))

    @pytest.mark.parametrize(
        "text",
        [
            "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3",
            PETER_VERIFIER,
            "",
        ],
    )
    def test_a_private_key_string_of_another_form_is_refused(self, text: str) -> None:
        with pytest.raises(KeyError_, match=r"a private key reads PRIVATE\+KEY\+<name>\+<key id>\+<base64 key>"):
            Signer.parse(text)

    @pytest.mark.parametrize("text", ["PeterNeumann", "PeterNeumann+c74f20a3", ""])
    def test_a_public_key_string_of_another_form_is_refused(self, text: str) -> None:
        with pytest.raises(KeyError_, match=r"a public key reads <name>\+<key id>\+<base64 key>"):
            Verifier.parse(text)

    def test_a_generated_key_round_trips_and_signs_what_it_verifies(self) -> None:
        signer = Signer.generate("example.com/generated")
        assert str(Signer.parse(str(signer))) == str(signer)
        assert Verifier.parse(str(signer.verifier)) == signer.verifier
        text, (signature,) = split_note(signer.sign(CHECKPOINT_TEXT))
        assert signer.verifier.verify(text, signature) is None
