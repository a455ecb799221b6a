"""Tenant secrets: one JSON secret per tenant in Secrets Manager, '<SECRETS_PREFIX>/<tenant_id>'.

Read through Powertools Parameters, which caches each value in memory for `max_age` seconds.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities import parameters

from loyalty_hub.config import TenantSettings
from loyalty_hub.errors import ConfigurationError, Unavailable


def secret_name(prefix: str, tenant_id: str) -> str:
    return f"{prefix.rstrip('/')}/{tenant_id}"


def tenant_secrets(prefix: str, tenant_id: str, *, max_age: int) -> dict[str, Any]:
    name = secret_name(prefix, tenant_id)
    try:
        value = parameters.get_secret(name, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigurationError(f"secret {name} is not a JSON object") from exc
    except parameters.exceptions.GetParameterError as exc:
        if "ResourceNotFoundException" in str(exc):  # Powertools wraps the client error in its message
            raise ConfigurationError(f"secret {name} does not exist") from exc
        raise Unavailable(f"secret {name} could not be read") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"secret {name} is not a JSON object")
    return value


def reader(settings: TenantSettings) -> Callable[[str], dict[str, Any]]:
    """tenant id -> that tenant's secrets, as every function reads them."""
    return lambda tenant_id: tenant_secrets(settings.SECRETS_PREFIX, tenant_id, max_age=settings.SECRET_CACHE_SECONDS)
