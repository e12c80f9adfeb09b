"""MiniCPM-o 2.6: its model code comes from the hub (trust_remote_code) and pins transformers 4.44, older
than the harness's, so it runs in its own environment (`avharness env create minicpm-o-2.6`) as a worker
process. What it is sent and how is in minicpm_o_worker.py; here: what it accepts and the review snapshot.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request

from .isolated import IsolatedEnvAdapter

FAMILY = Path(__file__).with_name("minicpm_o_worker.py")


def _family():
    spec = importlib.util.spec_from_file_location("avharness_minicpm_o_family", FAMILY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MiniCPMOAdapter(IsolatedEnvAdapter):
    media_defaults = {**IsolatedEnvAdapter.media_defaults, "frames": 32}
    family_file = FAMILY
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=1)


    def prompt_text(self, request: Request) -> str:
        """The chat `msgs` the worker will hand to `model.chat`, media shown as descriptions (review snapshot)."""
        with tempfile.TemporaryDirectory() as folder:
            messages, _ = self.encode(request, Path(folder))
            family = _family()
            msgs, omni = family.to_msgs(
                messages, np.load, lambda frame: f"<image {frame.shape[1]}x{frame.shape[0]}>",
                lambda samples: f"<audio {len(samples) / self.policy.audio_rate:.2f}s>")
            msgs = family.with_system_prompt(msgs, omni, lambda: {"role": "(the model's get_sys_prompt(mode='omni'))"})
        return json.dumps({"omni_input": omni, "msgs": msgs}, indent=1) + "\n"


@hookimpl
def register_model_adapters(register):
    register("minicpm-o", MiniCPMOAdapter)
