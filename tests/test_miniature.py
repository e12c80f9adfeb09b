"""AURELIA in miniature (scripts/train_avsynth_agents.py): the agent's training targets obey the strategy's
invariants (steps never carry an answer; the reply parses back to the same parts), perturbed captions are
scored by how wrong they are, the encoder's splice equals the processor, and both recipes train a few steps
and write a checked manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import random
import sys
from pathlib import Path

import pytest

from aurelia_harness.replies import parse_reasoning
from aurelia_harness.tasks import read_manifest
from plugins.tasks import avsynth

ROOT = Path(__file__).resolve().parents[1]


def agents_script():
    if "train_avsynth_agents" in sys.modules:
        return sys.modules["train_avsynth_agents"]
    spec = importlib.util.spec_from_file_location("train_avsynth_agents", ROOT / "scripts" / "train_avsynth_agents.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two AVSynth clips per category at a seed of its own, with the answer forms the tasks declare."""
    script = agents_script()
    manifests = avsynth.generate(tmp_path_factory.mktemp("avsynth"), 3, 7)
    forms = script.base.answer_forms()
    return {c: [dataclasses.replace(s, answer_form=forms[c]) for s in read_manifest(m, c).samples]
            for c, m in manifests.items()}


def test_reasoner_targets_parse_back_and_keep_answers_out_of_the_steps(clips):
    script = agents_script()
    for category, samples in clips.items():
        for sample in samples:
            steps, answers, final = script.facts(category, sample)
            parsed = parse_reasoning(script.reasoner_json(steps, answers, final))
            assert parsed.ok and parsed.notes == [], (category, parsed.notes)
            assert (parsed.steps, parsed.step_answers, parsed.final_answer) == (steps, answers, final)
            assert len(steps) == len(answers)
            # the final answer is avsynth-omni's own answer form: the letter, the count, the option's words
            assert final == script.base.target_text(category, sample)
            assert list(json.loads(script.reasoner_json(steps, answers, final))) == ["final_answer", "step_answers", "steps"]
            if category != "caption":
                # the finding that gives the answer is the last step's answer: a step may name it only as it
                # names every other option (compositional steps name each event)
                named = lambda text: sum(text.lower() in step.lower() for step in steps)
                others = [o for o in sample.options if o != answers[-1]]
                assert named(answers[-1]) <= max([named(o) for o in others], default=0), (category, steps)


def test_perturbed_captions_are_scored_by_how_many_facts_are_wrong(clips):
    script = agents_script()
    rng = random.Random(0)
    geo = clips["geo"]
    pool = [script.facts("geo", s)[1] for s in geo] + [["Belgium, then Germany, then Italy", "from 2.5s to 3.5s",
                                                        "Germany"]]
    truth = script.facts("geo", geo[0])[1]
    same, none_wrong = script.perturbed(truth, pool, 0, rng)
    assert same == truth and none_wrong == 0
    changed, wrong = script.perturbed(truth, pool, 2, rng)
    assert wrong == sum(a != b for a, b in zip(changed, truth)) and wrong >= 1
    assert script.SCORES[0] >= 6 > script.SCORES[1] > script.SCORES[2] > script.SCORES[3]
    assert script.caption_of("geo", truth, geo[0].question) != script.caption_of("geo", changed, geo[0].question)


def test_encoder_splice_equals_the_processor_on_every_prompt_of_a_clip(clips, tmp_path):
    import torch
    from transformers import AutoProcessor

    from aurelia_harness.cards import load_card
    from aurelia_harness.media import MediaStore
    from plugins.models.qwen_omni import QwenOmniAdapter

    script = agents_script()
    adapter = QwenOmniAdapter(load_card(ROOT / "model_cards" / "avsynth-agent.toml"), MediaStore(tmp_path), "cpu")
    adapter.processor = AutoProcessor.from_pretrained(ROOT / "model_cards" / "trained" / "avsynth-omni")
    adapter.audio_rate = adapter.policy.audio_rate
    sample = clips["sync"][0]
    pool = [script.facts("sync", s)[1] for s in clips["sync"]]
    lessons = script.agent_lessons(sample, "sync", pool, random.Random(0))
    encoder = script.Encoder(adapter, checks=0)  # splice from the second prompt on, unchecked
    for lesson in lessons:
        ids, media, _ = encoder.encode(lesson.request)
        kwargs, _, _ = adapter.processor_inputs(lesson.request)
        full = adapter.processor(**kwargs, return_tensors="pt")
        assert torch.equal(ids, full["input_ids"][0]), lesson.kind
        if lesson.media:
            assert torch.equal(media["pixel_values_videos"], full["pixel_values_videos"])
    assert {lesson.kind for lesson in lessons} == {"baseline", "reasoner", "feedback", "summarizer", "evaluator"}


