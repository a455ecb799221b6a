"""The entities of a delivery (or a pulled page), one per id: the newest by `_lastModifiedAt`, and the
ones whose id or version cannot be read, apart (they are quarantined, never guessed at)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Final

from loyalty_hub.errors import InvalidEnvelope
from loyalty_hub.models.ids import entity_id_problem
from loyalty_hub.models.structs import Invalid, Model, Raw, decoder, reason
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import mapping


class Incoming(Model, frozen=True, kw_only=True):  # a Model, not a dataclass: one an entity, 10x cheaper to build
    entity_id: str
    version: str
    body: dict[str, Any]  # what the hub reads of it (read_entities)
    raw_version: str = ""  # `_lastModifiedAt` as delivered: part of the entity's quarantine id
    text: str = ""  # its JSON as delivered, whole: what ingest stores ("" for a pulled page's)


@dataclass(frozen=True)
class Poison:
    """An entity whose id or version cannot be read: quarantined by ingest, still archived by the pull."""

    entity_id: str
    code: str
    reason: str
    raw_version: str
    body: dict[str, Any]


def read_entities(domain: str, raws: list[Raw]) -> list[dict[str, Any]]:
    """Each entity of a delivery as the hub reads it (a bill: what storyous.mapping reads of one);
    InvalidEnvelope naming the first that is not an object."""
    read: list[dict[str, Any]] = []
    for index, raw in enumerate(raws):
        entity = mapping.read_bill(raw) if domain == "Bills" else None
        if entity is None:
            try:
                entity = _read_whole(raw)
            except Invalid as exc:
                raise InvalidEnvelope(f"data[{index}]: {reason(exc)}") from exc
        read.append(entity)
    return read


_read_whole: Final = decoder(dict[str, Any])


def latest_per_id(
    domain: str, data: list[dict[str, Any]], zone: tzinfo, fallback_version: str, texts: Sequence[str] = ()
) -> tuple[dict[str, Incoming], int, list[Poison]]:
    """One entry per id: the highest `_lastModifiedAt` (the delivery's receipt time where there is none);
    how many entities had no id field; and the entities whose id or version cannot be read. `texts`: each
    entity's JSON, as delivered, for ingest to store."""
    latest: dict[str, Incoming] = {}
    without_id = 0
    poison: list[Poison] = []
    for index, body in enumerate(data):
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
            text = texts[index] if texts else ""
            latest[entity_id] = Incoming(
                entity_id=entity_id, version=version, body=body, raw_version=raw_version, text=text
            )
    return latest, without_id, poison
