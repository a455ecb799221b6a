"""What a warm execution environment keeps between invocations (clients, settings, dependencies,
tenants, secrets, tokens, HTTP sessions), registered where it is kept. `forget_all()` drops all of it
at once: a test starts cold, and nobody keeps a list of caches by hand."""

from collections.abc import Callable
from functools import cache
from typing import Any

_FORGETTERS: list[Callable[[], None]] = []


def forgets(forget: Callable[[], None]) -> Callable[[], None]:
    """Registers `forget`, which drops what its module keeps; returns it unchanged (usable as a decorator)."""
    _FORGETTERS.append(forget)
    return forget


def cached[F: Callable[..., Any]](function: F) -> F:
    """functools.cache, registered: what it remembers is forgotten by forget_all()."""
    remembered = cache(function)
    _FORGETTERS.append(remembered.cache_clear)
    return remembered  # type: ignore[return-value]


def forget_all() -> None:
    for forget in _FORGETTERS:
        forget()
