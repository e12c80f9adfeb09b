"""Family adapters on the real transformers classes with tiny random weights (no download): what each
processor receives, that generation runs, and golden snapshots of the exact prompt text."""

from pathlib import Path

import pytest

from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart

GOLDEN = Path(__file__).parent / "golden"
REGISTRY = discover()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            card = REGISTRY.card(name)
            adapter = REGISTRY.adapter(card.adapter)(card, MediaStore(tmp_path_factory.mktemp("media")), "cpu")
            adapter.load()
            cache[name] = adapter
        return cache[name]

    yield get
    for adapter in cache.values():
        adapter.close()


def ask(*parts, tokens=6):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


def golden_request(clips):
    return ask(VideoPart(clips["av"]), AudioPart(clips["wav"]),
               TextPart("Which comes first?\nA. red\nB. blue\nAnswer with the letter."))


@pytest.mark.parametrize("name", ["tiny-qwen2.5-vl", "tiny-qwen2-audio"])
def test_prompt_golden_snapshot(loaded, clips, name):
    adapter = loaded(name)
    request = golden_request(clips)
    if name == "tiny-qwen2.5-vl":  # takes no audio clips: the golden request without the separate clip
        request = ask(VideoPart(clips["av"]), TextPart("Which comes first?\nA. red\nB. blue\nAnswer with the letter."))
    text = adapter.prompt_text(request)
    golden = GOLDEN / f"{name}.txt"
    assert text == golden.read_text(), f"prompt changed for {name}; review, then update {golden}"


def test_qwen_vl_sees_frames_and_says_it_cannot_hear(loaded, clips):
    adapter = loaded("tiny-qwen2.5-vl")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), TextPart("q")))
    assert len(kwargs["videos"]) == 1 and kwargs["videos"][0].shape[0] == 8
    assert "audio" not in kwargs and "soundtrack not fed" in notes[0]
    reply = adapter.generate([ask(VideoPart(clips["av"]), TextPart("What colour?"))])[0]
    assert reply.error is None and reply.input_tokens > 20 and 0 < reply.output_tokens <= 6
    refused = adapter.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
    assert refused.error_kind == "request_refused" and "takes no audio" in refused.error


def test_qwen_audio_hears_soundtracks_and_clips(loaded, clips):
    adapter = loaded("tiny-qwen2-audio")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["audio"]) == 2 and kwargs["sampling_rate"] == 16000
    assert "frames not fed" in notes[0]
    reply = adapter.generate([ask(AudioPart(clips["wav"]), AudioPart(clips["av"]), TextPart("Which is louder?"))])[0]
    assert reply.error is None and reply.input_tokens > 20
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error and "no soundtrack" in silent.error


def test_qwen3_omni_feeds_frames_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-qwen3-omni")
    conversation, videos, fps, _, audio, slots, notes = adapter.build_inputs(
        ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert videos[0].shape[0] == 8 and slots == [0, None] and len(audio) == 2 and notes == []
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 50 and 0 < reply.output_tokens <= 6
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error is None and "no audio track" in silent.notes[0]


def test_qwen3_omni_prompt_golden_snapshot(loaded, clips):
    adapter = loaded("tiny-qwen3-omni")
    conversation, *_ = adapter.build_inputs(golden_request(clips))
    text = adapter.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert text == (GOLDEN / "tiny-qwen3-omni.txt").read_text()


def test_phi4_multimodal_takes_frames_as_images_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-phi4-multimodal")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["images"]) == 4 and len(kwargs["audio"]) == 2 and notes == []
    assert "Frames of the video at 0.0s" in kwargs["text"][0]
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 100 and 0 < reply.output_tokens <= 6
    assert adapter.prompt_text(golden_request(clips)) == (GOLDEN / "tiny-phi4-multimodal.txt").read_text()


def test_gemma3n_takes_frames_as_images_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-gemma3n")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["images"]) == 2 and len(kwargs["audio"]) == 2 and notes == []
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 500 and 0 < reply.output_tokens <= 6
    assert adapter.prompt_text(golden_request(clips)) == (GOLDEN / "tiny-gemma3n.txt").read_text()
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error is None and "no audio track" in silent.notes[0]


def test_gemma4_takes_video_natively_with_frame_times_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-gemma4")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["videos"]) == 1 and kwargs["videos"][0].shape[0] == 4 and len(kwargs["audio"]) == 2
    assert kwargs["videos_kwargs"]["video_metadata"][0].timestamps == pytest.approx([0.0, 1.3, 2.6, 3.9], abs=1e-3)
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 50 and 0 < reply.output_tokens <= 6
    text = adapter.prompt_text(golden_request(clips))
    assert text == (GOLDEN / "tiny-gemma4.txt").read_text()
    assert "00:00 <start_of_image><|video|><end_of_image> 00:01" in text
