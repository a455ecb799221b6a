"""The vendors the hub sends to, in one table (VENDORS): each one's tenant settings, the secret values its
worker reads, the customer changes it needs, and the module that talks to it. Everything else that names
a vendor reads this table: the tenant model, the secrets' layout, capture, reconcile, the worker's wiring,
the admin command and the template tests. Adding a vendor: CONTRIBUTING.md."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from loyalty_hub.models.structs import Meta, Model, field_names

# An http(s) URL with a host; the clients join paths onto it.
Url = Annotated[str, Meta(pattern=r"^https?://[^\s/?#]+[^\s]*$")]


class CustobarSettings(Model, frozen=True, kw_only=True):
    """Custobar for this tenant; its credentials are in the tenant's secret (custobar_token, or
    custobar_username and custobar_password for Basic)."""

    enabled: bool = True
    base_url: Url  # https://<company>.custobar.com, app.custobar.com, or a sandbox
    auth: Literal["Token", "Bearer", "Basic"] = "Token"
    field_prefix: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$")]  # company fields are <prefix>__<name>


class VoyadoSettings(Model, frozen=True, kw_only=True):
    """Voyado through the eastsideapps bridge (a lookup API); the key is `voyado_api_key` in the secret."""

    enabled: bool = True
    base_url: Url  # https://live.voyado.eastsideapps.io, staging, or a sandbox
    bucket_size: Annotated[int, Meta(ge=1)] = 60  # the shop's leaky bucket (the bridge's default)
    refill_per_second: Annotated[float, Meta(gt=0)] = 1.0


class OrderingStackSettings(Model, frozen=True, kw_only=True):
    """OrderingStack loyalty; client id and secret (and user for the password grant) are in the secret:
    orderingstack_client_id, orderingstack_client_secret, orderingstack_username, orderingstack_password."""

    enabled: bool = True
    base_url: Url  # e.g. https://ordering.3e.pl, or a sandbox
    tenant: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{3,64}$")]  # OrderingStack's x-tenant
    grant: Literal["client_credentials", "password"] = "client_credentials"


class Vendors(Model, frozen=True, kw_only=True):
    custobar: CustobarSettings | None = None
    voyado: VoyadoSettings | None = None
    orderingstack: OrderingStackSettings | None = None

    def enabled(self) -> list[str]:
        return [name for name in field_names(type(self)) if (v := getattr(self, name)) is not None and v.enabled]


@dataclass(frozen=True)
class VendorSpec:
    name: str
    settings: type[Model]  # the tenant's settings for it (the Vendors field of the same name)
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
