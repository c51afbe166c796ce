"""Goal-relative memory keys for ScienceWorld: the variation's entities by their role in the goal.

Variations of one ScienceWorld task type differ in a few entities that the task description
names: the box to move a found thing to and its room (``move it to the orange box in the living
room``), the location of the animals (``in the 'outside' location``), the paint to make
(``create violet paint``), the substance to boil or to test. Verbatim keys keep those names, so
a record of one variation meets another only where the names happen to agree, and a high-Q
``focus on green paint`` learned on one variation is advised, literally, on another whose goal is
violet paint. Here each entity the description names is replaced by its **role** in the goal:

* ``<the goal's room>`` (then ``<the goal's second room>``…): rooms the description names, in
  order (the box's room, the animals' location, where the substance is);
* ``<the goal's box>``, ``<the goal's second box>``: coloured boxes, in order (for the measuring
  tasks the first is the "above" box, the second the "below" one);
* ``<the goal's target>``, ``<the goal's second target>``: what the description says to create,
  boil, test or focus on by name (``green paint``, ``water``, ``aluminum foil``);
* ``<an ingredient of the goal's paint>``: the two primary paints a secondary colour is mixed
  from (red + blue = violet, red + yellow = orange, blue + yellow = green). This is the one
  piece of task knowledge not read from the description: ScienceWorld's own mixing rule, the
  recipe the paint task is about, as TextCraft's keys use the goal's recipe tree.

Everything else stays literal: the rooms of the house keep their names (the map is the same in
every variation), and a thing the description does not name (``focus on dove`` in a find-animal
task, where any animal will do) is keyed as itself. So:

* task key: the task type alone, ``ScienceWorld task (find-animal)``;
* observation key: the four lines of :func:`.matcher.canonical_observation` (room, inventory,
  objects, doors) with the roles substituted, e.g. ``Room: hallway`` / ``Doors: <the goal's room>
  (closed); kitchen (closed)``;
* action key: the action with the roles substituted (``go to <the goal's room>``, ``move chair
  to <the goal's box>``, ``focus on <the goal's target>``); advice maps back both ways: a stored
  ``focus on <the goal's target>`` becomes ``focus on violet paint`` in a violet-paint variation,
  and is offered only when that action is valid there.

What stays hard: a literal ``focus on crocodile`` learned where the crocodile was the
longest-lived animal is still advised where another animal lives longer (which animal that is
is knowledge the description does not carry).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..base import MemoryKeys
from .matcher import observation_similarity as _matcher_similarity

ROOMS = ("art studio", "bathroom", "bedroom", "foundry", "greenhouse", "hallway", "kitchen", "living room",
         "outside", "workshop")
"""ScienceWorld's locations (the same house in every variation)."""
SECONDARY = {"green": ("blue", "yellow"), "orange": ("red", "yellow"), "violet": ("red", "blue"),
             "purple": ("red", "blue")}
"""ScienceWorld's paint mixing: a secondary colour and its two primaries."""
ORDINALS = ("", "second ", "third ", "fourth ")
INGREDIENT = "<an ingredient of the goal's paint>"

_TASK = re.compile(r"^ScienceWorld task \(([^)]+)\):\s*(.*)$", re.S)
_BOX = re.compile(r"\b([a-z]+ box)\b")
_FOCUS = re.compile(r"focus on (?:the |a |an )?([a-z][a-z0-9 \-]*?)(?: you created)?\.")
_SUBJECT = re.compile(
    r"(?:to create (?:the substance )?|to (?:boil|melt|freeze) |state of matter of |melting point of |temperature of "
    r"|determine if |turn on the |to grow an? )'?([a-z][a-z0-9 \-]*?)'?(?: plant from seed)?(?:[.,]| is | by | which)"
)
_GENERIC = {"thing", "substance", "seed", "thermometer"}
"""Focus phrases that name no variation-specific entity (``focus on the thing``)."""
_PLACEHOLDER = re.compile(r"<[^<>]+>")


