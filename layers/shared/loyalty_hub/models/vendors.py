"""The vendors the hub sends to, in one table (VENDORS): each one's tenant settings, the secret values its
worker reads, the customer changes it needs, and the module that talks to it. Everything else that names
a vendor reads this table: the tenant model, the secrets' layout, capture, reconcile, the worker's wiring,
the admin command and the template tests. Adding a vendor: CONTRIBUTING.md."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class CustobarSettings(BaseModel):
    """Custobar for this tenant; its credentials are in the tenant's secret (custobar_token, or
    custobar_username and custobar_password for Basic)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    base_url: HttpUrl  # https://<company>.custobar.com, app.custobar.com, or a sandbox
    auth: Literal["Token", "Bearer", "Basic"] = "Token"
    field_prefix: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="company fields are <prefix>__<name>")


class VoyadoSettings(BaseModel):
    """Voyado through the eastsideapps bridge (a lookup API); the key is `voyado_api_key` in the secret."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    base_url: HttpUrl  # https://live.voyado.eastsideapps.io, staging, or a sandbox
    bucket_size: int = Field(default=60, ge=1, description="the shop's leaky bucket (the bridge's default)")
    refill_per_second: float = Field(default=1.0, gt=0)


class OrderingStackSettings(BaseModel):
    """OrderingStack loyalty; client id and secret (and user for the password grant) are in the secret:
    orderingstack_client_id, orderingstack_client_secret, orderingstack_username, orderingstack_password."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    base_url: HttpUrl  # e.g. https://ordering.3e.pl, or a sandbox
    tenant: str = Field(pattern=r"^[a-zA-Z0-9_-]{3,64}$", description="OrderingStack's x-tenant")
    grant: Literal["client_credentials", "password"] = "client_credentials"


class Vendors(BaseModel):
    model_config = ConfigDict(frozen=True)

    custobar: CustobarSettings | None = None
    voyado: VoyadoSettings | None = None
    orderingstack: OrderingStackSettings | None = None

    def enabled(self) -> list[str]:
        return [name for name in type(self).model_fields if (v := getattr(self, name)) is not None and v.enabled]


@dataclass(frozen=True)
class VendorSpec:
    name: str
    settings: type[BaseModel]  # the tenant's settings for it (the Vendors field of the same name)
    secret_keys: tuple[str, ...]  # the values of its secret (secrets.py), read by its worker only
    wants: frozenset[str] | None  # the customer fields whose change it needs; None: every change
    module: str  # loyalty_hub.vendors.<module>: its client, mapping and build(settings)
    # Changes it must not hear about alone: its own enrichment (points) must not trigger the call that
    # produced it.
    ignores: frozenset[str] = frozenset()


VENDORS: Mapping[str, VendorSpec] = {
    spec.name: spec
    for spec in (
        VendorSpec("custobar", CustobarSettings, ("custobar_token", "custobar_username", "custobar_password"),
                   None, "custobar"),
        # Voyado only reads, by email (or its own contact id): a bill, a name or a consent changes nothing
        # it could answer (D30); its answers age out through reconcile's refresh instead.
        VendorSpec("voyado", VoyadoSettings, ("voyado_api_key",), frozenset({"email"}), "voyado",
                   ignores=frozenset({"points"})),
        VendorSpec("orderingstack", OrderingStackSettings,
                   ("orderingstack_client_id", "orderingstack_client_secret", "orderingstack_username",
                    "orderingstack_password"), None, "orderingstack", ignores=frozenset({"points"})),
    )
}  # fmt: skip
