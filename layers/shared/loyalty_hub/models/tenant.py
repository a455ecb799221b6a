"""A tenant: one Storyous merchant, its places and its settings."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from loyalty_hub.models.ids import PlaceId, TenantId
from loyalty_hub.models.vendors import Vendors


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
