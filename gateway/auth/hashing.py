"""Hashing for what the server must recognise but never keep: passwords, client secrets, tokens, codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_password_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash, for passwords and client secrets (low-entropy or long-lived)."""
    return _password_hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the account does not exist, so timing does not reveal it.
_ABSENT_ACCOUNT_HASH = _password_hasher.hash(secrets.token_urlsafe(16))


def spend_equal_time() -> None:
    verify_password(_ABSENT_ACCOUNT_HASH, "not-the-password")


def digest(token: str) -> str:
    """sha256 of a high-entropy token (refresh token, code): enough to look it up, useless if stolen."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(length: int = 48) -> str:
    return secrets.token_urlsafe(length)


def keyed_digest(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
