"""NExT-GPT (7b_tiva_v0), worker side. Runs in an environment with the authors' repository
(github.com/NExT-GPT/NExT-GPT, its `NExT-GPT-Lagacy/code/` folder on the path: the code of the released
7b_tiva_v0 checkpoint) and its pins; imports nothing from avharness.

It calls the model as the authors' demo (NExT-GPT-Lagacy/code/demo_app.py) does: `NextGPTModel(**args)` with
the args of code/inference.py plus `load_config(args)` (which reads config/*.yaml relative to the code
folder: the worker works from there), the delta weights loaded with `load_state_dict(..., strict=False)`,
`.eval().half()`, then `model.generate({...})` with the prompt the demo builds for a first turn:
"### Human: <Image>path</Image> <Audio>path</Audio> <Video>path</Video>  question". Its ImageBind loaders
read the files (a video: 5 clips x 2 frames, `decode_audio=False`, so no soundtrack; audio: 3 clips of 2 s at
16 kHz); the embeddings of each tag are projected and placed where the tag stands. A video's soundtrack reaches
the model only as a separate <Audio> file, which the harness writes. Answers are text: the number of images,
videos and audios to synthesise is 0, so the diffusion decoders never run.
"""

from __future__ import annotations

import inspect
import os

INFERENCE_ARGS = {"model": "nextgpt", "max_length": 128, "stage": 3, "root_dir": "../", "mode": "validate"}
DEMO_GENERATION = {"top_p": 0.01, "temperature": 1.0, "filter_value": -float("inf"), "min_word_tokens": 10,
                   "gen_scale_factor": 4.0, "stops_id": [[835]], "ENCOUNTERS": 1}  # demo_app.py
TEXT_ONLY = {"load_sd": False, "max_num_imgs": 0, "max_num_vids": 0, "max_num_auds": 0}
TAGS = {"image": "Image", "audio": "Audio", "video": "Video"}


def call_arguments(messages, settings, max_new_tokens):
    """The dict handed to `model.generate`; the media as the demo's tags, in its order (image, audio, video)."""
    found = {"image": [], "audio": [], "video": []}
    texts = []
    for message in messages:
        for item in message["content"]:
            if item["type"] == "text":
                texts.append(item["text"])
                continue
            found[item["type"]].append(item["path"])
            if item["type"] == "video" and item.get("soundtrack"):
                found["audio"].append(item["soundtrack"]["path"])
    prompt = "### Human: "
    for kind in ("image", "audio", "video"):
        for path in found[kind]:
            prompt += f"<{TAGS[kind]}>{path}</{TAGS[kind]}> "
    prompt += " " + "\n".join(texts)
    generation = {key: settings.get(key, value) for key, value in DEMO_GENERATION.items()}
    return {"prompt": prompt, "image_paths": found["image"], "audio_paths": found["audio"],
            "video_paths": found["video"], "max_tgt_len": int(max_new_tokens), "modality_embeds": [],
            **generation, **TEXT_ONLY}


def receipt(messages, call, data):
    """What reached the model, from the installed ImageBind loaders' own defaults."""
    video = {k: p.default for k, p in inspect.signature(data.load_and_transform_video_data).parameters.items()}
    audio = {k: p.default for k, p in inspect.signature(data.load_and_transform_audio_data).parameters.items()}
    soundtracks = sum(1 for message in messages for item in message["content"]
                      if item["type"] == "video" and item.get("soundtrack"))
    return {"video": [{"frames": int(video["clips_per_video"]) * int(video["clip_duration"]), "size": [224, 224]}
                      for _ in call["video_paths"]],
            "audio": [{"clips": int(audio["clips_per_video"]), "clip_seconds": float(audio["clip_duration"]),
                       "rate": int(audio["sample_rate"])} for _ in call["audio_paths"]],
            "images": len(call["image_paths"]), "soundtracks_as_audio": soundtracks}


def load(options):
    import torch

    settings = options.get("model", {})
    import model as upstream_model  # the authors' code/model package, for the folder their configs are under

    os.chdir(settings.get("workdir") or os.path.dirname(os.path.dirname(os.path.abspath(upstream_model.__file__))))
    from config import load_config
    from model.anyToImageVideoAudio import NextGPTModel

    checkpoint = os.path.expanduser(options["checkpoint"])
    if not os.path.isdir(checkpoint):
        from huggingface_hub import snapshot_download

        checkpoint = snapshot_download(options["checkpoint"], revision=options.get("revision"))
    args = dict(INFERENCE_ARGS, nextgpt_ckpt_path=checkpoint)
    args.update(load_config(args))
    if settings.get("pretrained_ckpt_path"):  # ImageBind and Vicuna, else under the checkout's ckpt/ (base.yaml)
        args["pretrained_ckpt_path"] = os.path.expanduser(settings["pretrained_ckpt_path"])
    model = NextGPTModel(**args)
    model.load_state_dict(torch.load(os.path.join(checkpoint, "pytorch_model.pt"), map_location=torch.device("cpu")),
                          strict=False)
    model = model.eval().half().to(options["device"])
    return {"model": model, "settings": settings}, {"workdir": os.getcwd()}


def generate(state, messages, max_new_tokens):
    import torch
    from model.ImageBind import data

    call = call_arguments(messages, state["settings"], max_new_tokens)
    torch.manual_seed(int(state["settings"].get("seed", 0)))  # upstream always samples: a fixed seed repeats runs
    with torch.inference_mode():
        outputs = state["model"].generate(call)
    text = "".join(o for o in outputs if isinstance(o, str))
    tokenizer = getattr(state["model"], "llama_tokenizer", None)
    output_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else 0
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": [],
            "media": receipt(messages, call, data)}
