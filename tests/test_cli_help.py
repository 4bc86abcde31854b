"""``--help`` reads as user documentation, and bad settings fail with typed errors."""

from __future__ import annotations

import re

import pytest

from viewfinder.cli import main

COMMANDS = [
    [],
    ["ask"],
    ["models"],
    ["index"],
    ["eval"],
    ["eval", "mlvu"],
    ["eval", "longvideobench"],
    ["eval", "niah"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "viewfinder")
def test_help_shows_each_default_once_and_no_internal_notes(command, capsys):
    """No "(default: None)", no option with two defaults, no notes meant for developers."""
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "usage: viewfinder" in text
    assert "(default: None)" not in text
    flat = " ".join(text.split())
    options = re.split(r"\s(?=--?[a-z])", flat)
    assert not [o for o in options if o.count("(default:") > 1], options
    for note in ("lead", ":func:", "``", "registers this"):
        assert note not in text, note


def test_unknown_strategy_is_a_settings_error_listing_the_strategies():
    """VideoQA(strategy=...) with an unknown name fails before any model loads."""
    from viewfinder import VideoQA
    from viewfinder.errors import InvalidQuestionError, SettingsError, UnknownStrategyError

    with pytest.raises(UnknownStrategyError, match=r"agent.*uniform") as caught:
        VideoQA(strategy="guess")
    assert isinstance(caught.value, SettingsError)
    assert not isinstance(caught.value, InvalidQuestionError)


def test_unknown_strategy_at_the_cli_is_one_error_line(capsys, monkeypatch, sample_video):
    """The CLI prints one `error:` line naming the valid strategies and exits 1."""
    monkeypatch.setenv("VIEWFINDER_STRATEGY", "guess")
    assert main(["ask", str(sample_video), "What is shown?"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "uniform" in err[0]
