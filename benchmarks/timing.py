"""CPU time of two pieces of work, measured alternately so that load and the machine's state fall on both."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pairs:
    a_ms: float  # median CPU ms of the first
    b_ms: float  # median CPU ms of the second
    ratio: float  # median of the pairwise ratios b / a
    a_min_ms: float  # the fastest run of each: noise only ever adds time
    b_min_ms: float


def interleaved(a: Callable[[], object], b: Callable[[], object], pairs: int) -> Pairs:
    """Runs a then b, `pairs` times. No collection between runs: it returns arenas to the system and the
    next run pays page faults for them (+40 % here), which a warm function does not."""
    ratios: list[float] = []
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(pairs):
        for work, taken in ((a, samples[0]), (b, samples[1])):
            start = time.process_time()
            work()
            taken.append((time.process_time() - start) * 1000)
        ratios.append(samples[1][-1] / samples[0][-1])
    return Pairs(
        statistics.median(samples[0]),
        statistics.median(samples[1]),
        statistics.median(ratios),
        min(samples[0]),
        min(samples[1]),
    )
