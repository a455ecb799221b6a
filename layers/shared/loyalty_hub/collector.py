"""The cyclic garbage collector held off while one delivery is applied (D51).

A delivery builds a handful of objects per entity (its facts, items, slots), all alive until the
delivery is written, and makes no reference cycles: each collection the allocations trigger walks them
again, and the full ones walk every module the function imported too (18 % of a 1,000-bill run;
pausing saves 8-13 %, `make bench` part 1). Reference counting frees everything as before; a cycle, if
one is made, goes at the first collection after.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Collector off for the block (or the decorated function), then as it was found."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
