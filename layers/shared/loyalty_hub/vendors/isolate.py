"""Finding the record a vendor refused in a group it refused whole, by halving the group.

A vendor that refuses an upload of n records without naming the bad one is asked again with each
half; a half it accepts is done, and a half it refuses is halved again. One bad record among n costs
at most 2·ceil(log2 n) + 1 requests (fewer when the accepted half comes first: then the other half is
known to be refused and is split without being sent), and only that record fails.
"""

from collections.abc import Callable, Sequence

from loyalty_hub.remote.errors import PermanentError, VendorError, deferred


def isolate[K, T](
    records: Sequence[tuple[K, T]],
    send: Callable[[list[T]], None],
    *,
    time_left: Callable[[], float] = lambda: float("inf"),
) -> dict[K, VendorError]:
    """Sends `records` (key, payload) as one group; returns {key: why} for the records not accepted."""
    errors: dict[K, VendorError] = {}

    def attempt(group: Sequence[tuple[K, T]], refused: PermanentError | None = None) -> None:
        """`refused`: the group is known to be refused (with this answer) without sending it again."""
        if refused is None:
            if time_left() <= 0:
                errors.update(dict.fromkeys((key for key, _ in group), deferred("out of time")))
                return
            try:
                send([payload for _, payload in group])
                return
            except PermanentError as error:
                refused = error
            except VendorError as error:  # retryable: the whole group waits, nothing is refused
                errors.update(dict.fromkeys((key for key, _ in group), error))
                return
        if len(group) == 1:
            errors[group[0][0]] = refused
            return
        middle = len(group) // 2
        before = len(errors)
        attempt(group[:middle])
        # The first half was accepted whole: the refused record is in the second half, known without a test.
        attempt(group[middle:], refused if len(errors) == before else None)

    if records:
        attempt(records)
    return errors
