"""A scripted oracle that reads the goal and buys its target product.

It is a solvability check, not an agent: it uses privileged information (the target ASIN
and options) and the environment's internal hit list to know where the target is. It only
acts through ``env.step`` with ordinary actions, so a reward of 1.0 proves the goal can be
reached through the observation/action interface within the step budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .env import PRODUCT_WINDOW, WebShopEnv
from .pages import SHOWN_PRODUCTS


@dataclass
class OracleResult:
    goal_id: str
    reward: float
    success: bool
    actions: list[str] = field(default_factory=list)
    found: bool = False
    """Whether the target showed up among the clickable products of some query."""


def _queries(env: WebShopEnv) -> list[str]:
    """Queries to try, most specific first: the target's title, then the instruction."""
    goal = env.goal
    title = env.catalog.by_asin[goal.asin]["Title"]
    instruction = goal.instruction_text.split(", and price lower than")[0]
    return [title.lower(), instruction.lower(), goal.query]


def run_oracle(env: WebShopEnv, goal_id: str, *, max_steps: int = 15) -> OracleResult:
    """Play one episode of ``goal_id`` the way a perfect shopper would."""
    env.reset(goal_id)
    goal = env.goal
    result = OracleResult(goal_id=goal_id, reward=0.0, success=False)

    def act(action: str) -> bool:
        if len(result.actions) >= max_steps:
            return False
        result.actions.append(action)
        obs = env.step(action)
        if obs.done:
            result.reward, result.success = obs.reward, obs.success
        return True

    target = goal.asin.lower()
    for i, query in enumerate(_queries(env)):
        if i > 0 and not act("click[back to search]"):
            return result
        if not act(f"search[{query}]"):
            return result
        positions = [h["asin"].lower() for h in env.state.hits]
        if target not in positions:
            continue
        rank = positions.index(target)
        if rank % PRODUCT_WINDOW >= SHOWN_PRODUCTS:
            continue  # on its page but not among the clickable products
        for _ in range(rank // PRODUCT_WINDOW):
            if not act("click[next >]"):
                return result
        result.found = True
        break
    if not result.found:
        return result
    act(f"click[{target}]")
    options = env.catalog.by_asin[goal.asin].get("options") or {}
    all_values = {v for values in options.values() for v in values}
    for value in goal.option_values:
        if value in all_values and f"click[{value}]" in env.valid_actions():
            act(f"click[{value}]")
    act("click[buy now]")
    return result
