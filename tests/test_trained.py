"""The avsynth-omni training script (scripts/train_avsynth_omni.py): it trains through the adapter's input path
and writes a checked manifest, on data disjoint from the evaluation seed; its questions follow the generator."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "model_cards" / "trained" / "avsynth-omni"
MAX_FILE_BYTES = 16 * 1024 * 1024


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
