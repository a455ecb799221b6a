"""How a vendor call failed, which decides what happens to the message."""


class VendorError(Exception):
    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RetryableError(VendorError):
    """Network error, timeout, 5xx or 429: the message comes back later (after `retry_after` if given)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class PermanentError(VendorError):
    """Any other 4xx: sending again cannot help; the message goes to the DLQ with this reason."""
