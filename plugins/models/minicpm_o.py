"""MiniCPM-o 2.6: its model code comes from the hub (trust_remote_code) and pins transformers 4.44, older
than the harness's, so it runs in its own environment (`avharness env create minicpm-o-2.6`) as a worker
process. What it is sent and how is in minicpm_o_worker.py; here: what it accepts, how a video's soundtrack
is cut into units, and the review snapshot.

The hub card's omni recipe makes one unit per second of video: the frame at the end of that second and
exactly that second of sound, for as many seconds as the clip lasts, with no cap. The card asks for it with
`fps = 1, fps_mode = "interval_end"`; each unit then carries exactly 1/fps s of the soundtrack. When the
frame cap cuts the units short (or another sampling is asked for), the soundtrack is shared out evenly over
the frames and the record says how long each unit's stretch is.
"""

from __future__ import annotations

import importlib.util
import json
import math
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


    def encode(self, request: Request, folder: Path) -> tuple[list[dict], list[str]]:
        messages, notes = super().encode(request, folder)
        fps = self.policy.fps
        for item in (i for m in messages for i in m["content"] if i["type"] == "video" and i.get("soundtrack")):
            per_interval = fps and math.ceil(round(item["length"] * fps, 6)) == len(item["times"])
            if per_interval and self.policy.fps_mode == "interval_end":
                item["unit_seconds"] = 1.0 / fps
            elif item["times"]:
                share = item["length"] / len(item["times"])
                if not fps or abs(share - 1.0 / fps) > 0.01:
                    notes.append(f"{item['name']}: {len(item['times'])} "
                                 f"omni units of {share:.2f} s of sound each (the recipe: one unit per "
                                 f"{1.0 / fps if fps else 1.0:g} s)")
        return messages, notes

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
