"""A tenant: one Storyous merchant, its places and its settings."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty_hub.models.ids import PlaceId, TenantId
from loyalty_hub.models.structs import Meta, Model, field
from loyalty_hub.models.vendors import Vendors


class Place(Model, frozen=True, kw_only=True):
    name: str = ""
    active: bool = True


class Tenant(Model, frozen=True, kw_only=True):
    tenant_id: TenantId
    name: Annotated[str, Meta(min_length=1)]
    time_zone: str = "Europe/Prague"
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] = "CZ"
    places: dict[PlaceId, Place] = field(default_factory=dict)
    vendors: Vendors = Vendors()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time_zone: unknown time zone {self.time_zone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def has_place(self, place_id: str) -> bool:
        place = self.places.get(place_id)
        return place is not None and place.active
