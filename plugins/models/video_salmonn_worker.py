"""video-SALMONN, worker side. Runs in an environment with the authors' code (github.com/bytedance/SALMONN,
branch `videosalmonn`) and its requirements.txt; imports nothing from avharness.

It calls the model as the authors' inference.py does: `Config` over their config/test.yaml (paths of the
checkpoints as options), `OpenLLAMAPEFTModel(**args)`, the delta checkpoint with `load_state_dict(...,
strict=False)`, `.eval().half()`; then one test data file per request in their format
(`[{"image_name": [video, wav], "conversation": [{"from": "human", "value": question}, {"from": "gpt",
"value": "None"}]}]`), read by their `SupervisedAudioVisualDataset4Test("audiovideoimage", ...)` (or
"audio" for a clip alone) with training=False, one batch through their collate, and `model(batch,
generate=True)`.

Their dataset reads the video with `decode_audio=False` (2 frames per 1-second clip, `sample_per_clip=2`,
`clip_duration=1`) and the audio from the separate WAV (`soundfile.read`, no resampling: 16 kHz as the
Whisper encoder expects, padded to 3 s, the first 30 s used) for the Whisper and BEATs encoders. A video's
soundtrack therefore goes in as that WAV, which the harness writes; a video without one gets a silent WAV
of its length (their audio-visual input always has an audio part), and the receipt says no soundtrack went in.
Generation is their `forward(generate=True)` defaults (beam search, 5 beams, repetition penalty 1.5); only
`max_new_tokens` comes from the request.
"""

from __future__ import annotations

import json
import os
import tempfile

CONFIG = "config/test.yaml"
DUMMY_AUDIO = "./dummy/dummy_audio.json"  # what inference.py passes as the audio data of "audiovideoimage"


def call_arguments(messages, settings, max_new_tokens):
    """The one-item test data file, the data type it is read as, and the generate config."""
    media = [item for message in messages for item in message["content"] if item["type"] != "text"]
    if len(media) != 1 or media[0]["type"] not in ("video", "audio"):
        raise ValueError("video-SALMONN takes one video (with its soundtrack as a WAV) or one audio clip per request")
    question = "\n".join(i["text"] for message in messages for i in message["content"] if i["type"] == "text")
    item = media[0]
    if item["type"] == "video":
        name, data_type = [item["path"], item["soundtrack"]["path"]], "audiovideoimage"
    else:
        name, data_type = item["path"], "audio"
    record = {"image_name": name, "conversation": [{"from": "human", "value": question},
                                                   {"from": "gpt", "value": "None"}]}
    return {"data_type": data_type, "data": [record], "generate_config": {"max_new_tokens": int(max_new_tokens)}}


def first_text(output):
    """inference.py zips the forward's output with the batch; the answer is its first string."""
    while isinstance(output, (list, tuple)) and output:
        output = output[0]
    return output if isinstance(output, str) else ""


def load(options):
    import argparse

    import torch

    import model as upstream_model  # the repository's model package: its configs and dummy data are relative

    settings = options.get("model", {})
    os.chdir(settings.get("workdir") or os.path.dirname(os.path.dirname(os.path.abspath(upstream_model.__file__))))
    from config.config import Config
    from model.openllama import OpenLLAMAPEFTModel

    overrides = [f"{key}={os.path.expanduser(str(settings[key]))}"
                 for key in ("vicuna_ckpt_path", "delta_ckpt_path", "cache_dir") if settings.get(key)]
    if not any(o.startswith("delta_ckpt_path=") for o in overrides):
        overrides.append(f"delta_ckpt_path={delta_checkpoint(options)}")
    args = Config(argparse.Namespace(cfg_path=settings.get("cfg_path", CONFIG), options=overrides)).config
    model = OpenLLAMAPEFTModel(**args)
    model.load_state_dict(torch.load(args["delta_ckpt_path"], map_location=torch.device("cpu")), strict=False)
    model = model.eval().half().to(options["device"])
    return {"model": model, "args": args}, {"delta_checkpoint": str(args["delta_ckpt_path"])}


def delta_checkpoint(options):
    path = os.path.expanduser(options["checkpoint"])
    if os.path.isfile(path):
        return path
    name = options.get("model", {}).get("weights_file", "pytorch_model_4_5001.pt")  # config/test.yaml's file name
    if os.path.isdir(path):
        return os.path.join(path, name)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(options["checkpoint"], name, revision=options.get("revision"))


def generate(state, messages, max_new_tokens):
    import torch
    from datasets import SupervisedAudioVisualDataset4Test
    from torch.utils.data import DataLoader

    call = call_arguments(messages, {}, max_new_tokens)
    args = state["args"]
    with tempfile.TemporaryDirectory() as folder:
        data_file = os.path.join(folder, "request.json")
        with open(data_file, "w") as out:
            json.dump(call["data"], out)
        common = dict(use_whisper=args["use_whisper"], training=False, sin_pos=args["sin_pos"],
                      return_raw=args["return_raw"], cache_dir=args["cache_dir"])
        if call["data_type"] == "audiovideoimage":
            dataset = SupervisedAudioVisualDataset4Test("audiovideoimage", audio_data_path=DUMMY_AUDIO,
                                                        video_data_path=data_file, **common)
        else:
            dataset = SupervisedAudioVisualDataset4Test("audio", audio_data_path=data_file, **common)
        batch = next(iter(DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=dataset.collate)))
        with torch.inference_mode():
            text = first_text(state["model"](batch, generate=True, generate_config=call["generate_config"]))
    tokenizer = getattr(state["model"], "llama_tokenizer", None)
    output_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else 0
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": [],
            "media": receipt(messages, dataset)}


def receipt(messages, dataset):
    out = {"video": [], "audio": [], "images": 0}
    for message in messages:
        for item in message["content"]:
            if item["type"] == "video":
                per_second = getattr(dataset, "sample_per_clip", 2) / getattr(dataset, "clip_duration", 1)
                track = item["soundtrack"]
                out["video"].append({"frames_per_second": per_second, "soundtrack": not track.get("silent")})
                out["audio"].append({"seconds": min(max(track["seconds"], 3.0), 30.0), "rate": track["rate"],
                                     "soundtrack": not track.get("silent"), "silent_stand_in": bool(track.get("silent"))})
            elif item["type"] == "audio":
                out["audio"].append({"seconds": min(max(item["seconds"], 3.0), 30.0), "rate": item["rate"],
                                     "soundtrack": False})
    return out
