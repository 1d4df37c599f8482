"""The Ed25519 key that signs ledger checkpoints (``cryptography``).

The key comes from ``AUDIT_TRAIL_SIGNING_KEY`` (a PEM private key, or the 32-byte seed in
base64 or hex) or else from a key file (``AUDIT_TRAIL_SIGNING_KEY_FILE``), generated with
mode 0600 on first use; its path is logged once, the key never. Public keys are shown and
accepted as base64 of the 32 raw bytes (what ``GET …/checkpoints/latest`` returns) or PEM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from llmtrail.errors import ValidationError

log = logging.getLogger("llmtrail.ledger")


class Verifier:
    """Checks checkpoint signatures against one public key."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        #: base64 of the 32 raw bytes
        self.public_key = base64.b64encode(raw).decode()
        #: a short fingerprint naming the key (hex of SHA-256, 16 characters)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


class Signer(Verifier):
    """Signs checkpoints with an Ed25519 private key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def parse_private_key(text: str, *, field: str = "AUDIT_TRAIL_SIGNING_KEY") -> Signer:
    """A signer from a PEM private key or a 32-byte seed in base64 or hex."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return Signer(key)
        return Signer(Ed25519PrivateKey.from_private_bytes(_raw32(text)))
    except ValueError as e:
        raise ValidationError(
            f"is not an Ed25519 private key (PEM, or 32 bytes in base64 or hex): {e}",
            field=field,
        ) from None


def parse_public_key(text: str, *, field: str = "publicKey") -> Verifier:
    """A verifier from a public key: base64 of the 32 raw bytes, hex, or PEM — or a file
    holding one of these."""
    text = text.strip()
    if not text.startswith("-----BEGIN") and len(text) < 4096:
        path = Path(text)
        try:
            if path.is_file():
                text = path.read_text().strip()
        except OSError:
            pass
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return Verifier(key)
        return Verifier(Ed25519PublicKey.from_public_bytes(_raw32(text)))
    except ValueError as e:
        raise ValidationError(
            f"is not an Ed25519 public key (base64 of 32 bytes, hex, or PEM): {e}", field=field
        ) from None


def _raw32(text: str) -> bytes:
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4),
            altchars=b"-_" if "-" in text or "_" in text else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        raise ValueError("not base64 or hex") from None
    if len(raw) != 32:
        raise ValueError(f"{len(raw)} bytes, not 32")
    return raw


def load_signer(key: str | None, key_file: Path) -> Signer:
    """The configured signer: ``key`` when given, else the key file (created when missing).
    A key file that cannot be read or created raises ``ValidationError`` naming the setting."""
    if key:
        return parse_private_key(key)
    try:
        return _load_or_create(key_file)
    except OSError as e:
        raise ValidationError(
            f"cannot read or create the signing key file {key_file}: {e.strerror or e}; set "
            "AUDIT_TRAIL_SIGNING_KEY or point this at a writable path",
            field="AUDIT_TRAIL_SIGNING_KEY_FILE",
        ) from None


def _load_or_create(key_file: Path) -> Signer:
    field = "AUDIT_TRAIL_SIGNING_KEY_FILE"
    try:
        return parse_private_key(key_file.read_text(), field=field)
    except FileNotFoundError:
        pass
    signer = Signer.generate()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use that one
        return parse_private_key(key_file.read_text(), field=field)
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_pem())
    log.warning(
        "generated a ledger signing key in %s (public key %s); keep it safe, or set "
        "AUDIT_TRAIL_SIGNING_KEY",
        key_file.resolve(),
        signer.public_key,
    )
    return signer
