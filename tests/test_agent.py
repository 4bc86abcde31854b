"""The agent's routing and budget with scripted fake models (no real model runs here)."""

from __future__ import annotations

import random

import pytest
from fakes import FakeIndex, ScriptedLLM, line, talk_index

from viewfinder.agent.budget import BudgetOptions, ZoomTarget, allocate, tokens_for
from viewfinder.agent.run import answer_agent
from viewfinder.agent.state import KeyClip
from viewfinder.indexes.transcript import SpeechSegment
from viewfinder.runtime import Models
from viewfinder.settings import Settings

OPTIONS = ["Monday", "Thursday", "Friday", "Sunday"]


def _run(index, llm, options=OPTIONS, **settings):
    settings.setdefault("llm", "scripted")
    s = Settings(ocr=None, vlm=None, **settings)
    models = Models(s)
    models.use("llm", llm)
    return answer_agent(
        index.info.path, index, "When was the meeting moved to?", options, models, s
    )


def test_confident_answer_stops_after_one_look():
    """A confident first answer ends the loop: one step, the supported option chosen."""
    ans = _run(talk_index(), ScriptedLLM([{"B": 0.9, "A": 0.1}]))
    assert ans.usage["steps"] == 1 and ans.choice == "B" and ans.text == "Thursday"
    assert any(300 <= e.start <= 304 for e in ans.evidence)


def _unsaid() -> FakeIndex:
    """The talk without the line that names the day: no passage supports any option."""
    index = talk_index()
    index.speech_segments[15] = SpeechSegment(300, 304, "the meeting moved")
    return index


@pytest.mark.parametrize("max_steps", [1, 2])
def test_loop_ends_within_max_steps(max_steps):
    """Never confident, nothing backed: the agent answers max_steps times, not more (a third
    look is also cut when the second found nothing new: tests/test_agent_steps.py)."""
    llm = ScriptedLLM([{"A": 0.3, "B": 0.3, "C": 0.2, "D": 0.2}])
    ans = _run(_unsaid(), llm, max_steps=max_steps)
    answers = [t for t in ans.trace if t.get("node") == "answer"]
    assert ans.usage["steps"] == max_steps and len(answers) == max_steps
    assert answers[-1]["next"] == "end"


def test_low_confidence_triggers_a_wider_second_look():
    """An unsure, unbacked answer makes the agent search again with more results and new
    sub-queries; when that wider look brings no passage backing any option, the model is not
    asked again and the first answer stands."""
    index = _unsaid()
    llm = ScriptedLLM([{"A": 0.4, "B": 0.35, "C": 0.15, "D": 0.1}, {"B": 0.99, "A": 0.01}])
    ans = _run(index, llm)
    assert ans.usage["steps"] == 2 and ans.choice == "A" and llm.calls == 1
    clips = [t["clips"] for t in ans.trace if t.get("node") == "select_clips"]
    assert len(clips) == 2 and len(clips[1]) > len(clips[0])
    ks = [k for _, _, k in index.queries]
    assert ks[0] < ks[-1]  # the second look asks each index for more results
    # The second look searches the options' own words.
    assert any(q == "Thursday" for _, q, _ in index.queries)
    assert "Thursday" in [t for t in ans.trace if t.get("node") == "reflect"][0]["extra_queries"]
    last = [t for t in ans.trace if t.get("node") == "answer"][-1]
    assert last["model_call"] is False and "no model call" in last["why"]


def test_no_reflect_answers_once():
    """The --no-reflect ablation answers once even when unsure."""
    ans = _run(talk_index(), ScriptedLLM([{"A": 0.3, "B": 0.3, "C": 0.4}]), flags=("no-reflect",))
    assert ans.usage["steps"] == 1


def test_missing_index_is_skipped_and_reported():
    """No CLIP weights: retrieval skips the visual index, the trace and notes say why."""
    ans = _run(talk_index(), ScriptedLLM([{"B": 0.9}]))
    retrieve = [t for t in ans.trace if t.get("node") == "retrieve"][0]
    assert retrieve["skipped"] == {"visual": "no CLIP weights installed"}
    assert any("visual index unavailable: no CLIP weights installed" in n for n in ans.notes)


@pytest.mark.parametrize("budget", [16, 64, 100, 256, 1000, 4096])
def test_agent_never_exceeds_the_budget(budget):
    """Planned visual tokens stay within the budget whatever it is."""
    ans = _run(talk_index(), ScriptedLLM([{"A": 0.3, "B": 0.3}]), budget=budget, max_steps=3)
    assert 0 < ans.usage["visual_tokens_planned"] <= budget
    for entry in ans.trace:
        if "allocation" in entry:
            assert entry["allocation"]["tokens"] <= budget


