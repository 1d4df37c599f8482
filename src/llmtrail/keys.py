"""Project API keys: generated once, shown once, kept only as a SHA-256 hash.

The secrets are 256 random bits, so a fast hash is enough: nothing can be brute-forced.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "ltk_"


def new_secret() -> str:
    """A new project key as shown to the admin once: ``ltk_`` + 43 url-safe characters."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a key, the only form a store keeps."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a key, kept so an admin can tell keys apart."""
    return secret[: len(PREFIX) + 6]


def same_key(a: str, b: str) -> bool:
    """Constant-time comparison (for the admin key, which is not stored hashed)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
