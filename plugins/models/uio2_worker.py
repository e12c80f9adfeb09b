"""Unified-IO 2, worker side. Runs in an environment with AllenAI's PyTorch port (`uio2` package from
github.com/allenai/unified-io-2.pytorch; it needs TensorFlow for pre-processing), started by
isolated_worker.py; imports nothing from avharness.

It calls the model as the port's `TaskRunner` does for text outputs: the pre-processor builds one example
from the question and the media files (`video_inputs` with `use_video_audio` for a video's soundtrack,
`audio_inputs`, `image_inputs`, `target_modality="text"`), then `predict_text(example, max_tokens)`.
The pre-processor samples frames and cuts audio segments itself.

The question goes in wrapped in one of the prompt templates the model was trained with, as the port's
`TaskRunner.vqa` does (`uio2.prompt.PROMPT_DICT["VQA_short_prompt"]`); TaskRunner draws one at random, we
take a fixed one (`[worker] prompt_index`, default 0) so that runs repeat. `[worker] prompt = ""` sends the
question as it is. A `[worker] dtype` converts the model as the port's README documents mixed precision:
the language model in that dtype, the ViTs and VQGANs in float32 (`model.to_dtype`).
"""

from __future__ import annotations

import os

INPUT_KEYS = {"video": "video_inputs", "audio": "audio_inputs", "image": "image_inputs"}
DEFAULT_PROMPT = "VQA_short_prompt"


def prompt_template(name, index=0):
    """The port's trained prompt template `name` (its original, manual and gpt3 variants in that order,
    the `index`-th), read from the installed package; None with the reason when it has none."""
    try:
        from uio2.prompt import PROMPT_DICT
    except ImportError as exc:
        return None, f"the installed uio2 package has no prompt templates ({exc}): question sent as it is"
    entry = PROMPT_DICT.get(name) or {}
    variants = [t for kind in ("original", "manual", "gpt3") for t in entry.get(kind, [])]
    if not variants:
        return None, f"uio2.prompt has no template {name!r}: question sent as it is"
    return variants[int(index) % len(variants)], None


def example_arguments(messages, template=None):
    """The pre-processor's keyword arguments for one request (at most one video, audio and image); the
    question text in `template` ("{}" marks where it goes) when one is given."""
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
    question = "\n".join(texts)
    kwargs["text_inputs"] = template.replace("{}", question) if template else question
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
        model.to_dtype(getattr(torch, settings["dtype"]), vit_dtype=torch.float32, vqgan_dtype=torch.float32)
    preprocessor = UnifiedIOPreprocessor.from_pretrained(settings.get("preprocessor", "allenai/uio2-preprocessor"),
                                                         tokenizer=os.path.expanduser(tokenizer))
    name = settings.get("prompt", DEFAULT_PROMPT)
    template, why = prompt_template(name, settings.get("prompt_index", 0)) if name else (None, None)
    return {"runner": TaskRunner(model, preprocessor), "template": template, "notes": [why] if why else []}, {}


def generate(state, messages, max_new_tokens):
    import torch

    runner = state["runner"]
    example = runner.uio2_preprocessor(**example_arguments(messages, state["template"]))
    with torch.inference_mode():
        text = runner.predict_text(example, max_tokens=max_new_tokens)
    return {"text": text, "input_tokens": 0, "output_tokens": len(runner.tokenizer.encode(text)),
            "notes": list(state["notes"])}
