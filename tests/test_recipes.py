"""Each model receives what its authors evaluate it with: recipes as data on the cards (settings with their
sources, named presets beside them), and the per-family recipe points that need no loaded model."""

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from aurelia_harness.cards import AUTHORS, resolve_card
from aurelia_harness.cli import main
from aurelia_harness.config import load_config
from aurelia_harness.errors import ConfigError
from aurelia_harness.media import MediaStore
from aurelia_harness.media.policy import MediaPolicy
from aurelia_harness.plugins import discover
from aurelia_harness.types import Message, Request, TextPart, VideoPart

GOLDEN = Path(__file__).parent / "golden"
PLUGINS = Path(__file__).resolve().parents[1] / "plugins" / "models"
REGISTRY = discover()
# the cards the review compared with their authors' code (issue 11)
REVIEWED = ["qwen2.5-omni-3b", "qwen2.5-omni-7b", "qwen3-omni-30b-a3b", "gemma-3n-e2b", "gemma-3n-e4b", "gemma-4-e2b",
            "gemma-4-e4b", "phi-4-multimodal", "minicpm-o-2.6", "qwen2.5-omni-7b-vllm", "minicpm-o-2.6-vllm"]


def ask(*parts, tokens=8):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


def family(name):
    spec = importlib.util.spec_from_file_location(f"recipes_{name}", PLUGINS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", REVIEWED)
def test_every_reviewed_setting_names_its_source(name):
    card = REGISTRY.card(name)
    assert card.recipe == AUTHORS and card.sources, f"{name}: no [sources]"
    policy = MediaPolicy.from_card(card, REGISTRY.adapters[card.adapter].media_defaults)
    for key, source in card.sources.items():
        assert len(source) > 20, f"{name}: {key} has no real source"
        field = key.split(".", 1)[1] if key.startswith("media.") else None
        value = (getattr(policy, field) if field in policy.__dataclass_fields__ else policy.extra.get(field)) \
            if field else (card.revision if key == "revision" else card.get(key))
        assert value is not None, f"{name}: a source for {key}, which the card does not set"
    for preset in card.presets.values():
        assert preset.get("description"), f"{name}: a preset must say what it trades away"


def test_a_preset_is_chosen_by_name_and_never_wins_over_an_explicit_setting(tmp_path):
    config = load_config(None, {}, ["model.qwen3-omni-30b-a3b.recipe=budget",
                                    "model.qwen3-omni-30b-a3b.media.max_frames=8"])
    authors = REGISTRY.card("qwen3-omni-30b-a3b")
    budget = authors.with_overrides(config.model_overrides["qwen3-omni-30b-a3b"])
    assert budget.recipe == "budget" and budget.get("media.fps") == 1 and budget.get("media.max_frames") == 8
    assert budget.hash != authors.hash  # results made with the preset never mix with the authors' recipe
    back = budget.with_overrides({"recipe": AUTHORS})  # the explicit max_frames stays, the preset goes
    assert back.get("media.fps") == 2 and back.hash == authors.with_overrides({"media": {"max_frames": 8}}).hash
    with pytest.raises(ConfigError, match="no recipe 'cheap'; known: authors, budget"):
        authors.with_overrides({"recipe": "cheap"})
    written = {"name": "x", "adapter": "qwen-omni", "media": {"frames": 4}, "sources": {"media.frames": "a"}}
    assert resolve_card(written).hash == resolve_card({**written, "sources": {"media.frames": "b"}}).hash


def test_list_models_prints_a_cards_recipe_and_sources(capsys):
    assert main(["list", "models", "--recipe", "qwen3-omni-30b-a3b"]) == 0
    out = capsys.readouterr().out
    assert "recipe 'authors'" in out and "system_prompt" in out and "(none)" in out
    assert "source: Qwen3-Omni README, Setting for Evaluation: all video data are set to fps=2" in out
    assert "preset 'budget' (--set model.qwen3-omni-30b-a3b.recipe=budget)" in out
    assert main(["list", "models", "--recipe", "phi-4-multimodal", "--set", "model.phi-4-multimodal.recipe=budget"]) == 0
    out = capsys.readouterr().out
    assert "recipe 'budget'" in out and "dynamic_hd=4" in out and '"refs/pr/70"' in out
    assert main(["list", "models", "--recipe", "no-such-card"]) == 2


def test_minicpm_units_are_one_second_each_with_the_frame_at_its_end(clips, tmp_path):
    adapter = REGISTRY.adapter("minicpm-o")(REGISTRY.card("minicpm-o-2.6"), MediaStore(None))
    text = json.loads(adapter.prompt_text(ask(VideoPart(clips["av"]), TextPart("q"))))
    content = text["msgs"][1]["content"]
    assert content[:3] == ["<unit>", "<image 64x48>", "<audio 1.00s>"] and content.count("<audio 1.00s>") == 4
    messages, notes = adapter.encode(ask(VideoPart(clips["av"]), TextPart("q")), tmp_path)
    video = messages[0]["content"][0]
    assert video["times"] == pytest.approx([1.0, 2.0, 3.0, 3.9]) and video["unit_seconds"] == 1.0 and notes == []
    worker = family("minicpm_o_worker")
    units = worker.units(np.zeros((3, 2, 2, 3)), np.arange(16000 * 5, dtype=np.float32), 16000, 1.0)
    assert [len(u[2]) for u in units] == [16000] * 3 and units[1][2][0] == 16000  # [1 s, 2 s): exactly
    squeezed = REGISTRY.card("minicpm-o-2.6").with_overrides({"media": {"max_frames": 2}})
    _, notes = REGISTRY.adapter("minicpm-o")(squeezed, MediaStore(None)).encode(ask(VideoPart(clips["av"])), tmp_path)
    assert notes == ["av.mp4: 2 omni units of 2.00 s of sound each (the recipe: one unit per 1 s)"]


def test_minicpm_video_settings_apply_to_videos_only():
    worker = family("minicpm_o_worker")
    options = {"max_slice_nums": 1, "use_image_id": False}
    video = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "q"}]}]
    image = [{"role": "user", "content": [{"type": "image", "file": "x"}, {"type": "text", "text": "q"}]}]
    assert worker.chat_settings(video, options) == {"max_slice_nums": 1, "use_image_id": False}
    assert worker.chat_settings(image, options) == {}  # the model's own image defaults


