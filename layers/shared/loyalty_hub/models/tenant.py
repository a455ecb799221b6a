"""A tenant: one Storyous merchant, its places and its settings."""

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from loyalty_hub.models.ids import PlaceId, TenantId


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


class Place(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = ""
    active: bool = True


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


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: TenantId
    name: str = Field(min_length=1)
    time_zone: Annotated[str, AfterValidator(_zone)] = "Europe/Prague"
    country: str = Field(default="CZ", pattern=r"^[A-Z]{2}$")
    places: dict[PlaceId, Place] = Field(default_factory=dict)
    vendors: Vendors = Field(default_factory=Vendors)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def has_place(self, place_id: str) -> bool:
        place = self.places.get(place_id)
        return place is not None and place.active
