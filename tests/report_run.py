"""A small real run for the report's tests: scripted targets and AURELIA agents (tests/agents.py, tests/fakes.py)
over a manifest task written here, with untrusted text where it can come from: markup and a script tag in a
question, in a prediction and in a media file's name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import agents
import fakes

from aurelia_harness import hookimpl
from aurelia_harness.cards import ModelCard
from aurelia_harness.config import RunConfig
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.tasks import ManifestTask

# Each sets window.__xss if it ever runs; the tests check that it never does and that the text is shown.
QUESTION_MARKUP = 'Which <b>colour</b> first? <script>window.__xss="question"</script><img src=x onerror="window.__xss=\'q-img\'">'
PREDICTION_MARKUP = 'A <script>window.__xss="prediction"</script><img src=x onerror="window.__xss=\'p-img\'">'
FILE_MARKUP = 'clip<img src=x onerror="window.__xss=\'file\'">.mp4'  # no "/": it is a file name
SCRIPTED = {"reasoner": "reasoner-s", "summarizer": "summarizer-s", "evaluator": "evaluator-s"}


class ReportPlugin:
    """The run's task (a manifest written by `make_run`) and a target whose answer is markup."""

    def __init__(self, manifest: Path):
        self.task = ManifestTask({"name": "t-report", "answer_form": "mcq", "data": {"manifest": str(manifest)}})

    @hookimpl
    def register_tasks(self, register):
        register(self.task)

    @hookimpl
    def register_model_cards(self, register):
        register(ModelCard(name="markup-target", adapter="agent-script",
                           options={"role": "target", "answer": PREDICTION_MARKUP}))


def write_data(folder: Path, clips: dict) -> Path:
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    shutil.copy(clips["av"], media / "av.mp4")
    shutil.copy(clips["silent"], media / "silent.mp4")
    shutil.copy(clips["wav"], media / "tone.wav")
    shutil.copy(clips["av"], media / FILE_MARKUP)
    lines = [
        {"id": "s1", "question": "Which colour comes first?", "options": ["red", "blue"], "answer": "A",
         "media": [{"kind": "video", "path": "media/av.mp4"}], "category": "order"},
        {"id": "s2", "question": "Is there a sound?", "options": ["yes", "no"], "answer": "B",
         "media": [{"kind": "video", "path": "media/silent.mp4"}], "category": "sound"},
        {"id": "s3", "question": "What pitch is the tone?", "options": ["high", "low"], "answer": "A",
         "media": [{"kind": "audio", "path": "media/tone.wav"}], "category": "sound"},
        {"id": "s4", "question": QUESTION_MARKUP, "options": ["red", "blue"], "answer": "B",
         "media": [{"kind": "video", "path": f"media/{FILE_MARKUP}"}], "category": "order"},
        {"id": "s5", "question": "Which colour comes last?", "options": ["red", "blue"], "answer": "B",
         "media": [{"kind": "video", "path": "media/gone.mp4"}], "category": "order"},  # missing: an error record
    ]
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def make_run(root: Path, clips: dict) -> tuple[Path, Path, object]:
    """(run folder, manifest, registry) of a finished run: 3 models x baseline and AURELIA x 5 samples."""
    manifest = write_data(root / "data", clips)
    registry = discover(modules=[agents, fakes, ReportPlugin(manifest)])
    agents.AgentScript.reset()
    out = root / "run"
    config = RunConfig(models=["target-1", "scripted-a", "markup-target"], tasks=["t-report"],
                       strategies=["baseline", "aurelia"], output=out, progress=False, cache_dir=root / "cache",
                       strategy_settings={"aurelia": {**SCRIPTED, "max_iterations": 3}})
    Runner(config, registry, log=lambda msg: None).run()
    return out, manifest, registry
