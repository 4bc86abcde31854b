"""When the agent plans with the LLM and when it looks again (scripted models, fake index).

The first look plans by rules only; looking again happens only while no passage backs the
answer and the last look found something new; an open question's look again gets an LLM plan.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fakes import FakeIndex, ScriptedLLM, talk_index

from viewfinder.agent.context import AgentOptions
from viewfinder.agent.graph import should_look_again, should_replan
from viewfinder.agent.plan import rule_plan
from viewfinder.agent.run import answer_agent
from viewfinder.agent.state import Plan, QAState
from viewfinder.answer import Answer
from viewfinder.indexes.transcript import SpeechSegment
from viewfinder.runtime import Models
from viewfinder.settings import Settings

QUESTION = "When was the meeting moved to?"
OPTIONS = ["Monday", "Thursday", "Friday", "Sunday"]


def _run(index: FakeIndex, llm: ScriptedLLM, options=OPTIONS, **settings) -> Answer:
    s = Settings(ocr=None, vlm=None, llm="scripted", **settings)
    models = Models(s)
    models.use("llm", llm)
    return answer_agent(index.info.path, index, QUESTION, options, models, s)


def _nodes(ans: Answer) -> list[str]:
    return [t["node"] for t in ans.trace if "node" in t]


def _unsaid() -> FakeIndex:
    """The talk without the line naming the day: no passage backs any answer."""
    index = talk_index()
    index.speech_segments[15] = SpeechSegment(300, 304, "the meeting moved")
    return index


def test_an_open_question_is_planned_by_rules_on_the_first_look():
    """No planning generation before the first answer: the only model call is the answer."""
    index = talk_index()
    llm = ScriptedLLM(plan_text="thursday")
    ans = _run(index, llm, options=None)
    assert ans.text == "thursday" and ans.usage["steps"] == 1
    plan = next(t["plan"] for t in ans.trace if t.get("node") == "plan")
    assert plan["source"] == "rules"
    assert "replan" not in _nodes(ans) and len(llm.prompts) == 1


def test_a_backed_answer_stops_even_when_unsure():
    """Two days are said about the meeting: both options are backed, so confidence is low,
    but a wider look would find the same two passages; the agent stops and says why."""
    index = talk_index()
    index.speech_segments[20] = SpeechSegment(400, 404, "the meeting moved to friday")
    llm = ScriptedLLM([{"B": 0.5, "C": 0.5}])
    ans = _run(index, llm)
    answer = [t for t in ans.trace if t.get("node") == "answer"]
    assert ans.usage["steps"] == 1 and ans.confidence < 0.6 and ans.text in ("Thursday", "Friday")
    assert answer[0]["next"] == "end" and "backs the answer" in answer[0]["why"]


def test_a_look_that_finds_nothing_new_ends_the_loop():
    """Nothing backs any option: one look again (it may find the passage), and when it finds
    no backing passage either the agent stops instead of using its third step."""
    ans = _run(_unsaid(), ScriptedLLM([{"A": 0.3, "B": 0.3, "C": 0.2, "D": 0.2}]), max_steps=3)
    answers = [t for t in ans.trace if t.get("node") == "answer"]
    assert ans.usage["steps"] == 2 and len(answers) == 2
    assert answers[0]["next"] == "reflect" and "no passage backs" in answers[0]["why"]
    assert answers[1]["next"] == "end" and "no backing passage" in answers[1]["why"]


def test_a_look_again_at_an_open_question_is_planned_by_the_llm_and_zooms():
    """An unbacked open answer ("not found") looks again: the LLM writes sub-queries then,
    searched on the second look only; zoom crops are planned only on that look too."""
    index = _unsaid()
    llm = ScriptedLLM(plan_text=" calendar\nwritten: agenda")
    ans = _run(index, llm, options=None)
    nodes = _nodes(ans)
    last_retrieve = len(nodes) - 1 - nodes[::-1].index("retrieve")
    assert nodes.count("retrieve") == 2 and nodes.index("reflect") < nodes.index("replan")
    assert nodes.index("replan") < last_retrieve
    plans = [t["plan"]["source"] for t in ans.trace if t.get("node") in ("plan", "replan")]
    assert plans == ["rules", "llm"]
    first_k = index.queries[0][2]
    assert ("text", "agenda", first_k) not in index.queries  # not searched on the first look
    assert any(m == "text" and q == "agenda" for m, q, _ in index.queries)
    crops = [len(t["allocation"]["crops"]) for t in ans.trace if "allocation" in t]
    assert crops[0] == 0 and crops[1] > 0


def test_multiple_choice_looks_again_without_an_llm_plan():
    """The options already are the queries: a look again widens them, it never replans."""
    llm = ScriptedLLM([{"A": 0.3, "B": 0.3, "C": 0.2, "D": 0.2}])
    ans = _run(_unsaid(), llm)
    assert "reflect" in _nodes(ans) and "replan" not in _nodes(ans)
    # No plan call ever; the second look found no new backing passage, so no second answer.
    assert len(llm.prompts) == 1


def _runtime(**options) -> SimpleNamespace:
    return SimpleNamespace(context=SimpleNamespace(options=AgentOptions(**options)))


def test_router_after_answer_stops_when_backed_or_nothing_new():
    """`should_look_again` reflects only for an unsure, unbacked answer whose look was new."""
    unsure = Answer("x", confidence=0.3)
    runtime = _runtime(max_steps=3)
    assert should_look_again(QAState("q", answer=unsure), runtime) == "reflect"
    assert should_look_again(QAState("q", answer=unsure, answer_backed=True), runtime) == "end"
    stale = QAState("q", step=1, answer=unsure, found_new=False)
    assert should_look_again(stale, runtime) == "end"
    fresh = QAState("q", step=1, answer=unsure, found_new=True)
    assert should_look_again(fresh, runtime) == "reflect"
    assert should_look_again(QAState("q", answer=unsure), _runtime(reflect=False)) == "end"


def test_router_after_reflect_replans_open_questions_once():
    """`should_replan`: an LLM plan for an open question planned by rules, never again, never
    for multiple choice or with planning off; reflecting before any plan is refused."""
    rules = rule_plan("q", None)
    llm_made = Plan(rules.queries, "open", "llm")
    runtime = _runtime()
    assert should_replan(QAState("q", plan=rules), runtime) == "replan"
    assert should_replan(QAState("q", plan=llm_made), runtime) == "retrieve"
    assert should_replan(QAState("q", options=OPTIONS, plan=rules), runtime) == "retrieve"
    assert should_replan(QAState("q", plan=rules), _runtime(plan=False)) == "retrieve"
    with pytest.raises(ValueError, match="before plan"):
        should_replan(QAState("q"), runtime)
