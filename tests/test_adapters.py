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
    assert reply.media["audio"] == [] and len(reply.media["video"][0]["timestamps"]) == 8
    refused = adapter.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
    assert refused.error_kind == "request_refused" and "takes no audio" in refused.error


def test_qwen_audio_hears_soundtracks_and_clips(loaded, clips):
    adapter = loaded("tiny-qwen2-audio")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["audio"]) == 2 and kwargs["sampling_rate"] == 16000
    assert "frames not fed" in notes[0]
    reply = adapter.generate([ask(AudioPart(clips["wav"]), AudioPart(clips["av"]), TextPart("Which is louder?"))])[0]
    assert reply.error is None and reply.input_tokens > 20
    assert [a["soundtrack"] for a in reply.media["audio"]] == [False, False]  # two clips, no video
    heard = adapter.prepare(ask(VideoPart(clips["av"]), TextPart("q")))["receipt"]
    assert heard["video"] == [] and [a["soundtrack"] for a in heard["audio"]] == [True]  # the soundtrack, not the frames
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error and "no soundtrack" in silent.error


def test_qwen3_omni_feeds_frames_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-qwen3-omni")
    conversation, videos, fps, _, audio, slots, notes = adapter.build_inputs(
        ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert videos[0].shape[0] == 8 and slots == [0, None] and len(audio) == 2 and notes == []
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 50 and 0 < reply.output_tokens <= 6
    assert [a["soundtrack"] for a in reply.media["audio"]] == [True, False] and reply.media["audio_in_video"]
    assert len(reply.media["video"][0]["timestamps"]) == 8 and reply.media["tokens"]["audio"] > 0
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error is None and "no audio track" in silent.notes[0] and silent.media["audio"] == []


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
    video, = reply.media["video"]
    assert video["as_images"] and video["frames"] == 4 and video["timestamps"] == pytest.approx([0.0, 1.3, 2.6, 3.9], abs=1e-3)
    assert [a["soundtrack"] for a in reply.media["audio"]] == [True, False] and reply.media["tokens"]["audio"] > 0
    assert adapter.prompt_text(golden_request(clips)) == (GOLDEN / "tiny-phi4-multimodal.txt").read_text()


def test_gemma3n_takes_frames_as_images_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-gemma3n")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["images"]) == 2 and len(kwargs["audio"]) == 2 and notes == []
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 500 and 0 < reply.output_tokens <= 6
    assert reply.media["video"][0]["frames"] == 2 and len(reply.media["video"][0]["timestamps"]) == 2
    assert [a["soundtrack"] for a in reply.media["audio"]] == [True, False]
    assert adapter.prompt_text(golden_request(clips)) == (GOLDEN / "tiny-gemma3n.txt").read_text()
    silent = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert silent.error is None and "no audio track" in silent.notes[0] and silent.media["audio"] == []


def test_gemma4_takes_video_natively_with_frame_times_and_the_soundtrack(loaded, clips):
    adapter = loaded("tiny-gemma4")
    kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    assert len(kwargs["videos"]) == 1 and kwargs["videos"][0].shape[0] == 4 and len(kwargs["audio"]) == 2
    assert kwargs["videos_kwargs"]["video_metadata"][0].timestamps == pytest.approx([0.0, 1.3, 2.6, 3.9], abs=1e-3)
    reply = adapter.generate([golden_request(clips)])[0]
    assert reply.error is None and reply.input_tokens > 50 and 0 < reply.output_tokens <= 6
    assert reply.media["video"][0]["timestamps"] == pytest.approx([0.0, 1.3, 2.6, 3.9], abs=1e-3)
    assert [a["soundtrack"] for a in reply.media["audio"]] == [True, False] and reply.media["tokens"]["video"] > 0
    text = adapter.prompt_text(golden_request(clips))
    assert text == (GOLDEN / "tiny-gemma4.txt").read_text()
    assert "00:00 <start_of_image><|video|><end_of_image> 00:01" in text


@pytest.mark.parametrize("name", ["tiny-gemma3n", "tiny-gemma4"])
def test_gemma_gets_exactly_one_bos_from_a_template_and_a_tokenizer_that_both_add_one(loaded, clips, name):
    adapter = loaded(name)
    processor, tokenizer = adapter.processor, adapter.processor.tokenizer
    template, adds = processor.chat_template, tokenizer.add_bos_token
    bos = tokenizer.convert_tokens_to_ids(tokenizer.bos_token)
    # as the real checkpoints: the template starts with {{ bos_token }} and the tokenizer adds one too
    processor.chat_template, tokenizer.add_bos_token = "{{ bos_token }}" + template, True
    try:
        kwargs, _, _ = adapter.processor_inputs(ask(VideoPart(clips["av"]), TextPart("q")))
        ids = processor(**kwargs, return_tensors="pt")["input_ids"][0].tolist()
        assert ids.count(bos) == 1 and ids[0] == bos
        twice = processor(**{k: v for k, v in kwargs.items() if k != "add_special_tokens"}, return_tensors="pt")
        assert twice["input_ids"][0].tolist()[:2] == [bos, bos]  # what tokenizing the rendered text again gave
    finally:
        processor.chat_template, tokenizer.add_bos_token = template, adds


def test_gemma_says_when_a_soundtrack_is_cut_to_its_audio_limit(loaded, clips):
    import dataclasses

    adapter = loaded("tiny-gemma3n")
    assert adapter.policy.audio_max_seconds == 30  # the feature extractor's 480,000 samples at 16 kHz
    assert REGISTRY.card("gemma-4-e2b").get("media.audio_max_seconds") == 30
    kept = adapter.policy
    adapter.policy = dataclasses.replace(kept, audio_max_seconds=1.0)
    try:
        kwargs, _, notes = adapter.processor_inputs(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))
    finally:
        adapter.policy = kept
    assert [len(a) for a in kwargs["audio"]] == [16000, 16000] and len(kwargs["images"]) == 2
    assert notes == ["av.mp4: the model hears the first 1 s of its soundtrack; the frames cover the whole clip "
                     "(4.0 s long; its audio input stops at 1 s)",
                     "tone.wav: the model hears the first 1 s of the clip (2.0 s long; its audio input stops at 1 s)"]


