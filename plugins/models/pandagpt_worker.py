"""PandaGPT, worker side. Runs in an environment with the authors' repository (github.com/yxuansu/PandaGPT,
its `code/` folder on the path) and their pins, started by isolated_worker.py; imports nothing from avharness.

It calls the model as the authors' web demo (code/web_demo.py) does: `OpenLLAMAPEFTModel(**args)` with the
demo's args, the delta checkpoint loaded with `load_state_dict(..., strict=False)`, `.eval().half()`, then
`model.generate({"prompt", "image_paths", "audio_paths", "video_paths", "thermal_paths", "top_p",
"temperature", "max_tgt_len", "modality_embeds"})`. Its ImageBind loaders read the files: a video becomes
5 clips of 2 s, 2 frames each, at 224 px (`load_and_transform_video_data`, which opens the file with
`decode_audio=False`: the soundtrack is never read from the video); an audio file becomes 3 clips of 2 s at
16 kHz as 128-bin mel spectrograms (`load_and_transform_audio_data`). A video's soundtrack therefore reaches
the model only as a separate audio file (the harness writes it), and the ImageBind embeddings of all inputs
are summed into ONE embedding before the language model (`extract_multimodal_feature`).
"""

from __future__ import annotations

import inspect
import os

DEMO_ARGS = {"model": "openllama_peft", "stage": 2, "max_tgt_len": 128, "lora_r": 32, "lora_alpha": 32,
             "lora_dropout": 0.1}  # code/web_demo.py
DEMO_GENERATION = {"top_p": 0.01, "temperature": 1.0}  # the demo's slider defaults


def question(messages):
    """A system message's text first, then the user's: the demo's first turn is the bare user input."""
    return "\n".join(item["text"] for message in messages for item in message["content"] if item["type"] == "text")


def call_arguments(messages, settings, max_new_tokens):
    """The dict handed to `model.generate`: media as path lists, a video's soundtrack among the audio paths."""
    paths = {"image_paths": [], "audio_paths": [], "video_paths": [], "thermal_paths": []}
    for message in messages:
        for item in message["content"]:
            if item["type"] == "video":
                paths["video_paths"].append(item["path"])
                if item.get("soundtrack"):
                    paths["audio_paths"].append(item["soundtrack"]["path"])
            elif item["type"] == "audio":
                paths["audio_paths"].append(item["path"])
            elif item["type"] == "image":
                paths["image_paths"].append(item["path"])
    generation = {key: settings.get(key, value) for key, value in DEMO_GENERATION.items()}
    return {"prompt": question(messages), **paths, **generation, "max_tgt_len": int(max_new_tokens),
            "modality_embeds": []}


def loader_defaults(function):
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def receipt(messages, data):
    """What reached the model, from the installed ImageBind loaders' own defaults."""
    video, audio = loader_defaults(data.load_and_transform_video_data), loader_defaults(data.load_and_transform_audio_data)
    out = {"video": [], "audio": [], "images": 0, "fused": "the ImageBind embeddings of all inputs, summed"}
    for message in messages:
        for item in message["content"]:
            if item["type"] == "video":
                out["video"].append({"frames": int(video["clips_per_video"]) * int(video["clip_duration"]),
                                     "clips": int(video["clips_per_video"]), "size": [224, 224],
                                     "soundtrack": bool(item.get("soundtrack"))})
                if item.get("soundtrack"):
                    out["audio"].append(_audio(item["soundtrack"], audio, soundtrack=True))
            elif item["type"] == "audio":
                out["audio"].append(_audio(item, audio, soundtrack=False))
            elif item["type"] == "image":
                out["images"] += 1
    return out


def _audio(item, defaults, soundtrack):
    clips, length = int(defaults["clips_per_video"]), float(defaults["clip_duration"])
    return {"seconds": min(float(item["seconds"]), clips * length), "of_seconds": float(item["seconds"]),
            "rate": int(defaults["sample_rate"]), "clips": clips, "soundtrack": soundtrack}


def delta_checkpoint(checkpoint):
    """The delta weights file: a local file or folder, or `pytorch_model.pt` of a hub repository."""
    path = os.path.expanduser(checkpoint)
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        return os.path.join(path, "pytorch_model.pt")
    from huggingface_hub import hf_hub_download

    return hf_hub_download(checkpoint, "pytorch_model.pt")


def load(options):
    import torch
    from model.openllama import OpenLLAMAPEFTModel

    settings = options.get("model", {})
    missing = [key for key in ("imagebind_ckpt_path", "vicuna_ckpt_path") if not settings.get(key)]
    if missing:
        raise ValueError(f"PandaGPT needs [worker] {' and '.join(missing)} in the card: the ImageBind-Huge folder "
                         f"and the Vicuna v0 weights its delta applies to (upstream pretrained_ckpt/README.md)")
    args = dict(DEMO_ARGS, imagebind_ckpt_path=os.path.expanduser(settings["imagebind_ckpt_path"]),
                vicuna_ckpt_path=os.path.expanduser(settings["vicuna_ckpt_path"]),
                delta_ckpt_path=delta_checkpoint(options["checkpoint"]))
    model = OpenLLAMAPEFTModel(**args)
    model.load_state_dict(torch.load(args["delta_ckpt_path"], map_location=torch.device("cpu")), strict=False)
    model = model.eval().half().to(options["device"])
    return {"model": model, "settings": settings}, {"delta_checkpoint": args["delta_ckpt_path"]}


def generate(state, messages, max_new_tokens):
    import torch
    from model.ImageBind import data

    call = call_arguments(messages, state["settings"], max_new_tokens)
    torch.manual_seed(int(state["settings"].get("seed", 0)))  # upstream always samples: a fixed seed repeats runs
    with torch.inference_mode():
        text = state["model"].generate(call)
    tokenizer = getattr(state["model"], "llama_tokenizer", None)
    output_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else 0
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": [],
            "media": receipt(messages, data)}
