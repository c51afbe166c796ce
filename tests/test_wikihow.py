"""WikiHow (Mobile-Env) adapter: screen HTML, actions and the lcs+inspat matcher, without an emulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from rememberer.tasks import TaskError, load_task_set
from rememberer.tasks.wikihow import WikiHowConfig, WikiHowEnv
from rememberer.tasks.wikihow.matcher import (
    instruction_type,
    inspat_similarity,
    lcs_similarity,
    observation_key,
    observation_similarity,
    split_key,
    tag_sequence,
)
from rememberer.tasks.wikihow.screen import available_actions, parse_action, screen_elements, screen_html

# A search-results screen as Android's view hierarchy dumps it (hand-written for the tests).
HIERARCHY = """<hierarchy>
 <node class="android.widget.FrameLayout" bounds="[0,0][1080,1920]" clickable="false">
  <node class="android.widget.EditText" resource-id="com.wikihow.wikihowapp:id/search_src_text"
        text="grandmaster" bounds="[40,60][900,160]" clickable="true"/>
  <node class="android.widget.ImageView" content-desc="Clear query" bounds="[900,60][1040,160]" clickable="true"/>
  <node class="android.widget.LinearLayout" bounds="[0,200][1080,400]" clickable="true">
   <node class="android.widget.TextView" resource-id="com.wikihow.wikihowapp:id/search_result_title"
         text="How to Become a Grandmaster" bounds="[40,220][1040,300]" clickable="false"/>
   <node class="android.widget.ImageView" bounds="[0,0][0,0]"/>
  </node>
  <node class="android.widget.TextView" text="Hidden" bounds="[10,10][10,50]"/>
  <node class="android.widget.Button" text="More results" bounds="[40,1700][1040,1800]" clickable="true"/>
 </node>
