"""WebShop's goal-relative keys: pages by kind and fit, clicks by role, advice mapped back."""

from __future__ import annotations

from rememberer.tasks.webshop.keys import KEYS, NAMED_OPTION, OTHER_OPTION, SEARCH
from rememberer.tasks.webshop.pages import observation_text, render_item, render_results, render_search

TASK = ("Instruction: Find me machine washable pillow covers with color: black, and size: 3x-large, "
        "and price lower than 30.00 dollars")
OTHER_TASK = "Instruction: Find me gluten free vegan snack bars, and price lower than 20.00 dollars"


def _product(asin: str, title: str, price: str, options: dict | None = None) -> dict:
    return {"asin": asin, "Title": title, "Price": price, "options": options or {}, "Rating": "N.A."}


def test_every_instruction_shares_the_task_key_and_the_search_page_key():
    a = KEYS.state_key(TASK, observation_text(render_search(TASK)), "")
    b = KEYS.state_key(OTHER_TASK, observation_text(render_search(OTHER_TASK)), "")
    assert a == b == ("Instruction: buy the product the instruction describes, under a price limit.", "search page")
    assert KEYS.action_key("search[pillow covers black]", TASK, "", "") == SEARCH
    assert KEYS.concretize(SEARCH, TASK, observation_text(render_search(TASK)), "", ["search[...]"]) == ["search[...]"]


def test_results_are_ranked_by_price_then_by_the_instructions_words():
    products = [
        _product("B000000001", "Garden hose 50 ft", "$12.00"),
        _product("B000000002", "Machine washable pillow covers black set of 2", "$45.00"),  # fits, over the price
        _product("B000000003", "Washable pillow covers", "$19.99"),
    ]
    observation = observation_text(render_results(TASK, 1, 50, products))
    valid = [f"click[{p['asin'].lower()}]" for p in products] + ["click[next >]"]
    keys = {a: KEYS.action_key(a, TASK, observation, "") for a in valid}
    assert keys == {"click[b000000003]": "click[the result that fits best]",
                    "click[b000000001]": "click[the second-best result]",
                    "click[b000000002]": "click[the third-best result]", "click[next >]": "click[next >]"}
    assert KEYS.concretize("click[the result that fits best]", TASK, observation, "", valid) == ["click[b000000003]"]
    _, state = KEYS.state_key(TASK, observation, "")
    assert state == "results page 1: best result shares most of the instruction's words, 2 of 3 within the price"
    # the same role on another instruction's page maps to that page's own best product
    other = observation_text(render_results(OTHER_TASK, 1, 9, [_product("B000000009", "Lamp", "$5.00"),
                                                                _product("B000000008", "Vegan snack bars gluten free", "$9.00")]))
    assert KEYS.concretize("click[the result that fits best]", OTHER_TASK, other, "",
                           ["click[b000000009]", "click[b000000008]"]) == ["click[b000000008]"]


def test_options_are_keyed_by_whether_the_instruction_names_them():
    product = _product("B000000003", "Washable pillow covers", "$19.99",
                       {"color": ["black", "blue"], "size": ["large", "3x-large"]})
    observation = observation_text(render_item(TASK, product, {"color": "black"}))
    roles = {v: KEYS.action_key(f"click[{v}]", TASK, observation, "") for v in ("black", "blue", "large", "3x-large")}
    assert roles == {"black": NAMED_OPTION, "blue": OTHER_OPTION, "large": OTHER_OPTION, "3x-large": NAMED_OPTION}
    _, state = KEYS.state_key(TASK, observation, "")
    assert state == ("item page: title shares some of the instruction's words, price within the limit, "
                     "options the instruction names: 1 of 2 chosen, other options offered")
    assert KEYS.action_key("click[buy now]", TASK, observation, "") == "click[buy now]"
    # pruning (the default) keeps what can raise the reward
    kept = [a for a in ("click[black]", "click[blue]", "click[3x-large]", "click[buy now]", "click[description]",
                        "click[< prev]") if KEYS.relevant(a, TASK, observation, "")]
    assert kept == ["click[black]", "click[3x-large]", "click[buy now]"]


def test_observation_similarity_prefers_the_same_kind_of_page():
    a = "results page 1: best result shares most of the instruction's words, 3 of 3 within the price"
    b = "results page 2: best result shares few of the instruction's words, 1 of 3 within the price"
    assert KEYS.observation_similarity(a, a) == 1.0
    assert KEYS.observation_similarity(a, b) == 0.5
    assert KEYS.observation_similarity(a, "search page") == 0.0


def test_the_webshop_task_set_offers_the_keys(env):
    from rememberer.tasks.webshop import load_task_set

    tasks = load_task_set(env.catalog.data_dir)
    assert tasks.memory_keys("goal-relative") is KEYS and tasks.memory_namespace("goal-relative") == "webshop.roles"
    assert tasks.memory_namespace("verbatim") == "webshop"
