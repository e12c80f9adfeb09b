"""VideoLLaMA 2, worker side. Runs in an environment with the authors' `videollama2` package (their
repository's audio_visual branch, which pins transformers 4.42), started by isolated_worker.py; imports
nothing from avharness.

It calls the model as the upstream README does: `model, processor, tokenizer = model_init(path)`, then
`mm_infer(processor[modal](file, ...), question, model=..., tokenizer=..., modal=modal, do_sample=False)`.
The upstream processor reads the file itself, so frames and audio are the model's own preprocessing: a video
with its soundtrack goes in with `va=True`, without it `va=False`; an audio file as modal "audio"; an image
as modal "image". One media item per request (the harness refuses others before they get here).

As the upstream audio-visual inference example does (`model.model.vision_tower = None` for audio,
`model.model.audio_tower = None` for video), the tower a request does not use is switched off for that
request, and put back after it: with both loaded, an image or a silent video would also pass through the
audio tower. A vision-only checkpoint has no audio tower to switch.
"""

from __future__ import annotations

import contextlib

TOWERS = ("vision_tower", "audio_tower")


def split(messages):
    """(the single media item or None, the question text: a system message's text first, then the user's)."""
    media, texts = None, []
    for message in messages:
        for item in message["content"]:
            if item["type"] == "text":
                texts.append(item["text"])
            elif media is None:
                media = item
            else:
                raise ValueError("VideoLLaMA 2 takes one image, video or audio item per request")
    return media, "\n".join(texts)


def towers_used(modal: str, with_audio: bool) -> set[str]:
    if modal == "audio":
        return {"audio_tower"}
    return {"vision_tower", "audio_tower"} if modal == "video" and with_audio else {"vision_tower"}


@contextlib.contextmanager
def only_towers(model, used: set[str]):
    """Within the block, the towers the request does not use are None on `model.model`; restored after."""
    inner = getattr(model, "model", None)
    saved = {name: getattr(inner, name) for name in TOWERS if inner is not None and hasattr(inner, name)}
    try:
        for name in saved:
            if name not in used:
                setattr(inner, name, None)
        yield
    finally:
        for name, tower in saved.items():
            setattr(inner, name, tower)


def load(options):
    from videollama2 import model_init

    model, processor, tokenizer = model_init(options["checkpoint"], **options.get("model", {}).get("model_init", {}))
    return {"model": model, "processor": processor, "tokenizer": tokenizer}, {}


def generate(state, messages, max_new_tokens):
    from videollama2 import mm_infer

    media, question = split(messages)
    if media is None:
        raise ValueError("VideoLLaMA 2's mm_infer needs an image, a video or an audio item")
    processor = state["processor"]
    with_audio = bool(media.get("with_audio"))
    if media["type"] == "video":
        tensor, modal = processor["video"](media["path"], va=with_audio), "video"
    else:
        tensor, modal = processor[media["type"]](media["path"]), media["type"]
    with only_towers(state["model"], towers_used(modal, with_audio)):
        text = mm_infer(tensor, question, model=state["model"], tokenizer=state["tokenizer"], modal=modal,
                        do_sample=False, max_new_tokens=max_new_tokens)
    output_tokens = len(state["tokenizer"].encode(text, add_special_tokens=False))
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": []}