def test_qwen3_omni_gets_no_system_prompt_and_qwen25_its_persona(loaded, clips):
    request = ask(VideoPart(clips["av"]), TextPart("q"))
    qwen3, _, _, _, _, _, _ = loaded("tiny-qwen3-omni").build_inputs(request)
    assert [m["role"] for m in qwen3] == ["user"]
    assert REGISTRY.card("qwen3-omni-30b-a3b").get("system_prompt") == ""
    card = REGISTRY.card("qwen2.5-omni-7b")
    assert card.get("system_prompt").startswith("You are Qwen, a virtual human")


def test_qwen_omni_pixel_bounds_are_the_authors(loaded):
    from aurelia_harness.media.policy import MediaPolicy

    adapter = loaded("tiny-qwen3-omni")
    kept = adapter.policy
    try:
        adapter.policy = MediaPolicy.from_card(REGISTRY.card("qwen3-omni-30b-a3b"))
        assert adapter.pixel_bounds(8) == {"shortest_edge": 131072, "longest_edge": 786432}
        adapter.policy = MediaPolicy.from_card(REGISTRY.card("qwen2.5-omni-7b"))
        assert adapter.pixel_bounds(8) == {"shortest_edge": 100352, "longest_edge": 602112}
        # qwen-omni-utils' whole-video budget: 768 frames share 90,316,800 pixels in temporal pairs
        assert adapter.pixel_bounds(768) == {"shortest_edge": 100352, "longest_edge": 235200}
        adapter.policy = MediaPolicy(max_pixels=12544)  # no lower bound on the card: the processor's, kept below the upper
        assert adapter.pixel_bounds(8) == {"shortest_edge": 12544, "longest_edge": 12544}
    finally:
        adapter.policy = kept


@pytest.mark.parametrize("name", ["tiny-omni", "tiny-qwen3-omni", "tiny-qwen2.5-vl"])
def test_qwen_video_processors_get_the_reference_whole_video_pixel_cap(loaded, clips, name):
    from avharness_plugins.models.hf_base import declared_video_kwargs

    adapter = loaded(name)
    kwargs, _, _ = adapter.processor_inputs(ask(VideoPart(clips["av"]), TextPart("q")))
    assert kwargs["videos_kwargs"]["cap_pixels_per_frame"] is True  # else transformers warns, and leaves it off
    capped = adapter.processor(**kwargs, return_tensors="pt")["video_grid_thw"]
    kwargs["videos_kwargs"]["cap_pixels_per_frame"] = False
    assert capped.tolist() == adapter.processor(**kwargs, return_tensors="pt")["video_grid_thw"].tolist()  # 8 small frames: under it
    # a name the video processor does not declare is not passed (an older transformers, another family)
    assert declared_video_kwargs(adapter.processor, cap_pixels_per_frame=True, not_a_kwarg=1) == {"cap_pixels_per_frame": True}


def test_phi4_loads_the_native_revision(monkeypatch):
    import transformers

    import aurelia_harness.hub

    card = REGISTRY.card("phi-4-multimodal")
    assert card.revision == "refs/pr/70"
    seen = {}

    class Stop(Exception):
        pass

    def processor(checkpoint, **kwargs):
        seen.update(kwargs, checkpoint=checkpoint)
        raise Stop

    monkeypatch.setattr(aurelia_harness.hub, "ensure_reachable", lambda *a, **k: None)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", processor)
    with pytest.raises(Stop):
        REGISTRY.adapter(card.adapter)(card, MediaStore(None), "cpu").load()
    assert seen == {"checkpoint": "microsoft/Phi-4-multimodal-instruct", "revision": "refs/pr/70"}


def test_config_token_id_warnings_are_left_out_while_loading():
    import logging

    from transformers import Qwen2Config

    from avharness_plugins.models.hf_base import quiet_token_id_warnings

    logger = logging.getLogger("transformers.configuration_utils")
    heard = []
    handler = logging.Handler()
    handler.emit = lambda record: heard.append(record.getMessage())
    logger.addHandler(handler)
    try:
        with quiet_token_id_warnings():
            Qwen2Config(vocab_size=16, bos_token_id=97001).validate_token_ids()
        assert heard == []
        Qwen2Config(vocab_size=16, bos_token_id=97002).validate_token_ids()  # outside: transformers speaks
        assert any("97002" in m for m in heard)
    finally:
        logger.removeHandler(handler)
