"""What several benchmarks share: a model that answers at once, registered with cards and one manifest task,
so a benchmark measures the harness around the model and nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurelia_harness import hookimpl  # noqa: E402
from aurelia_harness.cards import ModelCard  # noqa: E402
from aurelia_harness.models import ModelAdapter  # noqa: E402
from aurelia_harness.tasks import ManifestTask  # noqa: E402
from aurelia_harness.types import Reply  # noqa: E402


class Instant(ModelAdapter):
    reply = "The answer is B."

    def generate_batch(self, requests):
        return [Reply(self.card.get("reply", self.reply), input_tokens=10, output_tokens=4) for _ in requests]


class InstantPlugin:
    """Cards named `card_names` on the instant adapter, and the mcq task `task` over `manifest`."""

    def __init__(self, manifest: Path, card_names: list[str], task: str = "bench"):
        self.manifest, self.card_names, self.task = manifest, card_names, task

    @hookimpl
    def register_model_adapters(self, register):
        register("instant", Instant)

    @hookimpl
    def register_model_cards(self, register):
        for name in self.card_names:
            register(ModelCard(name=name, adapter="instant"))

    @hookimpl
    def register_tasks(self, register):
        register(ManifestTask({"name": self.task, "answer_form": "mcq", "data": {"manifest": str(self.manifest)}}))
