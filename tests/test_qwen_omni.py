"""The Qwen2.5-Omni adapter, end to end, on the real transformers classes with tiny random weights."""

import json
from pathlib import Path

import pytest

from aurelia_harness.config import RunConfig
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart
from conftest import shared_media

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    registry = discover()
    card = registry.card("tiny-omni")
    adapter = registry.adapter(card.adapter)(card, MediaStore(tmp_path_factory.mktemp("media")), "cpu")
    adapter.load()
    yield adapter
    adapter.close()


def ask(*parts, tokens=6):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


def test_video_with_its_soundtrack_goes_through_the_real_processor(adapter, clips):
    request = ask(VideoPart(clips["av"]), TextPart("What colour comes first?"))
    conversation, videos, fps, images, audio, slots, notes = adapter.build_inputs(request)
    assert len(videos) == 1 and videos[0].shape[0] == 8  # the card's frame budget
    assert videos[0].shape[1] * videos[0].shape[2] <= 12544  # the card's pixel budget, resized on uint8
    assert fps[0] == pytest.approx(7 / 3.9, rel=0.05)  # the sampled frames' true rate
    assert slots == [0] and len(audio[0]) == pytest.approx(4 * 16000, rel=0.02)  # the video's own soundtrack
    assert notes == []
    reply = adapter.generate([request])[0]
    assert reply.error is None and isinstance(reply.text, str)
    assert reply.input_tokens > 100 and 0 < reply.output_tokens <= 6 and reply.seconds > 0


def test_processor_interleaves_audio_and_video_tokens(adapter, clips):
    request = ask(VideoPart(clips["av"]), TextPart("Describe it."))
    conversation, videos, fps, _, audio, slots, _ = adapter.build_inputs(request)
    text = adapter.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    inputs = adapter.processor(text=[text], videos=videos, audio=audio, audio_from_video_indices=slots,
                               load_audio_from_video=True, return_tensors="pt",
                               videos_kwargs={"fps": fps[0], "do_sample_frames": False,
                                              "size": {"shortest_edge": 3136, "longest_edge": 12544}})
    assert int(inputs["video_grid_thw"][0][0]) == 4  # 8 frames in temporal pairs
    assert "input_features" in inputs
    ids = inputs["input_ids"][0].tolist()
    tok = adapter.processor.tokenizer
    video_id, audio_id = tok.convert_tokens_to_ids("<|VIDEO|>"), tok.convert_tokens_to_ids("<|AUDIO|>")
    kinds = [i for i in ids if i in (video_id, audio_id)]
    switches = sum(1 for a, b in zip(kinds, kinds[1:]) if a != b)
    assert switches >= 2  # chunks of video then audio then video...: interleaved, not appended


def test_the_receipt_says_which_audio_is_the_videos_soundtrack_and_when_the_frames_are(adapter, clips):
    receipt = adapter.prepare(ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")))["receipt"]
    video, = receipt["video"]
    assert video["frames"] == 8 and len(video["timestamps"]) == 8 and video["timestamps"][0] == 0.0
    assert video["timestamps"] == sorted(video["timestamps"]) and video["timestamps"][-1] == pytest.approx(3.9, abs=0.01)
    assert [(a["soundtrack"], a["rate"]) for a in receipt["audio"]] == [(True, 16000), (False, 16000)]
    assert receipt["audio"][0]["seconds"] == pytest.approx(4, abs=0.1) and receipt["audio"][1]["seconds"] == pytest.approx(2, abs=0.05)
    assert receipt["audio_in_video"] is True and receipt["tokens"]["video"] > 0 and receipt["tokens"]["audio"] > 0
    # without the soundtrack (a video-only ablation) the separate clip is the only audio, and says so
    muted = adapter.prepare(ask(VideoPart(clips["av"], with_audio=False), AudioPart(clips["wav"]), TextPart("q")))["receipt"]
    assert [a["soundtrack"] for a in muted["audio"]] == [False] and "audio_in_video" not in muted
    # an odd frame count is padded for the temporal pairs: the repeated frame keeps its time
    odd = adapter.prepare(ask(VideoPart(clips["av"], max_frames=5), TextPart("q")))["receipt"]["video"][0]
    assert odd["frames"] == 6 and odd["timestamps"][-1] == odd["timestamps"][-2] and len(set(odd["timestamps"])) == 5


def test_silent_video_runs_video_only_and_says_so(adapter, clips):
    reply = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("Any sound?"))])[0]
    assert reply.error is None
    assert reply.notes == ["silent.mp4 has no audio track: fed video only"]


def test_separate_audio_clips_beside_a_video(adapter, clips):
    request = ask(VideoPart(clips["silent"]), AudioPart(clips["wav"]), AudioPart(clips["av"]),
                  TextPart("Which clip matches?"))
    _, videos, _, _, audio, slots, _ = adapter.build_inputs(request)
    assert slots == [None, None] and len(audio) == 2
    assert adapter.generate([request])[0].error is None


