"""PandaGPT (a row of the AURELIA paper: PandaGPT 13B), through the authors' repository in its own pinned
environment (pandagpt_worker.py). ImageBind encodes each input to one vector and the vectors are summed, so
a video's soundtrack goes in as a separate audio file beside the video (the video loader reads no audio).
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl

from .authors_code import AuthorsCodeAdapter


class PandaGPTAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("pandagpt_worker.py")
    soundtrack = "separate"


@hookimpl
def register_model_adapters(register):
    register("pandagpt", PandaGPTAdapter)
