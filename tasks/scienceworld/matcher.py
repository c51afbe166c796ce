"""ScienceWorld observation keys and their similarity.

The memory key's observation half must name the *situation* in terms that recur across
variations of a task type, not the simulator's full text (which lists every object's contents
and changes with each variation). :func:`canonical_observation` reduces ScienceWorld's look and
inventory texts to four lines::

    Room: kitchen
    Inventory: a thermometer; an orange
    Objects: a chair; a counter; a cupboard; a fridge; a sink; a stove
    Doors: hallway (open); outside (closed)

* objects are the room's top-level things by their head noun phrase (``a bowl (containing ...)``
  -> ``a bowl``; ``a counter. On the counter is: ...`` -> ``a counter``; ``a sink, which is turned
  off`` -> ``a sink``; anything after a comma is a state), sorted, without the two
  that are everywhere (``the agent``, ``a substance called air``);
* the inventory likewise; doors with their state.

:func:`observation_similarity` compares two such keys: same room (weight 0.4), Jaccard overlap of
the inventories (0.3) and of the visible objects and doors (0.3). The task half of the key (task
type + the variation's description) is compared by the memory layer's text similarity.
"""

from __future__ import annotations

import re

ROOM_WEIGHT = 0.4
INVENTORY_WEIGHT = 0.3
OBJECTS_WEIGHT = 0.3

_ROOM_RE = re.compile(r"called the (.+?)\.\s*(?:In it|Here)", re.S)
_DOOR_RE = re.compile(r"^A door to the (.+?)(?: \(that is (open|closed)\))?$", re.I)
_EVERYWHERE = {"the agent", "a substance called air"}


def _head(item: str) -> str:
    """Top-level noun phrase of one listed thing (contents and descriptions cut off)."""
    item = item.strip()
    for cut in (" (", ". ", ":", ", "):
        index = item.find(cut)
        if index > 0:
            item = item[:index]
    return item.strip().rstrip(".").strip()


def _listed(text: str) -> list[str]:
    """Lines indented by exactly one tab (the top level of ScienceWorld's listings)."""
    return [line[1:] for line in text.splitlines() if line.startswith("\t") and not line.startswith("\t\t")]


def parse_look(look: str) -> tuple[str, list[str], list[str]]:
    """``(room, objects, doors)`` from a ``look around`` text."""
    match = _ROOM_RE.search(look)
    room = match.group(1).strip() if match else "unknown"
    head, sep, tail = look.partition("You also see:")
    objects = sorted({_head(x) for x in _listed(head)} - _EVERYWHERE - {""})
    doors = []
    for line in _listed(tail) if sep else []:
        door = _DOOR_RE.match(line.strip())
        if door:
            doors.append(f"{door.group(1)} ({door.group(2) or 'open'})")
        else:
            objects.append(_head(line))
    return room, sorted(set(objects)), sorted(doors)


def parse_inventory(inventory: str) -> list[str]:
    return sorted({_head(x) for x in _listed(inventory)} - {""})


def canonical_observation(look: str, inventory: str) -> str:
    room, objects, doors = parse_look(look)
    items = parse_inventory(inventory)
    return "\n".join(
        [
            f"Room: {room}",
            "Inventory: " + ("; ".join(items) if items else "empty"),
            "Objects: " + ("; ".join(objects) if objects else "none"),
            "Doors: " + ("; ".join(doors) if doors else "none"),
        ]
    )


def _fields(key: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in key.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _set(value: str, empty: str) -> set[str]:
    return set() if value in ("", empty) else {x.strip() for x in value.split(";") if x.strip()}


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def observation_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two :func:`canonical_observation` keys (see the module doc)."""
    fa, fb = _fields(a), _fields(b)
    if "Room" not in fa or "Room" not in fb:
        return 1.0 if a == b else 0.0
    room = 1.0 if fa["Room"] == fb["Room"] else 0.0
    inventory = _jaccard(_set(fa.get("Inventory", ""), "empty"), _set(fb.get("Inventory", ""), "empty"))
    seen_a = _set(fa.get("Objects", ""), "none") | {"door: " + d for d in _set(fa.get("Doors", ""), "none")}
    seen_b = _set(fb.get("Objects", ""), "none") | {"door: " + d for d in _set(fb.get("Doors", ""), "none")}
    return ROOM_WEIGHT * room + INVENTORY_WEIGHT * inventory + OBJECTS_WEIGHT * _jaccard(seen_a, seen_b)
