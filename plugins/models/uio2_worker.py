"""Unified-IO 2, worker side. Runs in an environment with AllenAI's PyTorch port (`uio2` package from
github.com/allenai/unified-io-2.pytorch; it needs TensorFlow for pre-processing), started by
isolated_worker.py; imports nothing from avharness.

It calls the model as the port's `TaskRunner` does for text outputs: the pre-processor builds one example
from the question and the media files (`video_inputs` with `use_video_audio` for a video's soundtrack,
`audio_inputs`, `image_inputs`, `target_modality="text"`), then `predict_text(example, max_tokens)`.
The pre-processor samples frames and cuts audio segments itself.
"""

from __future__ import annotations

import os

INPUT_KEYS = {"video": "video_inputs", "audio": "audio_inputs", "image": "image_inputs"}


def example_arguments(messages):
    """The pre-processor's keyword arguments for one request (at most one video, audio and image)."""
    texts, kwargs = [], {"target_modality": "text"}
    for message in messages:
        for item in message["content"]:
            if item["type"] == "text":
                texts.append(item["text"])
                continue
            key = INPUT_KEYS[item["type"]]
            if key in kwargs:
                raise ValueError(f"Unified-IO 2 takes one {item['type']} input per request")
            kwargs[key] = item["path"]
            if item["type"] == "video":
                kwargs["use_video_audio"] = bool(item.get("with_audio"))
    kwargs["text_inputs"] = "\n".join(texts)
    return kwargs


def load(options):
    import torch
    from uio2.model import UnifiedIOModel
    from uio2.preprocessing import UnifiedIOPreprocessor
    from uio2.runner import TaskRunner

    settings = options.get("model", {})
    tokenizer = settings.get("tokenizer")
    if not tokenizer:
        raise ValueError("Unified-IO 2's pre-processor needs the LLaMA-2 tokenizer.model: set [worker] tokenizer "
                         "= PATH in the card")
    model = UnifiedIOModel.from_pretrained(options["checkpoint"]).to(options["device"]).eval()
    if settings.get("dtype"):
        model = model.to(getattr(torch, settings["dtype"]))
    preprocessor = UnifiedIOPreprocessor.from_pretrained(settings.get("preprocessor", "allenai/uio2-preprocessor"),
                                                         tokenizer=os.path.expanduser(tokenizer))
    return {"runner": TaskRunner(model, preprocessor)}, {}


def generate(state, messages, max_new_tokens):
    import torch

    runner = state["runner"]
    example = runner.uio2_preprocessor(**example_arguments(messages))
    with torch.inference_mode():
        text = runner.predict_text(example, max_tokens=max_new_tokens)
    return {"text": text, "input_tokens": 0, "output_tokens": len(runner.tokenizer.encode(text)), "notes": []}
