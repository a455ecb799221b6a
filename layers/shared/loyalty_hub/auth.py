"""Credential checks shared by the APIs; every comparison is constant-time."""

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass


def presented_secret(authorization: str | None) -> str | None:
    """The secret in an Authorization header: the raw value, or the token of 'Bearer <secret>'."""
    if not authorization:
        return None
    value = authorization.strip()
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return value


def matches_any(presented: str | None, accepted: Iterable[str]) -> bool:
    """True when `presented` equals one of `accepted`; all candidates are compared, no early exit."""
    if presented is None:
        return False
    given = presented.encode()
    found = False
    for candidate in accepted:
        found |= hmac.compare_digest(given, candidate.encode())
    return found


# ----------------------------------------------------------------- DailyStory API keys
# A key reads "<tenant id>.<random>": the tenant is found without a lookup table, and only a hash of the
# key is kept (in the tenant's secret, under DAILYSTORY_KEY_HASHES; several allow rotation).
DAILYSTORY_KEY_HASHES = "dailystory_key_hashes"


@dataclass(frozen=True)
class ApiCredentials:
    tenant_id: str
    key: str


def new_api_key(tenant_id: str) -> str:
    return f"{tenant_id}.{secrets.token_urlsafe(32)}"


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough; there is nothing to brute-force.
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def api_credentials(authorization: str | None) -> ApiCredentials | None:
    """`Bearer <key>`, or `Basic base64(<tenant id>:<key>)`; None when neither can be read."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        key = value
    elif scheme.lower() == "basic":
        try:
            user, sep, key = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep or key.partition(".")[0] != user:
            return None
    else:
        return None
    tenant_id, dot, random_part = key.partition(".")
    if not dot or not tenant_id or not random_part:
        return None
    return ApiCredentials(tenant_id, key)


def key_matches(key: str, hashes: Iterable[str]) -> bool:
    return matches_any(hash_api_key(key), hashes)
