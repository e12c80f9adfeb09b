"""A local checkpoint whose model class is remote code (config.json `auto_map` + .py files beside it), loaded
by transformers with trust_remote_code exactly as a hub checkpoint is. Its `chat` follows the call that
MiniCPM-o 2.6's hub card documents and answers with a JSON description of what it received, so tests can
check what the worker built. Question words trigger failures: RAISE (an exception), CRASH (the process
exits), SLOW (it hangs), OOM (out of memory while more than two images are given).
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIGURATION = '''
from transformers import PretrainedConfig


class FakeOmniConfig(PretrainedConfig):
    model_type = "fake_omni"

    def __init__(self, width=4, **kwargs):
        self.width = width
        super().__init__(**kwargs)
'''

MODELING = '''
import json
import os
import time

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedModel

from .configuration_fake_omni import FakeOmniConfig


class Answer:
    def __init__(self, text):
        self.text = text


class FakeOmniModel(PreTrainedModel):
    config_class = FakeOmniConfig
    _supports_sdpa = True

    def __init__(self, config, init_vision=True, init_audio=True, init_tts=True):
        super().__init__(config)
        self.proj = torch.nn.Linear(config.width, config.width)
        self.init_flags = [init_vision, init_audio, init_tts]
        self.post_init()
        print("fake remote code loaded")  # noise on stdout, as remote code prints

    def get_sys_prompt(self, mode="omni", language="en"):
        return {"role": "user", "content": [f"<omni system prompt {mode} {language}>"]}

    def chat(self, msgs, tokenizer, sampling=True, max_new_tokens=64, omni_input=False, use_tts_template=False,
             generate_audio=False, max_slice_nums=None, use_image_id=None, return_dict=False, **kwargs):
        print("chat called")
        seen = {"pid": os.getpid(), "omni_input": omni_input, "use_tts_template": use_tts_template,
                "generate_audio": generate_audio, "sampling": sampling, "max_slice_nums": max_slice_nums,
                "use_image_id": use_image_id, "init_flags": self.init_flags, "roles": [], "units": 0,
                "images": [], "audio_seconds": [], "texts": []}
        for message in msgs:
            seen["roles"].append(message["role"])
            for item in message["content"]:
                if isinstance(item, str):
                    if item == "<unit>":
                        seen["units"] += 1
                    else:
                        seen["texts"].append(item)
                elif isinstance(item, Image.Image):
                    seen["images"].append(list(item.size))
                elif isinstance(item, np.ndarray):
                    assert item.dtype == np.float32 and item.ndim == 1
                    seen["audio_seconds"].append(round(len(item) / 16000, 3))
                else:
                    raise TypeError(f"unexpected content item {type(item)}")
        question = " ".join(seen["texts"])
        if "RAISE" in question:
            raise ValueError("fake failure on purpose")
        if "CRASH" in question:
            os._exit(3)
        if "SLOW" in question:
            time.sleep(120)
        if "OOM" in question and len(seen["images"]) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        text = json.dumps(seen)
        return Answer(text) if return_dict else text
'''


def write_fake_omni_checkpoint(folder: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    from avharness_plugins.models.tiny import qwen_style_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_fake_omni.py").write_text(CONFIGURATION)
    (folder / "modeling_fake_omni.py").write_text(MODELING)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "fake_omni", "width": 4, "architectures": ["FakeOmniModel"],
        "auto_map": {"AutoConfig": "configuration_fake_omni.FakeOmniConfig",
                     "AutoModel": "modeling_fake_omni.FakeOmniModel"}}))
    save_file({"proj.weight": torch.eye(4), "proj.bias": torch.zeros(4)}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})  # older transformers insist on it
    tokenizer, _ = qwen_style_tokenizer({})
    tokenizer.save_pretrained(folder)
    return folder


VIDEOLLAMA2 = '''
import json
import os


class Tokenizer:
    def encode(self, text, add_special_tokens=False):
        return text.split()


def model_init(model_path=None, **kwargs):
    processor = {"video": lambda path, va=False: {"modal": "video", "path": path, "va": va},
                 "audio": lambda path: {"modal": "audio", "path": path},
                 "image": lambda path: {"modal": "image", "path": path}}
    return {"path": model_path, "kwargs": kwargs}, processor, Tokenizer()


def mm_infer(tensor, instruct, model, tokenizer, modal="video", **kwargs):
    print("mm_infer called")
    if "OOM" in instruct:
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory (fake)")
    return json.dumps({"tensor": tensor, "instruct": instruct, "modal": modal, "kwargs": kwargs,
                       "model": model, "pid": os.getpid()})
'''


def write_fake_videollama2(folder: Path) -> Path:
    """A stand-in for the authors' `videollama2` package with its documented entry points (model_init,
    processor[modal], mm_infer); mm_infer answers with JSON describing what it was given."""
    (folder / "videollama2").mkdir(parents=True, exist_ok=True)
    (folder / "videollama2" / "__init__.py").write_text(VIDEOLLAMA2)
    return folder


UIO2 = {
    "__init__.py": "",
    "model.py": '''
class UnifiedIOModel:
    @classmethod
    def from_pretrained(cls, path):
        model = cls()
        model.path = path
        return model

    def to(self, *args):
        return self

    def eval(self):
        return self
''',
    "preprocessing.py": '''
class UnifiedIOPreprocessor:
    @classmethod
    def from_pretrained(cls, name, tokenizer=None):
        if tokenizer is None:
            raise ValueError("Tokenizer path must be given")
        pre = cls()
        pre.name, pre.tokenizer_path = name, tokenizer
        return pre

    def __call__(self, text_inputs, target_modality=None, **inputs):
        return {"text_inputs": text_inputs, "target_modality": target_modality, **inputs}
''',
    "runner.py": '''
import json
import os


class Tokenizer:
    def encode(self, text):
        return text.split()


class TaskRunner:
    def __init__(self, model, uio2_preprocessor):
        self.model, self.uio2_preprocessor = model, uio2_preprocessor

    @property
    def tokenizer(self):
        return Tokenizer()

    def predict_text(self, example, max_tokens, **gen_args):
        return json.dumps({"example": example, "max_tokens": max_tokens, "model": self.model.path,
                           "tokenizer": self.uio2_preprocessor.tokenizer_path, "pid": os.getpid()})
''',
}


def write_fake_uio2(folder: Path) -> Path:
    """A stand-in for AllenAI's `uio2` package (UnifiedIOModel, UnifiedIOPreprocessor, TaskRunner with
    predict_text) that answers with JSON describing the example it was given."""
    (folder / "uio2").mkdir(parents=True, exist_ok=True)
    for name, text in UIO2.items():
        (folder / "uio2" / name).write_text(text)
    return folder