def test_bad_requests_fail_alone_in_a_batch(adapter, clips):
    good = ask(VideoPart(clips["av"]), TextPart("ok"))
    two_videos = ask(VideoPart(clips["av"]), VideoPart(clips["silent"]), TextPart("two"))
    missing = ask(VideoPart(clips["missing"]), TextPart("missing"))
    replies = adapter.generate([good, two_videos, missing])
    assert replies[0].error is None
    assert replies[1].error_kind == "request_refused" and "at most 1 video" in replies[1].error
    assert replies[2].error_kind == "media_missing"


def test_prompt_golden_snapshot(adapter, clips):
    """The exact prompt text the adapter builds for a fixed sample; a change shows up in review."""
    request = Request((Message("user", (VideoPart(clips["av"]), AudioPart(clips["wav"]),
                                        TextPart("Which comes first?\nA. red\nB. blue\nAnswer with the letter."))),))
    conversation, *_ = adapter.build_inputs(request)
    text = adapter.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert text == (GOLDEN / "qwen_omni_prompt.txt").read_text()


def test_real_world_clips(adapter):
    for name in ("chaplin.mp4", "nasa_13013.mp4"):
        path = shared_media(name)
        reply = adapter.generate([ask(VideoPart(path), TextPart("What happens?"))])[0]
        assert reply.error is None and reply.input_tokens > 100


def test_main_job_end_to_end_on_avsynth(tmp_path):
    registry = discover()
    cfg = RunConfig(models=["tiny-omni"], tasks=["avsynth"], strategies=["baseline", "cot"], limit=1,
                    output=tmp_path / "out", progress=False, cache_dir=tmp_path / "cache")
    result = Runner(cfg, registry, log=lambda m: None).run()
    recs = [json.loads(l) for l in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and all(r["error"] is None for r in recs)
    assert all(r["usage"]["target"]["calls"] == 1 and r["usage"]["target"]["input_tokens"] > 0 for r in recs)
    dance = [r for r in recs if r["task"] == "avsynth-dance"]
    assert all("no audio track" in r["notes"][0] for r in dance)
    assert result.results["pipeline_checks"] == ["tiny-omni"]
    assert "pipeline check, not a real model" in (tmp_path / "out" / "summary.md").read_text()


def test_video_only_ablation_leaves_the_soundtrack_out(adapter, clips):
    _, videos, _, _, audio, slots, _ = adapter.build_inputs(ask(VideoPart(clips["av"], with_audio=False), TextPart("q")))
    assert len(videos) == 1 and audio == [] and slots == []


def test_ssim_keyframe_hint_within_the_card_budget(adapter, clips):
    _, videos, _, _, _, _, _ = adapter.build_inputs(ask(VideoPart(clips["av"], sampler="ssim", max_frames=5), TextPart("q")))
    # red then blue: two keyframes, padded to an even count for the vision tower's temporal pairs
    assert videos[0].shape[0] == 2


def test_a_card_trained_with_the_question_first_gets_the_text_before_the_media(adapter, clips, monkeypatch):
    request = ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("Which comes first?"))

    def order():
        conversation, *_ = adapter.build_inputs(request)
        return [item["type"] for item in conversation[-1]["content"]]

    assert order() == ["video", "audio", "text"]  # the default: media, then the question
    monkeypatch.setitem(adapter.card.options, "text_before_media", True)
    assert order() == ["text", "video", "audio"]  # the media keep their order behind the text
    text = adapter.processor_inputs(request)[0]["text"][0]
    assert text.index("Which comes first?") < text.index("<|VIDEO|>") < text.index("<|AUDIO|>")


def test_the_processor_interleaves_in_the_checkpoints_own_chunks(adapter, clips, monkeypatch):
    """The model's position ids use its config's seconds_per_chunk; the processor's placeholders must too."""
    request = ask(VideoPart(clips["av"]), TextPart("Describe it."))
    tok = adapter.processor.tokenizer
    video_id, audio_id = tok.convert_tokens_to_ids("<|VIDEO|>"), tok.convert_tokens_to_ids("<|AUDIO|>")

    def runs():
        kwargs, _, _ = adapter.processor_inputs(request)
        ids = adapter.processor(**kwargs, return_tensors="pt")["input_ids"][0].tolist()
        kinds = [i for i in ids if i in (video_id, audio_id)]
        return 1 + sum(1 for a, b in zip(kinds, kinds[1:]) if a != b), kwargs["seconds_per_chunk"]

    assert runs() == (4, 2.0)  # 4 s in 2 s chunks: video, audio, video, audio
    monkeypatch.setattr(adapter.model.config.thinker_config, "seconds_per_chunk", 1)
    assert runs() == (8, 1.0)  # the same clip in 1 s chunks
