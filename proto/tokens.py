"""Bearer tokens of the API, as client and server both need them: a secret is 256 random
bits (URL-safe text); the controller's tokens file holds only its SHA-256 (a fast hash is
enough for secrets that cannot be guessed)."""
from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def token_digest(secret: str) -> str:
    """What the tokens file holds for ``secret``: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh token secret and its digest."""
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    return secret, token_digest(secret)
