"""NExT-GPT (a row of the AURELIA paper: NExT-GPT 7B, the released 7b_tiva_v0), through the authors' legacy
code in its own pinned environment (nextgpt_worker.py). Like PandaGPT it encodes inputs with ImageBind; a
video's soundtrack goes in as a separate <Audio> file beside the <Video> (the video loader reads no audio).
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl

from .authors_code import AuthorsCodeAdapter


class NExTGPTAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("nextgpt_worker.py")
    soundtrack = "separate"


@hookimpl
def register_model_adapters(register):
    register("next-gpt", NExTGPTAdapter)
