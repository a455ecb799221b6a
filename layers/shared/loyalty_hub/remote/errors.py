"""How a vendor call failed, which decides what happens to the message."""


class VendorError(Exception):
    """`reason` names the vendor, the operation and the status, never a URL or a customer's values: it
    goes into log lines and DLQ attributes. `code` is the vendor's own error code, where it gave one."""

    def __init__(self, reason: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


class RetryableError(VendorError):
    """Network error, timeout, 5xx or 429: the message comes back later (after `retry_after` if given).

    `deferral` marks a "not now" that is no failure — our pacing, a vendor's Retry-After, a run out of
    time: the message is sent again after the delay and the attempt is not counted, so it never
    dead-letters for waiting."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        deferral: bool = False,
    ) -> None:
        super().__init__(reason, status=status, code=code)
        self.retry_after = retry_after
        self.deferral = deferral


def deferred(reason: str, after: float = 0.0) -> RetryableError:
    return RetryableError(reason, retry_after=after, deferral=True)


AUTH_RETRY_SECONDS = 900.0  # a refused credential needs a person; the messages are kept meanwhile


class CredentialsRefused(RetryableError):
    """The vendor refused the tenant's credentials (401/403, or an OAuth token request refused): counted
    as `AuthFailed` per vendor, alarmed, and retried every 15 minutes until an operator fixes the secret."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason, status=status, retry_after=AUTH_RETRY_SECONDS)


def credentials_refused(error: VendorError) -> CredentialsRefused:
    return CredentialsRefused(f"{error.reason} (credentials refused: fix the tenant's secret)", status=error.status)


class PermanentError(VendorError):
    """Any other 4xx: sending again cannot help; the message goes to the DLQ with this reason."""