def test_videollama2_switches_off_the_tower_a_request_does_not_use():
    worker = family("videollama2_worker")
    vision, audio = object(), object()
    model = SimpleNamespace(model=SimpleNamespace(vision_tower=vision, audio_tower=audio))
    seen = {}
    for modal, with_audio in [("image", False), ("video", False), ("video", True), ("audio", False)]:
        with worker.only_towers(model, worker.towers_used(modal, with_audio)):
            seen[(modal, with_audio)] = (model.model.vision_tower is vision, model.model.audio_tower is audio)
        assert model.model.vision_tower is vision and model.model.audio_tower is audio  # put back
    assert seen == {("image", False): (True, False), ("video", False): (True, False),
                    ("video", True): (True, True), ("audio", False): (False, True)}
    vision_only = SimpleNamespace(model=SimpleNamespace(vision_tower=vision))
    with worker.only_towers(vision_only, worker.towers_used("image", False)):
        assert vision_only.model.vision_tower is vision and not hasattr(vision_only.model, "audio_tower")


STAND_IN_UIO2 = {
    "__init__.py": "",
    "prompt.py": 'PROMPT_DICT = {"VQA_short_prompt": {"original": [], "manual": ["{} (stand-in template 0)", '
                 '"Stand-in template 1: {}"]}}\n',
    "model.py": '''
class UnifiedIOModel:
    converted = None

    @classmethod
    def from_pretrained(cls, path):
        return cls()

    def to(self, device):
        return self

    def eval(self):
        return self

    def to_dtype(self, dtype, vit_dtype=None, vqgan_dtype=None):
        UnifiedIOModel.converted = (str(dtype), str(vit_dtype), str(vqgan_dtype))
''',
    "preprocessing.py": '''
class UnifiedIOPreprocessor:
    @classmethod
    def from_pretrained(cls, name, tokenizer=None):
        return cls()

    def __call__(self, **kwargs):
        return kwargs
''',
    "runner.py": '''
class TaskRunner:
    def __init__(self, model, uio2_preprocessor):
        self.uio2_preprocessor = uio2_preprocessor
        self.tokenizer = type("T", (), {"encode": staticmethod(lambda text: text.split())})()

    def predict_text(self, example, max_tokens):
        return example["text_inputs"]
''',
}


@pytest.fixture
def stand_in_uio2(tmp_path, monkeypatch):
    for name, text in STAND_IN_UIO2.items():
        (tmp_path / "uio2").mkdir(exist_ok=True)
        (tmp_path / "uio2" / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "uio2" or m.startswith("uio2.")]:
        del sys.modules[name]


