"""Real batching for the transformers families that support it: one generate call for several requests gives,
token for token, what each request gives alone (greedy decoding, tiny real model classes on CPU)."""

import pytest

from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.types import Message, Request, TextPart, VideoPart

REGISTRY = discover()


def ask(*parts, tokens=6):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


@pytest.mark.parametrize("card", ["tiny-omni", "tiny-qwen2.5-vl"])
def test_a_batch_answers_as_each_request_alone(card, clips, tmp_path):
    model = REGISTRY.card(card)
    adapter = REGISTRY.adapter(model.adapter)(model, MediaStore(tmp_path / "media"), "cpu")
    adapter.load()
    assert adapter.batches
    requests = [ask(VideoPart(clips["av"]), TextPart("What colour comes first?")),
                ask(TextPart("A much longer question with no media at all, to make the prompts differ in length?")),
                ask(VideoPart(clips["silent"]), TextPart("Is there a sound?"), tokens=3)]
    alone = [adapter.generate([r])[0] for r in requests]
    calls = []
    real = adapter.generator

    def counting():
        calls.append(1)
        return real()

    adapter.generator = counting
    together = adapter.generate(requests)
    adapter.close()
    assert len(calls) <= 2  # requests agreeing on generation settings share one call
    assert [r.error for r in together] == [None, None, None]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.input_tokens for r in together] == [r.input_tokens for r in alone]