</hierarchy>"""

SEARCH_SCREEN = "\n".join([
    '<input type="text" id="0" class="search src text" value="grandmaster" clickable="true">',
    '<img id="1" alt="Clear query" clickable="true">',
    '<p id="2" class="search result title" clickable="true">How to Become a Grandmaster</p>',
    '<button id="3" clickable="true">More results</button>',
])
ARTICLE_SCREEN = "\n".join([
    '<img id="0" class="toolbar icon" alt="Navigate up" clickable="true">',
    '<p id="1" class="article title" clickable="false">How to Become a Grandmaster</p>',
    '<p id="2" class="intro" clickable="false">Becoming a chess grandmaster takes years.</p>',
    '<p id="3" class="author" clickable="true">Co-authored by Jane Doe</p>',
    '<button id="4" clickable="true">Steps</button>',
])


def test_view_hierarchy_becomes_one_html_element_per_line():
    tree = ET.fromstring(HIERARCHY)
    assert screen_html(tree) == SEARCH_SCREEN
    elements = screen_elements(tree)
    # zero-size and inverted boxes are not elements, as in VhIoWrapper; ids are consecutive
    assert [e.index for e in elements] == [0, 1, 2, 3]
    assert [e.tag for e in elements] == ["input", "img", "p", "button"]
    assert elements[2].clickable  # the TextView itself is not clickable, its parent row is


def test_action_parsing_and_clipping():
    assert parse_action("CLICK(2)", 4) == ("CLICK(2)", {"action_type": 1, "element_id": 2})
    assert parse_action("CLICK(99)", 4) == ("CLICK(3)", {"action_type": 1, "element_id": 3})
    assert parse_action("INPUT(0, become a grandmaster)", 4) == (
        "INPUT(0, become a grandmaster)", {"action_type": 2, "element_id": 0, "text": "become a grandmaster"},
    )
    assert parse_action("SCROLL(down)", 4) == ("SCROLL(DOWN)", {"action_type": 3, "direction": 3})
    assert parse_action("GOBACK", 4) == ("GOBACK", {"action_type": 4})
    for bad in ("click the title", "CLICK(x)", "SCROLL(SIDEWAYS)", "INPUT(1)", "CLICK(1, extra)"):
        assert parse_action(bad, 4) == ("NOTHING", {"action_type": 0})
    assert available_actions(screen_elements(ET.fromstring(HIERARCHY))) == (
        "CLICK(0)", "CLICK(1)", "CLICK(2)", "CLICK(3)", "INPUT(0, ...)",
        "SCROLL(UP)", "SCROLL(DOWN)", "SCROLL(LEFT)", "SCROLL(RIGHT)", "GOBACK",
    )


def test_lcs_over_tag_sequences():
    assert tag_sequence(SEARCH_SCREEN) == ["input", "img", "p", "button"]
    assert tag_sequence(ARTICLE_SCREEN) == ["img", "p", "p", "p", "button"]
    # LCS(input img p button, img p p p button) = img p button = 3; longer sequence has 5
    assert lcs_similarity(SEARCH_SCREEN, ARTICLE_SCREEN) == pytest.approx(3 / 5)
    assert lcs_similarity(SEARCH_SCREEN, SEARCH_SCREEN) == 1.0
    assert lcs_similarity("", "") == 1.0
    assert lcs_similarity(SEARCH_SCREEN, "") == 0.0


def test_six_instruction_types_and_their_score_matrix():
    cases = {
        "": 0,
        'Access the article "How to Become a Grandmaster"': 1,
        "Check the author page of Jane Doe": 2,
        'Access the page of category "Hobbies"': 3,
        'Check the reference list of "How to Become a Grandmaster"': 4,
        "Access the about page of the article": 5,
        "Do something else": None,
    }
    for text, expected in cases.items():
        assert instruction_type(text) == expected, text
    # the original code never recognised the reference list (it tested the whole instruction)
    assert instruction_type('Check the reference list of "X"', reference_bug=True) is None
    assert instruction_type("Check the author page of X", reference_bug=True) == 2
    assert inspat_similarity("", 'Access the article "X"') == pytest.approx(0.1)
    assert inspat_similarity("Check the author page of A", 'Access the page of category "B"') == pytest.approx(0.8)
    assert inspat_similarity('Check the reference list of "X"', "Access the about page") == pytest.approx(0.8)
    assert inspat_similarity("Do something else", "") == 0.0


def test_observation_similarity_is_half_lcs_half_inspat():
    search = observation_key("", SEARCH_SCREEN)
    article = observation_key('Access the article "How to Become a Grandmaster"', ARTICLE_SCREEN)
    assert split_key(article) == ('Access the article "How to Become a Grandmaster"', ARTICLE_SCREEN)
    assert observation_similarity(search, search) == pytest.approx(1.0)
    assert observation_similarity(search, article) == pytest.approx(0.5 * 3 / 5 + 0.5 * 0.1)
    other_article = observation_key('Access the article "How to Fix Wet Suede Shoes"', ARTICLE_SCREEN)
    assert observation_similarity(article, other_article) == pytest.approx(1.0)


def test_missing_setup_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("REMEMBERER_WIKIHOW_TASKS", raising=False)
    with pytest.raises(TaskError, match="no task definitions.*REMEMBERER_WIKIHOW_TASKS"):
        load_task_set("wikihow")
    (tmp_path / "become_a_grandmaster-7.textproto").write_text("id: 'x'\n")
    with pytest.raises(TaskError) as info:
        load_task_set("wikihow", task_dir=str(tmp_path), android_sdk_root=str(tmp_path / "sdk"))
    message = str(info.value)
    for piece in ("mobile-env-rl", "Android emulator", "adb", "Android virtual device", "APK", "replay data"):
        assert piece in message, piece
    assert "task definitions" not in message  # those were found


class _StandIn:
    """A stand-in for the VhIoWrapper-wrapped Mobile-Env (no emulator exists here): two sub-goals."""

    def __init__(self):
        self.instructions = []
        self.sent = []

    def _timestep(self, reward, last, tree):
        return SimpleNamespace(reward=reward, last=lambda: last, observation={"view_hierarchy": tree})

    def switch_task(self, index):
        self.index = index
        return self._timestep(0.0, False, ET.fromstring(HIERARCHY))

    def command(self):
        return ["Search an article to learn how to become a grandmaster.", 'Then, access the article "How to Become a Grandmaster"']

    def task_instructions(self):
        out, self.instructions = self.instructions, []
        return out

    def step(self, action):
        self.sent.append({k: v.item() for k, v in action.items()})
        if action["action_type"] == 2:  # INPUT: the search sub-goal is done
            self.instructions = ['Access the article "How to Become a Grandmaster"']
            return self._timestep(1.0, False, ET.fromstring(HIERARCHY))
        if action["action_type"] == 1 and action["element_id"] == 2:
            return self._timestep(1.0, True, None)
        return self._timestep(0.0, False, None)


def test_adapter_passes_intermediate_rewards_and_instructions(tmp_path):
    for name in ("become_a_grandmaster-7", "be_free-0"):
        (tmp_path / f"{name}.textproto").write_text("")
    backend = _StandIn()
    env = WikiHowEnv(WikiHowConfig(task_dir=tmp_path, step_cap=15), backend=backend)
    first = env.reset("become_a_grandmaster-7")
    assert backend.index == 1  # sorted task files: be_free-0, become_a_grandmaster-7
    assert first.task.startswith("Search an article") and split_key(first.observation) == ("", SEARCH_SCREEN)
    nothing = env.step("think about chess")
    assert nothing.reward == 0 and "nothing was done" in nothing.feedback
    searched = env.step("INPUT(0, become a grandmaster)")
    assert searched.reward == 1.0 and not searched.done
    assert split_key(searched.observation)[0] == 'Access the article "How to Become a Grandmaster"'
    done = env.step("CLICK(2)")
    assert done.reward == 1.0 and done.done and done.success
    assert backend.sent[1] == {"action_type": 2, "element_id": 0, "text": "become a grandmaster"}
    assert env.step("GOBACK").feedback == "The episode is over; nothing happened."
    with pytest.raises(TaskError, match="unknown task"):
        env.reset("nope-1")