def test_unified_io_2_wraps_the_question_in_its_trained_template(stand_in_uio2, clips):
    worker = family("uio2_worker")
    options = {"checkpoint": "c", "device": "cpu", "model": {"tokenizer": "/tok.model", "dtype": "bfloat16"}}
    state, _ = worker.load(options)
    messages = [{"role": "user", "content": [{"type": "video", "path": str(clips["av"]), "with_audio": True},
                                             {"type": "text", "text": "Which colour comes first?"}]}]
    reply = worker.generate(state, messages, 8)
    golden = GOLDEN / "uio2-prompt.txt"
    assert reply["text"] + "\n" == golden.read_text(), f"prompt changed for unified-io-2; review, then update {golden}"
    assert reply["notes"] == []
    # mixed precision as the port documents it: the language model in bfloat16, ViTs and VQGANs in float32
    assert sys.modules["uio2.model"].UnifiedIOModel.converted == ("torch.bfloat16", "torch.float32", "torch.float32")
    raw, _ = worker.load({**options, "model": {"tokenizer": "/tok.model", "prompt": ""}})
    assert worker.generate(raw, messages, 8)["text"] == "Which colour comes first?"
    second, _ = worker.load({**options, "model": {"tokenizer": "/tok.model", "prompt_index": 1}})
    assert worker.generate(second, messages, 8)["text"] == "Stand-in template 1: Which colour comes first?"


def test_unified_io_2_without_templates_says_so():
    worker = family("uio2_worker")
    template, why = worker.prompt_template("VQA_short_prompt")
    assert template is None and "no prompt templates" in why  # no uio2 package in this environment


def served(name, **override):
    card = REGISTRY.card(name).with_overrides(override)
    adapter = REGISTRY.adapter(card.adapter)(card, MediaStore(None))
    adapter.load()
    return adapter


def test_served_omni_cards_send_the_video_itself_with_its_soundtrack_interleaved(clips):
    body, notes = served("qwen2.5-omni-7b-vllm").body(ask(VideoPart(clips["av"]), TextPart("q")))
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["video_url", "input_audio", "text"] and notes == []
    assert parts[0]["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert body["mm_processor_kwargs"] == {"use_audio_in_video": True}
    webm, _ = served("qwen2.5-omni-7b-vllm").body(ask(VideoPart(clips["webm"]), TextPart("q")))
    assert webm["messages"][0]["content"][0]["video_url"]["url"].startswith("data:video/webm;base64,")
    muted, _ = served("qwen2.5-omni-7b-vllm").body(ask(VideoPart(clips["av"], with_audio=False), TextPart("q")))
    assert "mm_processor_kwargs" not in muted  # no soundtrack sent: nothing to interleave
    frames, _ = served("qwen2.5-omni-7b-vllm", recipe="frames").body(ask(VideoPart(clips["av"]), TextPart("q")))
    kinds = [p["type"] for p in frames["messages"][0]["content"]]
    assert kinds.count("image_url") == 16 and "mm_processor_kwargs" not in frames
    minicpm, _ = served("minicpm-o-2.6-vllm").body(ask(VideoPart(clips["av"]), TextPart("q")))
    assert [p["type"] for p in minicpm["messages"][0]["content"]] == ["video_url", "input_audio", "text"]


def test_a_rotated_clip_reaches_a_model_upright_with_a_note(tmp_path):
    from test_media import rotated_clip

    path = rotated_clip(tmp_path, 90)
    adapter = REGISTRY.adapter("minicpm-o")(REGISTRY.card("minicpm-o-2.6"), MediaStore(None))
    messages, notes = adapter.encode(ask(VideoPart(path), TextPart("q")), tmp_path)
    frames = np.load(messages[0]["content"][0]["frames"])
    assert frames.shape[1:3] == (64, 48)  # stored 64 wide and 48 high; seen 48 wide and 64 high
    assert any(n.startswith("rotated90.mp4 is flagged to be shown rotated by") and n.endswith("frames turned upright")
               for n in notes)


def test_separate_clips_are_cut_to_the_models_audio_limit_with_a_note(clips):
    notes = []
    clip = MediaPolicy(audio_max_seconds=0.5).clip(MediaStore(None), clips["wav"], notes)
    assert len(clip.samples) == 8000 and notes == [
        "tone.wav: the model hears the first 0.5 s of the clip (2.0 s long; its audio input stops at 0.5 s)"]
    assert MediaPolicy().clip(MediaStore(None), clips["wav"], notes).seconds == pytest.approx(2.0, abs=0.01)


def test_qwen_omni_cards_sample_at_two_frames_a_second_with_a_floor(clips, tmp_path):
    from conftest import ffmpeg

    policy = MediaPolicy.from_card(REGISTRY.card("qwen2.5-omni-7b"))
    store = MediaStore(None)
    assert len(store.video(clips["av"], policy.video_spec()).frames) == 8  # 4 s at 2 fps
    short = tmp_path / "short.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32:r=10:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(short))
    assert len(store.video(short, policy.video_spec()).frames) == 4  # 1 s: FPS_MIN_FRAMES
    assert policy.video_spec().max_frames == 768