def test_frames_not_clips_takes_one_frame_per_clip():
    """The frame-selection ablation spends one frame at each span's peak."""
    ans = _run(talk_index(), ScriptedLLM([{"B": 0.9}]), flags=("frames-not-clips",))
    allocation = [t for t in ans.trace if "allocation" in t][-1]["allocation"]
    assert all(len(f["times"]) == 1 for f in allocation["frames"])


def test_plan_from_llm_lines_is_used():
    """For an open question looked at again, a well-formed plan from the LLM becomes
    per-modality sub-queries of the wider second look (the first look plans by rules)."""
    index = talk_index()
    llm = ScriptedLLM([{"B": 0.9}], plan_text=" meeting moved\nwritten: agenda\nseen: calendar")
    _run(index, llm, options=None)
    assert ("speech", "meeting moved", 12) in index.queries
    assert ("text", "agenda", 12) in index.queries
    assert not any(q == "agenda" for _, q, k in index.queries if k == 6)


def test_multiple_choice_is_planned_by_rules_without_an_llm_call():
    """The options already are the queries: no planning generation, each option searched."""
    index = talk_index()
    llm = ScriptedLLM([{"B": 0.9}], plan_text=" meeting moved\nwritten: agenda\nseen: calendar")
    ans = _run(index, llm)
    plan = next(t["plan"] for t in ans.trace if "plan" in t)
    assert plan["source"] == "rules" and len(llm.prompts) == 1  # the answer's choose() only
    assert not any(q == "agenda" for _, q, _ in index.queries)
    assert any("Thursday" in q for _, q, _ in index.queries)


def _clip(i: int, score: float, length: float = 10.0) -> KeyClip:
    return KeyClip(i * 30.0, i * 30.0 + length, score, i * 30.0 + 1)


def test_allocator_favours_the_best_clip_and_respects_budget():
    """The top clip gets the sharpest frames; context clips fewer and smaller."""
    clips = [_clip(0, 1.0), _clip(1, 0.3), _clip(2, 0.1)]
    a = allocate(clips, 1024)
    assert a.tokens <= 1024
    top, rest = a.frames[0], a.frames[1:]
    assert top.side == max(f.side for f in a.frames)
    assert all(top.tokens >= f.tokens for f in rest)


def test_allocator_zoom_crops_cost_tokens():
    """Zoom crops take their share of the budget at full crop resolution."""
    zoom = [ZoomTarget(3.0, (0.1, 0.8, 0.5, 0.9), "text", 1.0)]
    a = allocate([_clip(0, 1.0)], 512, zoom, BudgetOptions(zoom_share=0.25))
    assert len(a.crops) == 1 and a.crops[0].tokens == tokens_for(512)
    assert a.tokens <= 512


def test_allocator_random_inputs_never_overspend():
    """Property check over random clip sets, budgets and zoom targets."""
    rng = random.Random(0)
    for _ in range(300):
        clips = [_clip(i, rng.random(), rng.uniform(0.5, 30)) for i in range(rng.randint(1, 12))]
        zoom = [ZoomTarget(1.0, (0, 0, 1, 1), "z", rng.random()) for _ in range(rng.randint(0, 5))]
        budget = rng.randint(0, 5000)
        a = allocate(clips, budget, zoom)
        assert a.tokens <= budget
        assert sum(f.tokens for f in a.frames) + sum(c.tokens for c in a.crops) == a.tokens


def test_uniform_allocation_fits_the_budget():
    """The baseline shows all frames at the largest affordable size, or thins them evenly."""
    from viewfinder.agent.budget import uniform_allocation

    times = [float(t) for t in range(32)]
    roomy = uniform_allocation(times, 4096)
    assert roomy.frames[0].side == 512 and len(roomy.frames[0].times) == 32
    tight = uniform_allocation(times, 256)
    assert tight.tokens <= 256 and len(tight.frames[0].times) == 16
    assert tight.frames[0].times[0] == 0.0 and tight.frames[0].times[-1] == 30.0


def code_index() -> FakeIndex:
    """The fake talk with many similar on-screen codes, the asked one at 7:30."""
    index = talk_index()
    for i, code in enumerate(["AMBER LANTERN 814", "AMBER ORCHID 529", "COBALT LANTERN 997"]):
        index.text_spans.append(line(100.0 + 150 * i, 104.0 + 150 * i, code))
    index.text_spans.append(line(450.0, 454.0, "AMBERORCHID283"))
    return index


# Only (C) is on screen word for word; (A) and (B) are near misses of codes that are.
CODES = ["AMBER LANTERN 703", "AMBER ORCHID 592", "AMBER ORCHID 283", "COBALT CANYON 184"]


def _code_run(index, llm, **settings):
    s = Settings(ocr=None, vlm=None, llm="scripted", **settings)
    models = Models(s)
    models.use("llm", llm)
    question = "Which of these phrases is shown as on-screen text in the video?"
    return answer_agent(index.info.path, index, question, CODES, models, s)


