"""strategy.py and calls.py: settings checked against defaults, description, identity, the per-sample context
and its ledger, and what `call` returns or raises."""

import asyncio

import pytest

from aurelia_harness.calls import Ledger, ModelError, add_usage, call, format_options, user_request
from aurelia_harness.cards import ModelCard
from aurelia_harness.strategy import Context, SettingsError, Strategy
from aurelia_harness.types import MediaItem, Reply, Sample, TextPart, VideoPart


class Echo(Strategy):
    """Say the question back.

    More lines that the listing does not show."""

    name = "echo"
    defaults = {"times": 1, "loud": False}


class Model:
    name = "m"

    def __init__(self, reply):
        self.reply = reply

    async def generate(self, request):
        return self.reply


def test_settings_are_checked_against_the_declared_defaults():
    assert Echo({"times": 3}).settings == {"times": 3, "loud": False}
    with pytest.raises(SettingsError, match=r"strategy 'echo': unknown setting\(s\) time in \[strategy.echo\]; "
                                            r"known: loud, times"):
        Echo({"time": 3})
    assert Echo.description() == "Say the question back."
    assert Strategy.description().startswith("Base class")


def test_identity_covers_settings_agents_version_and_plugin():
    a = Echo()
    same = Echo()
    assert a.hash == same.hash
    assert Echo({"times": 2}).hash != a.hash
    b = Echo()
    b.bind({"helper": ModelCard(name="x", adapter="y")})
    assert b.hash != a.hash
    c = Echo()
    c.bind({}, "avharness-echo 0.2.0")
    assert c.hash != a.hash
    assert not Echo.has_agent_work()


def test_call_records_usage_and_notes_in_any_ledger_and_returns_the_reply():
    ctx = Context()
    reply = asyncio.run(call(Model(Reply("B", 10, 2, 0.5, notes=["n1"], media={"audio": []})), object(), ctx, "target"))
    assert reply.text == "B"
    assert ctx.usage == {"target": {"calls": 1, "input_tokens": 10, "output_tokens": 2, "seconds": 0.5,
                                    "decode_seconds": 0.0, "prepare_seconds": 0.0}}
    assert ctx.notes == ["n1"] and ctx.media == [{"role": "target", "audio": []}]
    ledger = Ledger()
    asyncio.run(call(Model(Reply("x", 1, 1, 0.1)), object(), ledger, "judge"))
    assert ledger.usage["judge"]["calls"] == 1 and ledger.media == []


def test_a_failed_reply_raises_with_its_kind_and_names_the_model_once():
    ctx = Context()
    with pytest.raises(ModelError) as info:
        asyncio.run(call(Model(Reply("", error="m: cannot reach http://x", error_kind="connection")), object(), ctx, "t"))
    assert str(info.value) == "m: cannot reach http://x" and info.value.kind == "connection"
    with pytest.raises(ModelError, match="^m: boom$"):
        asyncio.run(call(Model(Reply("", error="boom")), object(), ctx, "t"))
    assert ctx.usage["t"]["calls"] == 2  # a failed call still costs a call


def test_context_names_a_missing_role_and_usage_adds_up():
    with pytest.raises(KeyError, match="no model bound to role 'judge'"):
        Context().model("judge")
    total = add_usage({}, {"a": {"calls": 1, "input_tokens": 2, "output_tokens": 3, "seconds": 1.0}})
    add_usage(total, {"a": {"calls": 1, "seconds": 0.5}, "b": {"calls": 2}})
    assert {k: total["a"][k] for k in ("calls", "input_tokens", "output_tokens", "seconds")} == \
        {"calls": 2, "input_tokens": 2, "output_tokens": 3, "seconds": 1.5}
    assert total["b"]["calls"] == 2


def test_requests_carry_the_media_in_order_with_roles():
    sample = Sample("s", "t", "q?", (MediaItem("video", __import__("pathlib").Path("/v.mp4"), "candidate 1"),),
                    ("red", "blue"))
    request = user_request(sample, "Pick one", 12, system="Be brief")
    assert [m.role for m in request.messages] == ["system", "user"] and request.max_new_tokens == 12
    parts = request.messages[1].parts
    assert isinstance(parts[0], VideoPart) and parts[1] == TextPart("(above: candidate 1)\n")
    assert parts[-1].text == "Pick one" and format_options(sample.options) == "A. red\nB. blue"