@dataclass(frozen=True)
class GoalRoles:
    """The entities a task description names, each with its role placeholder."""

    task_type: str
    roles: tuple[tuple[str, str], ...]
    """(phrase, placeholder), longest phrase first (the order substitution tries them)."""
    pattern: re.Pattern | None

    def placeholders(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for phrase, role in self.roles:
            out.setdefault(role, []).append(phrase)
        return out


def _target_ok(phrase: str) -> bool:
    words = phrase.split()
    return (bool(words) and len(words) <= 4 and phrase not in _GENERIC and not phrase[0].isdigit()
            and not any(w in ("of", "with", "the", "life", "inclined", "intermediate") for w in words)
            and not phrase.endswith(" box"))


@lru_cache(maxsize=4096)
def goal_roles(task: str) -> GoalRoles | None:
    """The roles of the goal ``task`` describes (None for a text that is not a ScienceWorld task)."""
    match = _TASK.match(task.strip())
    if not match:
        return None
    task_type, description = match.group(1).strip(), " ".join(match.group(2).lower().split())
    roles: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(phrase: str, kind: str, counter: list[int]) -> None:
        phrase = phrase.strip()
        if phrase and phrase not in seen:
            seen.add(phrase)
            roles.append((phrase, f"<the goal's {ORDINALS[min(counter[0], len(ORDINALS) - 1)]}{kind}>"))
            counter[0] += 1

    rooms, boxes, targets = [0], [0], [0]
    for box in _BOX.findall(description):
        add(box, "box", boxes)
    named_rooms = sorted(((m.start(), room) for room in ROOMS for m in re.finditer(rf"\b{room}\b", description)))
    for _, room in named_rooms:
        add(room, "room", rooms)
    found = sorted([(m.start(1), m.group(1)) for m in _SUBJECT.finditer(description)]
                   + [(m.start(1), m.group(1)) for m in _FOCUS.finditer(description)])
    for _, phrase in found:
        if _target_ok(phrase) and phrase not in ROOMS:
            add(phrase, "target", targets)
    for phrase, _ in list(roles):
        colour = phrase.removesuffix(" paint")
        if phrase.endswith(" paint") and colour in SECONDARY:
            for primary in SECONDARY[colour]:
                if f"{primary} paint" not in seen:
                    seen.add(f"{primary} paint")
                    roles.append((f"{primary} paint", INGREDIENT))
    roles.sort(key=lambda pair: -len(pair[0]))
    pattern = None
    if roles:
        alternatives = "|".join(re.escape(phrase) for phrase, _ in roles)
        pattern = re.compile(rf"(?<![a-z0-9\-])(?:(?:a|an|the) )?({alternatives})(?![a-z0-9\-])")
    return GoalRoles(task_type=task_type, roles=tuple(roles), pattern=pattern)


def canonical_action(action: str) -> str:
    """The form the valid-action list uses: ScienceWorld's parser also takes ``pour A in B`` (the
    gold paths write it so), but lists ``pour A into B``; the last `` in `` of a pour is its target."""
    if action.startswith("pour ") and " into " not in action and " in " in action:
        head, _, target = action.rpartition(" in ")
        return f"{head} into {target}"
    return action


def _substitute(roles: GoalRoles, text: str) -> str:
    if roles.pattern is None:
        return text
    table = dict(roles.roles)
    return roles.pattern.sub(lambda m: table[m.group(1)], text)


class ScienceWorldKeys(MemoryKeys):
    name = "roles"
    description = "the variation's entities (box, room, target substance or paint) by their role in the goal"

    def state_key(self, task: str, observation: str, context: str) -> tuple[str, str]:
        roles = goal_roles(task)
        if roles is None:
            return task, observation
        lines = []
        for line in observation.split("\n"):
            field, sep, value = line.partition(": ")
            lines.append(f"{field}{sep}{_substitute(roles, value.lower())}" if sep else line)
        return f"ScienceWorld task ({roles.task_type})", "\n".join(lines)

    def action_key(self, action: str, task: str, observation: str, context: str) -> str:
        action = " ".join(action.split())
        roles = goal_roles(task)
        return action if roles is None else _substitute(roles, canonical_action(action.lower()))

    def observation_similarity(self, a: str, b: str) -> float:
        return _matcher_similarity(a, b)

    def concretize(self, key: str, task: str, observation: str, context: str,
                   valid_actions: Sequence[str] | None) -> list[str]:
        """The placeholders filled with this goal's phrases, kept where the result is valid now
        (and keys back to ``key``: a literal that happens to name this goal's entity is not its own)."""
        roles = goal_roles(task)
        valid = set(valid_actions) if valid_actions is not None else None
        if roles is None:
            return [key] if valid is None or key in valid else []
        slots = _PLACEHOLDER.findall(key)
        table = roles.placeholders()
        if any(slot not in table for slot in slots):
            return []
        out: list[str] = []
        for filling in itertools.product(*(table[slot] for slot in slots)):
            parts = iter(filling)
            candidate = _PLACEHOLDER.sub(lambda _m: next(parts), key)
            if (valid is None or candidate in valid) and self.action_key(candidate, task, observation, context) == key:
                out.append(candidate)
        return list(dict.fromkeys(out))

    def relevant(self, action: str, task: str, observation: str, context: str) -> bool:
        """Everything but the meta commands (``reset task`` restarts the game, ``task`` repeats the prompt)."""
        return action not in META

    def offer(self, valid_actions: Sequence[str], task: str, observation: str, context: str) -> list[str]:
        """A bounded, relevant subset of the valid actions (at most :data:`MAX_OFFERED`), for prompts:
        the simulator lists every action–object combination (a median of about 1,100, up to 3,833),
        which no small model's window holds. Offered in this order until the cap:

        0. one-object actions on an entity of the goal (its target, paint ingredients, box);
        1. moving around: ``look around``, ``open door to``/``go to`` a room;
        2. two-object actions with an entity of the goal (``move X to <box>``, ``pour <ingredient>
           into …``, ``mix …``), at most :data:`MAX_GOAL_PAIRS` of them;
        3. one-object actions (``focus on``, ``pick up``, ``open``, ``look at``, ``activate``…) on a
           thing the room shows at its top level or the inventory holds;
        4. other one-object actions (things inside containers; closing doors);
        5. two-object actions from the inventory (``move X in inventory to Y``);
        6. the rest (other pairs; ``connect``/``disconnect``).

        Within a tier actions go by verb (the more often useful first), then in the simulator's
        sorted order. ``reset task`` and ``task`` are never offered."""
        roles = goal_roles(task)
        phrases = [phrase for phrase, _ in roles.roles] if roles else []
        things = _things(observation)
        ranked = sorted((_rank(action, phrases, things), index, action)
                        for index, action in enumerate(valid_actions) if action not in META)
        out: list[str] = []
        pairs = 0
        for (tier, _), _, action in ranked:
            if tier == 2:
                pairs += 1
                if pairs > MAX_GOAL_PAIRS:
                    continue
            out.append(action)
            if len(out) == MAX_OFFERED:
                break
        return out


KEYS = ScienceWorldKeys()

MAX_OFFERED = 50
"""Actions offered to the model per step when pruning is on (about 450 Gemma tokens; the full list
can exceed 30,000). ``--all-actions`` offers the simulator's whole list."""
META = frozenset({"reset task", "task"})
VERBS = ("focus on", "pick up", "pour", "move", "mix", "open", "look at", "look in", "activate", "put down", "use",
         "dunk", "read", "eat", "deactivate", "flush", "wait", "close", "connect", "disconnect")
"""Verbs in the order their actions are offered within a tier (the more often useful first)."""
MAX_GOAL_PAIRS = 15
_MOVE = re.compile(r"^(?:go to|open door to|teleport to) ")
_TWO = re.compile(r"^(?:move|pour|put|dunk|connect|disconnect|use) .+ (?:to|into|in|on|and) ")
_ARTICLE = re.compile(r"^(?:a|an|the|some) ")


def _things(observation: str) -> frozenset[str]:
    """Names (articles cut) of what the room shows at its top level and the inventory holds."""
    names: set[str] = set()
    for line in observation.split("\n"):
        field, _, value = line.partition(": ")
        if field in ("Inventory", "Objects"):
            for item in value.split(";"):
                name = _ARTICLE.sub("", item.strip().lower())
                if name and name not in ("empty", "none"):
                    names.add(name)
                    names.add(name.removeprefix("substance called "))
    return frozenset(names)


def _rank(action: str, phrases: list[str], things: frozenset[str]) -> tuple[int, int]:
    """(tier, verb rank) of an action for :meth:`ScienceWorldKeys.offer`."""
    verb = next((i for i, v in enumerate(VERBS) if action == v or action.startswith(v + " ")), len(VERBS))
    if action == "look around" or _MOVE.match(action):
        return 1, 0
    named = [p for p in phrases if p not in ROOMS and re.search(rf"(?<![a-z0-9\-]){re.escape(p)}(?![a-z0-9\-])", action)]
    two = bool(_TWO.match(action)) or action.startswith("mix ") and " and " in action
    wired = action.startswith(("connect ", "disconnect "))
    if named and not wired:
        if not two:
            return 0, verb
        source, _, target = re.split(r" (?:to|into|on|and) ", action, maxsplit=1)[0], None, re.split(r" (?:to|into|on|and) ", action, maxsplit=1)[-1]
        both = any(p in source for p in named) and (any(p in target for p in named) or "nothing" in target)
        return 2, (0 if both or " in inventory" in source else 1) * len(VERBS) + verb
    if wired:
        return 6, verb
    if two:
        return (5 if " in inventory" in action else 6), verb
    target = action[len(VERBS[verb]) + 1:] if verb < len(VERBS) else ""
    return (3 if target in things and VERBS[min(verb, len(VERBS) - 1)] != "close" else 4), verb