def test_agent_shows_each_options_closest_passage_to_the_model():
    """The answering prompt lists every option's closest passage; the right one leads the evidence."""
    llm = ScriptedLLM([{"C": 0.9, "B": 0.1}])
    ans = _code_run(code_index(), llm)
    prompt = llm.prompts[-1]
    assert "Closest words in the video to each option:" in prompt
    assert '(C) [07:30-07:34] screen text: "AMBERORCHID283" (100% match)' in prompt
    assert "(D) nothing close in the speech or screen text" in prompt
    assert ans.text == "AMBER ORCHID 283"
    assert any(e.start == 450.0 and e.text == "AMBERORCHID283" for e in ans.evidence)
    retrieve = [t for t in ans.trace if t.get("node") == "retrieve"][0]
    assert retrieve["option_matches"][2] == [1.0, 450.0]
    # The matched moment becomes a key clip even though no sub-query's words hit it.
    clips = [t["clips"] for t in ans.trace if t.get("node") == "select_clips"][0]
    assert any(c[0] <= 450.0 <= c[1] for c in clips)


def test_checks_are_left_out_when_several_options_are_found_verbatim():
    """Two codes both on screen word for word: "100% match" rows would not say which one the
    question means, so the prompt has no checks block and the passages decide."""
    index = code_index()
    index.text_spans.append(line(500.0, 504.0, "AMBER LANTERN 703"))
    llm = ScriptedLLM([{"C": 0.9}])
    _code_run(index, llm)
    assert "Closest words" not in llm.prompts[-1]


def test_no_verify_ablation_leaves_the_prompt_without_checks():
    """--no-verify: no option lookup, no checks block (so evaluation can price it)."""
    llm = ScriptedLLM([{"C": 0.9}])
    _code_run(code_index(), llm, flags=("no-verify",))
    assert "Closest words" not in llm.prompts[-1]


def test_the_fake_index_and_the_real_handle_satisfy_the_agent_protocol(tmp_path):
    """The agent depends on AgentIndex; both the test fake and IndexHandle provide it."""
    from fakes import video_info

    from viewfinder.agent.context import AgentIndex
    from viewfinder.indexes.build import IndexHandle

    assert isinstance(talk_index(), AgentIndex)
    settings = Settings(cache_dir=tmp_path)
    handle = IndexHandle(
        video_info(), None, [], None, None, None, {}, {}, {}, settings, Models(settings)
    )
    assert isinstance(handle, AgentIndex)
    assert handle.search_speech("anything") == [] and handle.search_visual("anything") == []


def test_router_ends_or_reflects_and_refuses_a_missing_answer():
    """The router after `answer` returns "reflect" only while unsure with steps left."""
    from types import SimpleNamespace

    from viewfinder.agent.context import AgentOptions
    from viewfinder.agent.graph import should_look_again
    from viewfinder.agent.state import QAState
    from viewfinder.answer import Answer

    runtime = SimpleNamespace(context=SimpleNamespace(options=AgentOptions(max_steps=3)))
    unsure = QAState("q", answer=Answer("x", confidence=0.3))
    assert should_look_again(unsure, runtime) == "reflect"
    assert should_look_again(QAState("q", step=2, answer=unsure.answer), runtime) == "end"
    assert should_look_again(QAState("q", answer=Answer("x", confidence=0.9)), runtime) == "end"
    with pytest.raises(ValueError, match="no answer"):
        should_look_again(QAState("q"), runtime)


def test_retrieval_and_look_again_numbers_are_agent_options():
    """Hits per sub-query, spans kept and zoom depth come from AgentOptions, widened by reach."""
    from types import SimpleNamespace

    from viewfinder.agent.context import AgentContext, AgentOptions
    from viewfinder.agent.nodes import reflect, retrieve
    from viewfinder.agent.plan import rule_plan
    from viewfinder.agent.state import QAState

    index = talk_index()
    s = Settings(ocr=None, vlm=None, llm=None)
    options = AgentOptions(hits_per_query=2, spans_per_clip=1, clips_per_step=2, max_zoom_depth=1)
    ctx = AgentContext(index.info.path, index, Models(s), s, options)
    runtime = SimpleNamespace(context=ctx)
    state = QAState("When is topic number 3 discussed?", plan=rule_plan("topic number 3", None))
    first = retrieve(state, runtime)
    assert {k for _, _, k in index.queries} == {2}
    assert len(first["spans"]) == 2  # spans_per_clip x clips_per_step
    index.queries.clear()
    wider = retrieve(QAState(state.question, plan=state.plan, reach=2), runtime)
    assert {k for _, _, k in index.queries} == {4} and len(wider["spans"]) == 4
    assert reflect(QAState(state.question, zoom_depth=1), runtime)["zoom_depth"] == 1
