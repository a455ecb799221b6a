"""How long to wait before a failed remote call is tried again."""

import random
from collections.abc import Callable

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 900.0


def full_jitter(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    return rng(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
