"""Domain exceptions; each API maps them to an HTTP answer in one place."""


class HubError(Exception):
    """Base class of the errors this package raises on purpose."""


class BadRequest(HubError):
    """The request body is not JSON (HTTP 400)."""


class InvalidEnvelope(HubError):
    """The body is JSON but not a DataSync envelope (HTTP 422); the message names the field."""


class PayloadTooLarge(HubError):
    """The body is larger than the configured limit (HTTP 413)."""


class Unauthorized(HubError):
    """Missing or wrong credentials (HTTP 401)."""


class NotFound(HubError):
    """Unknown tenant, place or record (HTTP 404)."""


class Unavailable(HubError):
    """A dependency failed; the caller should retry later (HTTP 503)."""


class Refused(HubError):
    """A store refused one record for good (too large, a key too long, a number out of range): sending
    it again cannot help, so it is quarantined, never retried as if the store were down."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConfigurationError(HubError):
    """The deployment or a tenant is misconfigured; an operator must act."""


class SecretMissing(ConfigurationError):
    """The tenant has no secret for this use: for an optional use (the Storyous pull) it is not set up."""