def test_encoder_gives_each_clip_its_own_media_when_the_prompts_read_alike(clips, tmp_path):
    """Two sync clips share their question and options, so their prompts differ only in the clip: each lesson
    must still carry its own clip's frames and sound (a cache keyed by the text alone gave both the first)."""
    import torch
    from transformers import AutoProcessor

    from aurelia_harness.cards import load_card
    from aurelia_harness.media import MediaStore
    from plugins.models.qwen_omni import QwenOmniAdapter

    script = agents_script()
    adapter = QwenOmniAdapter(load_card(ROOT / "model_cards" / "avsynth-agent.toml"), MediaStore(tmp_path), "cpu")
    adapter.processor = AutoProcessor.from_pretrained(ROOT / "model_cards" / "trained" / "avsynth-omni")
    adapter.audio_rate = adapter.policy.audio_rate
    first, second = clips["sync"][:2]
    assert (first.question, first.options) == (second.question, second.options)
    encoder = script.Encoder(adapter, checks=0)
    for sample in (first, second):
        lesson = script.reader_lessons(sample, "sync", [script.facts("sync", s)[1] for s in clips["sync"]],
                                       random.Random(3))[0]
        _, media, _ = encoder.encode(lesson.request)
        kwargs, _, _ = adapter.processor_inputs(lesson.request)
        full = adapter.processor(**kwargs, return_tensors="pt")
        assert torch.equal(media["pixel_values_videos"], full["pixel_values_videos"]), sample.id


def test_reader_prompts_hold_a_block_or_none_and_teach_the_truth(clips):
    script = agents_script()
    sample = clips["geo"][1]
    pool = [script.facts("geo", s)[1] for s in clips["geo"]]
    kinds = set()
    for seed in range(12):
        for lesson in script.reader_lessons(sample, "geo", pool, random.Random(seed)):
            kinds.add(lesson.kind)
            text = lesson.request.messages[0].text
            assert lesson.target == str(sample.answer)
            assert ("reasoning about this video" in text) == (lesson.kind != "baseline")
            assert (" -> " in text) == (lesson.kind == "steps_and_answers")
    assert kinds == set(script.READER_MIX)


@pytest.mark.parametrize("recipe", ["agent", "reader"])
def test_recipes_train_a_few_steps_and_write_a_checked_manifest(recipe, tmp_path):
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration

    script = agents_script()
    out = tmp_path / "out"
    assert script.main([recipe, "--clips-scale", "0.001", "--steps", "2", "--eval-per-task", "1",
                        "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe"] == recipe and manifest["training"]["steps"] == 2 and math.isfinite(manifest["final_loss"])
    assert manifest["disjoint_from_evaluation"]["identical_files"] == 0
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
    model = Qwen2_5OmniForConditionalGeneration.from_pretrained(out, enable_audio_output=False)
    trained = model.thinker
    # the requests were built with the interleave chunk that a run takes from the saved config
    assert manifest["seconds_per_chunk"] == model.config.thinker_config.seconds_per_chunk == 1
    if recipe == "agent":  # fine-tuned from avsynth-omni: two steps moved its weights
        start = Qwen2_5OmniForConditionalGeneration.from_pretrained(
            ROOT / "model_cards" / "trained" / "avsynth-omni", enable_audio_output=False).thinker
        assert manifest["initialised_from"] == "model_cards/trained/avsynth-omni"
        moved = {n for n, p in trained.state_dict().items() if not torch.equal(p, start.state_dict()[n])}
        assert moved and manifest["frozen"] == ["audio_tower", "visual"]
        assert not any(part in n.split(".") for n in moved for part in ("audio_tower", "visual"))  # as trained
    else:
        assert manifest["initialised_from"].startswith("random")
