"""models.py and media/policy.py: the adapter base's per-request contract, the async handle that batches
what arrives together, and the one media policy every adapter decodes with."""

import asyncio
from pathlib import Path

import pytest

from aurelia_harness.cards import ModelCard
from aurelia_harness.errors import ConfigError
from aurelia_harness.media.policy import MediaPolicy
from aurelia_harness.models import Accepts, ModelAdapter, ModelHandle
from aurelia_harness.types import AudioPart, Message, Reply, Request, TextPart, VideoPart


def ask(*parts, tokens=8):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


class Counting(ModelAdapter):
    accepts = Accepts(video=True, audio=False, image=False)
    media_defaults = {"frames": 12, "max_pixels": 1000}

    def __init__(self, card, raise_on=None, isolate=True):
        super().__init__(card, media=None)
        self.batches, self.raise_on, self.isolate_batch_failures = [], raise_on, isolate

    def generate_batch(self, requests):
        self.batches.append(len(requests))
        if any(self.raise_on and self.raise_on in r.messages[-1].text for r in requests):
            raise RuntimeError("batch broke")
        return [Reply(r.messages[-1].text.upper()) for r in requests]


def test_refusals_and_failures_are_per_request_and_a_raising_batch_is_isolated():
    adapter = Counting(ModelCard(name="c", adapter="counting"), raise_on="bad")
    replies = adapter.generate([ask(TextPart("one")), ask(AudioPart(Path("/a.wav")), TextPart("two")),
                                ask(TextPart("bad")), ask(TextPart("three"))])
    assert [r.text for r in replies] == ["ONE", "", "", "THREE"]
    assert replies[1].error_kind == "request_refused" and "takes no audio" in replies[1].error
    assert replies[2].error == "batch broke"
    assert adapter.batches == [3, 1, 1, 1]  # the failed batch of 3, then each request alone


def test_an_adapter_whose_calls_cost_money_never_sends_a_request_twice():
    adapter = Counting(ModelCard(name="c", adapter="counting"), raise_on="bad", isolate=False)
    replies = adapter.generate([ask(TextPart("one")), ask(TextPart("bad"))])
    assert [r.error for r in replies] == ["batch broke", "batch broke"] and adapter.batches == [2]


def test_the_handle_batches_what_arrives_together_and_restricts_the_modality():
    adapter = Counting(ModelCard(name="c", adapter="counting"))
    handle = ModelHandle(adapter, batch_size=2, modality="text")

    async def main():
        return await asyncio.gather(*(handle.generate(ask(VideoPart(Path("/v.mp4")), TextPart(f"q{i}")))
                                      for i in range(3)))

    replies = asyncio.run(main())
    assert [r.text for r in replies] == ["Q0", "Q1", "Q2"] and adapter.batches == [2, 1]
    assert all(r.seconds > 0 for r in replies)  # the video was stripped (text only), so no refusal either


def test_policy_layers_family_defaults_under_the_card_and_hints_only_lower_frames():
    card = ModelCard(name="c", adapter="x", options={"media": {"frames": 20, "audio_rate": "22050", "dynamic_hd": 4}})
    policy = MediaPolicy.from_card(card, {"frames": 12, "max_pixels": 1000})
    assert (policy.frames, policy.max_pixels, policy.audio_rate, policy.extra) == (20, 1000, 22050, {"dynamic_hd": 4})
    assert policy.video_spec(VideoPart(Path("/v"))).n_frames == 20
    assert policy.video_spec(VideoPart(Path("/v"), max_frames=5, sampler="ssim")).n_frames == 5
    assert policy.video_spec(VideoPart(Path("/v"), max_frames=50)).n_frames == 20  # a hint never raises it
    assert policy.video_spec(VideoPart(Path("/v")), frames=4).n_frames == 4  # out-of-memory retry
    by_rate = MediaPolicy.from_card(ModelCard(name="r", adapter="x", options={"media": {"fps": 2, "max_frames": 64}}))
    spec = by_rate.video_spec(VideoPart(Path("/v")))
    assert (spec.n_frames, spec.fps, spec.max_frames) == (None, 2.0, 64)
    with pytest.raises(ConfigError, match="media.frames = 'many' is not a int"):
        MediaPolicy.from_card(ModelCard(name="b", adapter="x", options={"media": {"frames": "many"}}))


def test_soundtrack_or_a_note_once(tmp_path, clips):
    from aurelia_harness.media import MediaStore

    store = MediaStore(tmp_path / "cache")
    policy = MediaPolicy()
    notes = []
    assert len(policy.soundtrack(store, VideoPart(clips["av"]), notes).samples) > 0 and notes == []
    assert policy.soundtrack(store, VideoPart(clips["silent"]), notes) is None
    assert policy.soundtrack(store, VideoPart(clips["silent"]), notes) is None
    assert notes == ["silent.mp4 has no audio track: fed video only"]
    assert policy.soundtrack(store, VideoPart(clips["av"], with_audio=False), notes) is None and len(notes) == 1
    deaf = MediaPolicy(audio_in_video=False)
    assert deaf.soundtrack(store, VideoPart(clips["av"]), notes) is None and len(notes) == 1
