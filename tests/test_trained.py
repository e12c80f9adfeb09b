"""avsynth-omni: the shipped weights match their manifest and load through the card; the training script
(scripts/train_avsynth_omni.py) trains through the adapter's input path on data disjoint from the evaluation
seed; and the CI guard of docs/ci.md catches a soundtrack switched off through configuration."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path

import pytest

from aurelia_harness.cli import main
from aurelia_harness.journal import Journal


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "model_cards" / "trained" / "avsynth-omni"
MAX_FILE_BYTES = 16 * 1024 * 1024
# the guard's fixed set: tasks the shipped model is reliably right on and that need the soundtrack
GUARD = ["--models", "avsynth-omni", "--tasks", "avsynth-sync", "--strategy", "baseline",
         "--set", "data.avsynth.per_task=24", "--no-progress"]


def training_script():
    spec = importlib.util.spec_from_file_location("train_avsynth_omni", ROOT / "scripts" / "train_avsynth_omni.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_script_trains_a_few_steps_and_writes_a_checked_manifest(tmp_path):
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration

    script = training_script()
    out = tmp_path / "out"
    assert script.main(["--clips-scale", "0.001", "--steps", "3", "--eval-per-task", "1",
                        "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["steps"] == 3 and math.isfinite(manifest["final_loss"])
    assert manifest["disjoint_from_evaluation"]["identical_files"] == 0
    # the modality ablations come from a pool of their own, each clip's questions sent video-only and
    # audio-only; the main pool's training split is sent whole only
    data = next((tmp_path / "work").glob("data-v*"))
    lines = lambda folder: [json.loads(x) for m in sorted(folder.glob("*/manifest.jsonl")) for x in m.read_text().splitlines()]
    whole, ablated = [x for x in lines(data) if x["split"] == "train"], lines(data / "ablation")
    assert ablated and manifest["data"]["training_requests"] == len(whole) + 2 * len(ablated)
    assert manifest["disjoint_from_evaluation"]["ablation"]["identical_files"] == 0
    # the aggregate probes, read where the answer is generated, are reported beside the exact answers
    probes = manifest["history"][-1]["held_out_probes"]
    heads = {f"{c}.{h}" for c, named in script.AGGREGATE_HEADS.items() for h, _ in named}
    assert probes and set(probes) <= heads, probes
    assert all(0.0 <= v <= 1.0 for v in probes.values())
    for name, entry in manifest["files"].items():
        assert sha256(out / name) == entry["sha256"]
    trained = Qwen2_5OmniForConditionalGeneration.from_pretrained(out, enable_audio_output=False).thinker
    torch.manual_seed(script.TRAIN["seed"])
    from transformers import AutoProcessor

    untrained = script.build_model(AutoProcessor.from_pretrained(out), script.MODEL).thinker
    moved = [n for n, p in trained.state_dict().items() if not torch.equal(p, untrained.state_dict()[n])]
    assert moved, "three optimizer steps changed no weight"


def test_training_questions_follow_the_generator_rules():
    script = training_script()
    params = {"spans": [("red", 0.0, 2.0), ("green", 2.0, 4.0), ("blue", 4.0, 6.0)],
              "beeps": [0.3, 1.9, 2.3, 3.1, 4.7], "target": "green"}
    line = {"id": "count-0000", "question": "?", "answer": "2", "params": params,
            "reasoning": "Beeps sound at 0.3s, 1.9s, 2.3s, 3.1s, 4.7s. 2 of them fall while the screen is green."}
    asked = {q["id"]: q for q in script.questions("count", line)}
    # 1.9 + 0.15 runs past red's end: it counts for no colour (the builder keeps such beeps out anyway)
    assert {k: q["answer"] for k, q in asked.items()} == {"count-0000-red": "1", "count-0000-green": "2",
                                                          "count-0000-blue": "1"}
    assert asked["count-0000-red"]["reasoning"].endswith("1 of them fall while the screen is red.")
    assert asked["count-0000-red"]["question"] == "How many beeps sound while the screen is red?"


def test_compositional_target_names_the_event_and_scores_as_its_letter(tmp_path):
    """The compositional target is the right option's words; the harness's scorer must read them back as that
    option's letter, or the trained model's answers would score as wrong."""
    from aurelia_harness.scoring import extract_choice
    from aurelia_harness.tasks import read_manifest
    from plugins.tasks import avsynth

    script = training_script()
    manifests = avsynth.generate(tmp_path / "avsynth", 6, 5, categories=("compositional", "geo"))
    samples = read_manifest(manifests["compositional"], "avsynth-compositional").samples
    for sample in samples:
        target = script.target_text("compositional", sample)
        assert target.rstrip(".").lower() in [o.lower() for o in sample.options]
        assert extract_choice(target, sample.options).letter == sample.answer, (target, sample.options)
    # and the other option questions keep their letters
    geo = read_manifest(manifests["geo"], "avsynth-geo").samples[0]
    assert script.target_text("geo", geo) == geo.answer


@pytest.mark.parametrize("name", ["avsynth-omni", "avsynth-agent", "avsynth-reader"])
def test_shipped_weights_match_their_manifest_and_load_through_the_card(name):
    from aurelia_harness.cards import load_card
    from plugins.models.qwen_omni import QwenOmniAdapter

    shipped_dir = ROOT / "model_cards" / "trained" / name
    manifest = json.loads((shipped_dir / "manifest.json").read_text())
    assert manifest["files"], "the manifest lists no files"
    for file, entry in manifest["files"].items():
        path = shipped_dir / file
        assert path.stat().st_size == entry["bytes"] <= MAX_FILE_BYTES, file
        assert sha256(path) == entry["sha256"], f"{file} differs from its manifest: retrain or rewrite it"
    shipped = {p.name for p in shipped_dir.iterdir() if p.is_file()} - {"manifest.json"}
    assert shipped == set(manifest["files"]), "files beside the weights that the manifest does not list"
    assert manifest["data"]["seed"] != 0 and manifest["disjoint_from_evaluation"]["evaluation_seed"] == 0
    assert manifest["disjoint_from_evaluation"]["identical_files"] == 0
    card = load_card(ROOT / "model_cards" / f"{name}.toml")
    assert Path(QwenOmniAdapter(card, None, "cpu").checkpoint_path()).resolve() == shipped_dir.resolve()
    assert "AVSynth" in card.get("scope") and not card.pipeline_check


def answers(run: Path) -> dict[str, float]:
    return {r.sample_id: float(r.score) for r in Journal(run).read() if not r.error and r.score is not None}


def test_ci_guard_catches_the_soundtrack_switched_off(tmp_path, capsys):
    shipped, again, muted = tmp_path / "shipped", tmp_path / "again", tmp_path / "muted"
    assert main(GUARD + ["--output", str(shipped)]) == 0
    assert main(GUARD + ["--output", str(again)]) == 0
    assert main(GUARD + ["--output", str(muted), "--set", "model.avsynth-omni.media.audio_in_video=false"]) == 0
    right, deaf = answers(shipped), answers(muted)
    assert len(right) == len(deaf) == 24
    assert sum(right.values()) >= 21, f"the shipped model is right on {sum(right.values())}/24 only"
    assert sum(deaf.values()) <= 16, "without its soundtrack the model should fall towards chance"
    assert answers(again) == right  # greedy decoding on a fixed set: the same answers
    summary = (shipped / "summary.md").read_text()
    assert "avsynth-omni: trained on AVSynth, meaningful on AVSynth only" in summary
    capsys.readouterr()
    assert main(["compare", str(shipped), str(again), "--fail-on-regression"]) == 0
    assert "no significant regression" in capsys.readouterr().out
    assert main(["compare", str(shipped), str(muted), "--fail-on-regression"]) == 1
    assert "significant regression" in capsys.readouterr().out


def test_retrained_weights_change_the_card_hash(tmp_path):
    """Resume keys and AURELIA's reasoning cache hold the card hash: new weights must not reuse old records."""
    import shutil

    from aurelia_harness.cards import load_card

    shutil.copy(ROOT / "model_cards" / "avsynth-omni.toml", tmp_path / "avsynth-omni.toml")
    (tmp_path / "trained" / "avsynth-omni").mkdir(parents=True)
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    (tmp_path / "trained" / "avsynth-omni" / "manifest.json").write_text(json.dumps(manifest))
    before = load_card(tmp_path / "avsynth-omni.toml")
    before_hash = before.hash
    assert before.trained_weights() == {"model.safetensors": manifest["files"]["model.safetensors"]["sha256"]}
    manifest["files"]["model.safetensors"]["sha256"] = "0" * 64
    (tmp_path / "trained" / "avsynth-omni" / "manifest.json").write_text(json.dumps(manifest))
    after = load_card(tmp_path / "avsynth-omni.toml")
    assert after.hash != before_hash and after.trained_weights()["model.safetensors"] == "0" * 64
