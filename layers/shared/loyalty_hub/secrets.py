"""Tenant secrets, split by use: one JSON secret per tenant and use in Secrets Manager,
'<SECRETS_PREFIX>/<use>/<tenant_id>', so that each function's IAM policy names only its own use
('<SECRETS_PREFIX>/webhook/*' for the webhook, and so on) and can read nothing else (D33).

Read through Powertools Parameters, which caches each value in memory for `max_age` seconds.
"""

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities import parameters

from loyalty_hub import warm
from loyalty_hub.auth import DAILYSTORY_KEY_HASHES
from loyalty_hub.config import TenantSettings
from loyalty_hub.errors import ConfigurationError, SecretMissing, Unavailable
from loyalty_hub.models.vendors import VENDORS

# The values each use holds; the function of that use reads these and nothing else. A vendor's use is
# its name, holding the secret keys the vendor table names.
KEYS: Mapping[str, tuple[str, ...]] = {
    "webhook": ("storyous_webhook_secret", "storyous_webhook_secret_previous"),  # the Storyous webhook
    "dailystory": (DAILYSTORY_KEY_HASHES,),  # the customer API
    "storyous": ("storyous_client_id", "storyous_client_secret"),  # the Storyous pull
    **{name: spec.secret_keys for name, spec in VENDORS.items()},
}
Use = str  # one of KEYS
USES: tuple[Use, ...] = tuple(KEYS)
warm.forgets(parameters.clear_caches)  # Powertools keeps each secret for SECRET_CACHE_SECONDS


def secret_name(prefix: str, use: Use, tenant_id: str) -> str:
    return f"{prefix.rstrip('/')}/{use}/{tenant_id}"


def legacy_secret_name(prefix: str, tenant_id: str) -> str:
    """The one secret per tenant that held every value before the split; `admin secrets migrate` reads it."""
    return f"{prefix.rstrip('/')}/tenants/{tenant_id}"


def split(values: Mapping[str, Any]) -> tuple[dict[Use, dict[str, Any]], list[str]]:
    """A whole tenant's values, by use (uses with no value left out), and the names no use holds."""
    by_use: dict[Use, dict[str, Any]] = {}
    for use in USES:
        held = {k: values[k] for k in KEYS[use] if k in values}
        if held:
            by_use[use] = held
    known = {k for keys in KEYS.values() for k in keys}
    return by_use, sorted(k for k in values if k not in known)


def tenant_secrets(prefix: str, use: Use, tenant_id: str, *, max_age: int) -> dict[str, Any]:
    name = secret_name(prefix, use, tenant_id)
    try:
        value = parameters.get_secret(name, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigurationError(f"secret {name} is not a JSON object") from exc
    except parameters.exceptions.GetParameterError as exc:
        if "ResourceNotFoundException" in str(exc):  # Powertools wraps the client error in its message
            raise SecretMissing(f"secret {name} does not exist") from exc
        raise Unavailable(f"secret {name} could not be read") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"secret {name} is not a JSON object")
    return value


def reader(settings: TenantSettings, use: Use) -> Callable[[str], dict[str, Any]]:
    """tenant id -> that tenant's secret for `use`, the only one the calling function may read."""
    return lambda tenant_id: tenant_secrets(
        settings.SECRETS_PREFIX, use, tenant_id, max_age=settings.SECRET_CACHE_SECONDS
    )
