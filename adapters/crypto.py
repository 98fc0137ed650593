"""Secrets at rest and password hashes: Fernet with a key derived from ALERTWHISPERER_DATA_KEY, bcrypt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import bcrypt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

API_KEY_PREFIX = "aw_"
BCRYPT_ROUNDS = 12


class DataCipher:
    """Encrypts small secrets (HMAC secrets, cloud credentials) for storage."""

    def __init__(self, data_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"alertwhisperer-data-v1").derive(
            data_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken as exc:  # a wrong ALERTWHISPERER_DATA_KEY, most likely
            raise ValueError("stored secret cannot be decrypted with this data key") from exc


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


def api_key_hash(api_key: str) -> str:
    """API keys are high-entropy, so a plain SHA-256 is enough (and fast on the ingest path)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def api_key_hint(api_key: str) -> str:
    return api_key[:7] + "…"


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:72], password_hash.encode())
    except ValueError:
        return False


#: A real hash to compare against when the user does not exist, so timing does not reveal accounts.
DUMMY_PASSWORD_HASH = "$2b$12$sjtWzAHcjML6NibK/9/08.a6iQcvrV084a4BK073PeFU835g3Hp6e"


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
