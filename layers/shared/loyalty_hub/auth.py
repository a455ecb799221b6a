"""Credential checks shared by the APIs; every comparison is constant-time."""

import hmac
from collections.abc import Iterable


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
