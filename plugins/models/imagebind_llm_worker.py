"""ImageBind-LLM, worker side. Runs in an environment with the authors' code (github.com/OpenGVLab/LLaMA-Adapter,
its `imagebind_LLM/` folder on the path) and their two requirement files; imports nothing from avharness.

It calls the model as the authors' web demo (imagebind_LLM/gradio_app.py) does for text output:
`llama.load(checkpoint, llama_dir, knn=True, llama_type="7B_chinese")`, `.eval()`; each input read by
ImageBind's own loaders (`ImageBind.data.load_and_transform_{vision,video,audio}_data([path], device)`) into
`inputs[Image|Video|Audio] = [tensor, weight]` with the demo's weight 1.0; the prompt
`llama.format_prompt(question)` encoded with BOS; then under CUDA autocast
`model.generate(inputs, [tokens], max_gen_len, temperature, top_p, cache_size, cache_t, cache_weight)` with
the demo's slider defaults. The loaders read a video as 5 clips of 2 s, 2 frames each (decode_audio=False:
no soundtrack) and an audio file as 3 clips of 2 s at 16 kHz; `forward_visual` averages the normalised
ImageBind embeddings of all inputs, by weight, into ONE visual query (mixed with its kNN cache). A video's
soundtrack therefore reaches the model only as a separate Audio input, which the harness writes.
"""

from __future__ import annotations

import inspect
import os

DEMO_GENERATION = {"temperature": 0.1, "top_p": 0.75, "cache_size": 10, "cache_t": 20, "cache_weight": 0.5}
DEMO_WEIGHT = 1.0  # every modality's Weight slider
ORDER = ("Image", "Video", "Audio")  # the order the demo fills `inputs` in
KINDS = {"image": "Image", "video": "Video", "audio": "Audio"}


def question(messages):
    return "\n".join(item["text"] for message in messages for item in message["content"] if item["type"] == "text")


def call_arguments(messages, settings, max_new_tokens):
    """The demo's `inputs` as {modality: [path, weight]}, a video's soundtrack as the Audio input."""
    found = {}
    for message in messages:
        for item in message["content"]:
            if item["type"] in KINDS:
                found[KINDS[item["type"]]] = item["path"]
            if item["type"] == "video" and item.get("soundtrack"):
                found["Audio"] = item["soundtrack"]["path"]
    weight = float(settings.get("weight", DEMO_WEIGHT))
    return {"inputs": {kind: [found[kind], weight] for kind in ORDER if kind in found}, "question": question(messages),
            "max_gen_len": int(max_new_tokens),
            **{key: settings.get(key, value) for key, value in DEMO_GENERATION.items()}}


def loader_defaults(function):
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def receipt(messages, call, data):
    """What reached the model, from the installed ImageBind loaders' own defaults."""
    video, audio = loader_defaults(data.load_and_transform_video_data), loader_defaults(data.load_and_transform_audio_data)
    soundtrack = any(item["type"] == "video" and item.get("soundtrack") for m in messages for item in m["content"])
    out = {"video": [], "audio": [], "images": int("Image" in call["inputs"]),
           "fused": "the ImageBind embeddings of all inputs, averaged by weight into one query"}
    if "Video" in call["inputs"]:
        out["video"].append({"frames": int(video["clips_per_video"]) * int(video["clip_duration"]),
                             "clips": int(video["clips_per_video"]), "size": [224, 224], "soundtrack": soundtrack})
    for message in messages:
        for item in message["content"]:
            track = item.get("soundtrack") if item["type"] == "video" else item if item["type"] == "audio" else None
            if track:
                clips, length = int(audio["clips_per_video"]), float(audio["clip_duration"])
                out["audio"].append({"seconds": min(float(track["seconds"]), clips * length),
                                     "of_seconds": float(track["seconds"]), "rate": int(audio["sample_rate"]),
                                     "clips": clips, "soundtrack": item["type"] == "video"})
    return out


def weights_file(checkpoint, name):
    """The adapter weights: a local file, or `name` in a hub repository (llama.load accepts a file path)."""
    path = os.path.expanduser(checkpoint)
    if os.path.isfile(path):
        return path
    from huggingface_hub import hf_hub_download

    return hf_hub_download(checkpoint, name)


def load(options):
    import llama  # the authors' imagebind_LLM/llama package

    settings = options.get("model", {})
    if not settings.get("llama_dir"):
        raise ValueError("ImageBind-LLM needs [worker] llama_dir in the card: the LLaMA folder holding 7B_chinese/ "
                         "and tokenizer.model (upstream README: LLaMA-7B + get_chinese_llama.py)")
    # ImageBind's weights (.checkpoints/) and the kNN index (ckpts/) are fetched relative to the working folder
    os.chdir(os.path.expanduser(settings.get("workdir") or os.path.dirname(os.path.dirname(os.path.abspath(llama.__file__)))))
    path = weights_file(options["checkpoint"], settings.get("weights_file", "7B.pth"))
    model = llama.load(path, os.path.expanduser(settings["llama_dir"]), device=options["device"], knn=True,
                       llama_type=settings.get("llama_type", "7B_chinese"))
    if isinstance(model, Exception):  # llama.load returns, not raises, its "not found" error
        raise model
    model.eval()
    return {"model": model, "settings": settings, "device": options["device"]}, {"weights": path, "workdir": os.getcwd()}


def generate(state, messages, max_new_tokens):
    import torch

    import ImageBind.data as data
    import llama

    call = call_arguments(messages, state["settings"], max_new_tokens)
    loaders = {"Image": data.load_and_transform_vision_data, "Video": data.load_and_transform_video_data,
               "Audio": data.load_and_transform_audio_data}
    inputs = {kind: [loaders[kind]([path], device=state["device"]), weight]
              for kind, (path, weight) in call["inputs"].items()}
    model = state["model"]
    prompt = model.tokenizer.encode(llama.format_prompt(call["question"]), bos=True, eos=False)
    torch.manual_seed(int(state["settings"].get("seed", 0)))  # temperature 0.1 samples: a fixed seed repeats runs
    with torch.autocast("cuda", enabled=torch.cuda.is_available()):  # the demo's torch.cuda.amp.autocast()
        results = model.generate(inputs, [prompt], max_gen_len=call["max_gen_len"],
                                 **{key: call[key] for key in DEMO_GENERATION})
    text = results[0].strip()
    return {"text": text, "input_tokens": len(prompt), "output_tokens": len(model.tokenizer.encode(text, bos=False, eos=False)),
            "notes": [], "media": receipt(messages, call, data)}
