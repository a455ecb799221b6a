"""The entities of a delivery (or a pulled page), one per id: the newest by `_lastModifiedAt`, and the
ones whose id or version cannot be read, apart (they are quarantined, never guessed at)."""

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from loyalty_hub.models.ids import entity_id_problem
from loyalty_hub.models.structs import Model
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import mapping


class Incoming(Model, frozen=True, kw_only=True):  # a Model, not a dataclass: one an entity, 10x cheaper to build
    entity_id: str
    version: str
    body: dict[str, Any]
    raw_version: str = ""  # `_lastModifiedAt` as delivered: part of the entity's quarantine id


@dataclass(frozen=True)
class Poison:
    """An entity whose id or version cannot be read: quarantined by ingest, still archived by the pull."""

    entity_id: str
    code: str
    reason: str
    raw_version: str
    body: dict[str, Any]


def latest_per_id(
    domain: str, data: list[dict[str, Any]], zone: tzinfo, fallback_version: str
) -> tuple[dict[str, Incoming], int, list[Poison]]:
    """One entry per id: the highest `_lastModifiedAt` (the delivery's receipt time where there is none);
    how many entities had no id field; and the entities whose id or version cannot be read."""
    latest: dict[str, Incoming] = {}
    without_id = 0
    poison: list[Poison] = []
    for body in data:
        entity_id, has_id = mapping.entity_id(domain, body)
        raw_version = str(body.get(mapping.VERSION_FIELD) or "")
        if problem := entity_id_problem(entity_id):
            poison.append(Poison(entity_id, "invalid_id", problem, raw_version, body))
            continue
        try:
            modified = mapping.parse_datetime(body.get(mapping.VERSION_FIELD), zone)
            version = format_timestamp(modified) if modified else fallback_version
        except (OverflowError, ValueError):
            poison.append(
                Poison(entity_id, "unparseable", f"{mapping.VERSION_FIELD} is out of range", raw_version, body)
            )
            continue
        without_id += not has_id
        current = latest.get(entity_id)
        if current is None or current.version < version:
            latest[entity_id] = Incoming(entity_id=entity_id, version=version, body=body, raw_version=raw_version)
    return latest, without_id, poison
