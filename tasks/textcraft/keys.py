"""Goal-relative memory keys for TextCraft: items by their role in the goal's recipe tree.

Verbatim keys (``Inventory: [oak planks] (4)``, ``craft 4 oak planks using 1 oak logs``)
name items, and most items belong to one goal, so experience from ten training goals almost
never meets a test goal. Here every item is replaced by its **role** relative to the current
goal, read from the goal's recipe tree (the same recipes the agent is shown):

* ``goal`` — the item to craft;
* ``intermediate`` — a craftable item the goal's recipes consume (directly or deeper);
* ``base ingredient`` — an item the goal's recipes consume that cannot be crafted (``get`` it);
* ``off the goal's tree`` — everything else (the distractor recipes' items).

and every needed item by its **status**: ``missing`` (none held), ``short`` (fewer than
the largest count one recipe consumes) or ``enough``. Tags count what the inventory holds
of any of their items (``planks`` is satisfied by oak or birch planks).

The observation key counts needed items per role and status, e.g.
``intermediates 1 missing, 0 short, 0 enough; base ingredients 0 missing, 0 short, 1 enough;
other items 0``; the task key is the size of the goal's tree; an action key is what the
action does relative to the goal (``craft an intermediate (missing)``, ``get a base
ingredient (enough)``, ``craft the goal``, ``craft an item off the goal's tree``...). What
memory learns is then which *kind* of step pays off in which *kind* of state, and that
carries over to goals it never saw. Advice is mapped back to the concrete actions valid now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from ..base import MemoryKeys
from .env import item_id, recipes_for, shared_world

_GOAL = re.compile(r"^Goal: craft (.+?)\.?$")
_HELD = re.compile(r"\[([^\]]+)\] \((\d+)\)")
_GET = re.compile(r"^get (\d+) (.+)$")
_CRAFT = re.compile(r"^craft (\d+) (.+?) using (.+)$")
_COUNTS = re.compile(r"(\d+)")

OFF_TREE_CRAFT = "craft an item off the goal's tree"
OFF_TREE_GET = "get an item off the goal's tree"
CRAFT_GOAL = "craft the goal"
OTHER = "another action"
STATUSES = ("missing", "short")
CAP = 3
"""Counts in the observation key stop at ``3+`` (alternatives such as the eight kinds of logs a
``planks`` recipe accepts would otherwise make every goal's key unique)."""


@dataclass(frozen=True)
class GoalTree:
    """What the goal's recipes need: per item or tag, the most one recipe consumes."""

    goal: str
    need: dict[str, int]
    """Item id or tag → the largest count one recipe of the tree consumes."""
    craftable: frozenset[str]
    """Needed names that recipes of the tree produce (intermediates); the rest are base."""
    producers: dict[str, tuple[tuple[str, ...], ...]]
    """Name → the input names of each recipe that makes it (several for a tag)."""
    recipes: int


@lru_cache(maxsize=4096)
def goal_tree(goal: str) -> GoalTree:
    tree = shared_world().crafting_tree
    need: dict[str, int] = {}
    producers: dict[str, list[tuple[str, ...]]] = {}
    seen: set[str] = set()
    stack = [goal]
    recipes = 0
    while stack:  # the traversal of env.recipes_for, keeping which name each recipe serves
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for recipe in tree.itemid_recipes.get(name) or tree.tag_recipes.get(name) or []:
            recipes += 1
            inputs = tuple(ingredient.item_tag.name for ingredient in recipe.input_items)
            producers.setdefault(name, []).append(inputs)
            for ingredient in recipe.input_items:
                need[ingredient.item_tag.name] = max(need.get(ingredient.item_tag.name, 0), ingredient.count)
            stack.extend(inputs)
    need.pop(goal, None)
    return GoalTree(goal=goal, need=need, craftable=frozenset(n for n in need if n in producers),
                    producers={k: tuple(v) for k, v in producers.items()}, recipes=recipes)


def _below(tree: GoalTree, inputs: tuple[str, ...]) -> frozenset[str]:
    """``inputs`` and every name their recipes consume, down to the base ingredients."""
    return _below_cached(tree.goal, inputs)


@lru_cache(maxsize=65536)
def _below_cached(goal: str, inputs: tuple[str, ...]) -> frozenset[str]:
    tree = goal_tree(goal)
    seen: set[str] = set()
    stack = list(inputs)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            for more in tree.producers.get(name, ()):
                stack.extend(more)
    return frozenset(seen)


def _tag(item: str) -> str | None:
    return shared_world().crafting_tree.item_id_to_tag.get(item)


def _goal_of(task: str) -> str | None:
    match = _GOAL.match(task.strip())
    return item_id(match.group(1)) if match else None


def _inventory(observation: str) -> dict[str, int]:
    return {item_id(name): int(count) for name, count in _HELD.findall(observation)}


@dataclass(frozen=True)
class _State:
    """One goal and inventory, analysed once: the keys of every valid action of a state (the
    on-tree filter asks for all of them) share it."""

    tree: GoalTree
    inventory: MappingProxyType
    useful: frozenset[str]
    consumed: frozenset[str]


class TextCraftKeys(MemoryKeys):
    name = "roles"
    description = "items by their role in the goal's recipe tree (goal, intermediate, base ingredient, off-tree)"

    # -- pieces ----------------------------------------------------------------------
    @staticmethod
    def _needed_name(tree: GoalTree, item: str) -> str | None:
        if item in tree.need:
            return item
        tag = _tag(item)
        return tag if tag in tree.need else None

    @staticmethod
    def _held(name: str, inventory: dict[str, int]) -> int:
        return sum(n for i, n in inventory.items() if i == name or _tag(i) == name)

    def _walk(self, tree: GoalTree, inventory: dict[str, int]) -> tuple[frozenset[str], frozenset[str]]:
        """(useful names, names an open recipe consumes, held ones included). Useful: needed
        names still worth acquiring; walking down from the goal, a name held in the amount its
        recipe consumes is satisfied and so is everything below it."""
        useful: set[str] = set()
        consumed: set[str] = set()
        stack = [tree.goal]
        while stack:
            for inputs in self._open_alternatives(tree, stack.pop(), inventory):
                consumed.update(inputs)
                for name in inputs:
                    if name not in useful and self._held(name, inventory) < tree.need.get(name, 0):
                        useful.add(name)
                        stack.append(name)
        return frozenset(useful), frozenset(consumed)

    def _open_alternatives(self, tree: GoalTree, name: str, inventory: dict[str, int]) -> tuple[tuple[str, ...], ...]:
        """The recipes for ``name`` still worth pursuing. A tag has alternatives (``planks``: eight
        kinds of logs); once one of them is started, the others are not needed: the recipes
        with the most items held in their subtrees win (all of them while none is started)."""
        options = tree.producers.get(name, ())
        if len(options) < 2:
            return options
        started = [sum(self._held(n, inventory) > 0 for n in _below(tree, inputs)) for inputs in options]
        best = max(started)
        return options if best == 0 else tuple(o for o, n in zip(options, started) if n == best)

    def _status(self, name: str, inventory: dict[str, int], useful: frozenset[str]) -> str:
        if name not in useful:
            return "done"
        return "missing" if self._held(name, inventory) == 0 else "short"

    # -- the protocol ----------------------------------------------------------------
    def state_key(self, task: str, observation: str, context: str) -> tuple[str, str]:
        goal = _goal_of(task)
        if goal is None:
            return task, observation
        state = _analyse(self, goal, observation)
        tree, inventory, useful, consumed = state.tree, state.inventory, state.useful, state.consumed
        counts = {(role, s): 0 for role in ("intermediate", "base") for s in STATUSES}
        for name in useful:
            role = "intermediate" if name in tree.craftable else "base"
            counts[(role, self._status(name, inventory, useful))] += 1
        spare = sum(1 for i in inventory if i != goal and not ({i, _tag(i)} & consumed))

        def shown(n: int) -> str:
            return f"{n}" if n < CAP else f"{CAP}+"

        observation_key = (
            "Still needed for the goal: "
            + "; ".join(
                f"{label} " + ", ".join(f"{shown(counts[(role, s)])} {s}" for s in STATUSES)
                for role, label in (("intermediate", "intermediates"), ("base", "base ingredients"))
            )
            + f"; held but not needed {shown(spare)}"
        )
        size = "one recipe" if tree.recipes == 1 else f"{tree.recipes} recipes"
        return f"Goal: craft an item whose tree has {size}.", observation_key

    def action_key(self, action: str, task: str, observation: str, context: str) -> str:
        goal = _goal_of(task)
        if goal is None:
            return action
        state = _analyse(self, goal, observation)
        tree = state.tree
        action = action.strip()
        if match := _GET.match(action):
            name = self._needed_name(tree, item_id(match.group(2)))
            if name is None or name in tree.craftable:
                return OFF_TREE_GET
            return f"get a base ingredient ({self._status(name, state.inventory, state.useful)})"
        if match := _CRAFT.match(action):
            output = item_id(match.group(2))
            if output == goal:
                return CRAFT_GOAL
            name = self._needed_name(tree, output)
            if name is None:
                return OFF_TREE_CRAFT
            return f"craft an intermediate ({self._status(name, state.inventory, state.useful)})"
        return OTHER

    def observation_similarity(self, a: str, b: str) -> float:
        """1 for the same key, falling with the summed difference of the seven counts."""
        if a == b:
            return 1.0
        counts_a, counts_b = _COUNTS.findall(a), _COUNTS.findall(b)  # "3+" reads as 3
        if len(counts_a) != len(counts_b) or not counts_a:
            return 0.0
        distance = sum(abs(int(x) - int(y)) for x, y in zip(counts_a, counts_b))
        return 1.0 / (1.0 + distance)

    def relevant(self, action: str, task: str, observation: str, context: str) -> bool:
        return self.action_key(action, task, observation, context) not in (OFF_TREE_CRAFT, OFF_TREE_GET)


@lru_cache(maxsize=4096)
def _analyse(keys: TextCraftKeys, goal: str, observation: str) -> _State:
    tree = goal_tree(goal)
    inventory = _inventory(observation)
    useful, consumed = keys._walk(tree, inventory)
    return _State(tree, MappingProxyType(inventory), useful, consumed)


KEYS = TextCraftKeys()
