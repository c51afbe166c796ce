"""A scripted TextCraft solver: plans gets and crafts from the goal's recipe tree.

Used to check that goals are solvable, to annotate the initial experience pool, and as a
reference in tests. It is never part of the agent.
"""

from __future__ import annotations

from collections import Counter

from .env import TextCraftEnv, name_of, recipes_for, shared_world


def plan(goal_item: str) -> list[str]:
    """Actions that craft ``goal_item`` (a ``minecraft:`` id) from an empty inventory."""
    tree = shared_world().crafting_tree
    producing: dict[str, object] = {}
    for recipe in recipes_for(tree, goal_item):
        producing.setdefault(recipe.output_item.item_tag.item_id, recipe)
    inventory: Counter[str] = Counter()
    actions: list[str] = []

    def concrete(tag_or_item) -> str:
        if tag_or_item.item_id is not None:
            return tag_or_item.item_id
        members = sorted(i for i, t in tree.item_id_to_tag.items() if t == tag_or_item.tag)
        craftable = [m for m in members if m in producing]
        return (craftable or members)[0]

    def acquire(item: str, count: int, depth: int = 0) -> None:
        """Hold ``count`` of ``item``; base items are taken in the amounts recipes name, so
        every action the plan uses is one the environment lists as valid."""
        if depth > 12:
            raise RecursionError(f"recipe tree of {goal_item} is too deep")
        recipe = producing.get(item)
        while inventory[item] < count:
            if recipe is None:
                actions.append(f"get {count - inventory[item]} {name_of(item)}")
                inventory[item] = count
                return
            parts = []
            for ingredient in recipe.input_items:
                source = concrete(ingredient.item_tag)
                acquire_exact(source, ingredient.count, depth + 1)
                parts.append((source, ingredient.count))
            actions.append(
                f"craft {recipe.output_item.count} {name_of(item)} using "
                + ", ".join(f"{n} {name_of(s)}" for s, n in parts)
            )
            for source, n in parts:
                inventory[source] -= n
            inventory[item] += recipe.output_item.count

    def acquire_exact(item: str, count: int, depth: int) -> None:
        if producing.get(item) is None and inventory[item] < count:
            # take exactly what one recipe use needs (the amount listed as a valid action)
            actions.append(f"get {count} {name_of(item)}")
            inventory[item] += count
            return
        acquire(item, count, depth)

    acquire(goal_item, 1)
    return actions


def solve(goal_id: str) -> tuple[bool, list[str]]:
    """Run the plan in a fresh environment; returns (success, actions)."""
    env = TextCraftEnv()
    env.reset(goal_id)
    goal_item = "minecraft:" + goal_id.replace(" ", "_")
    actions = plan(goal_item)
    success = False
    for action in actions:
        result = env.step(action)
        success = result.success
        if result.done:
            break
    return success, actions
