"""Video-LLaMA (v1 code, Video-LLaMA-2 weights), worker side. Runs in an environment with the authors'
repository (github.com/DAMO-NLP-SG/Video-LLaMA) and their pins; imports nothing from avharness.

It calls the model as the authors' audio-visual demo (demo_audiovideo.py) does: `Config` over
eval_configs/video_llama_eval_withaudio.yaml with the checkpoint paths as options, the model class and the
webvid eval processor from the registry, `Chat(model, vis_processor, device)`; then per request a fresh copy
of the demo's conversation (`default_conversation` for Vicuna weights, `conv_llava_llama_2` for LLaMA-2-chat
ones, the demo's `--model_type`), `chat.upload_video` (with the soundtrack) or
`chat.upload_video_without_audio`, or `chat.upload_img` for an image, `chat.ask(question, conv)` and
`chat.answer(conv, img_list, num_beams=1, temperature=1.0, max_new_tokens=...)`.

The authors' `upload_video` reads everything from the video file: 8 uniformly sampled frames at 224 x 224
(`load_video(n_frms=8)`) for the visual Q-Former, and the file's own soundtrack through ImageBind's audio
loader (`load_and_transform_audio_data([video_path], clips_per_video=8)`: 8 clips of 2 s at 16 kHz) for the
audio Q-Former. If that audio load fails, upstream silently continues with the frames alone; the receipt says
what happened (two embeddings in the image list: both went in). There is no audio-only input in this code.
`Chat.answer` always samples (`do_sample=True`): the worker seeds torch before each request so runs repeat.
"""

from __future__ import annotations

import importlib
import os
from types import SimpleNamespace

CONFIG = "eval_configs/video_llama_eval_withaudio.yaml"
WEIGHTS = {  # the files of the hub repository DAMO-NLP-SG/Video-LLaMA-2-7B-Finetuned
    "llama_model": "llama-2-7b-chat-hf", "ckpt": "VL_LLaMA_2_7B_Finetuned.pth",
    "ckpt_2": "AL_LLaMA_2_7B_Finetuned.pth"}
DEMO_ANSWER = {"num_beams": 1, "temperature": 1.0}  # demo_audiovideo.py's slider defaults
IMAGE_SYSTEM = ("You are able to understand the visual content that the user provides. Follow the instructions "
                "carefully and explain your answers in detail.")  # what the demo sets before upload_img
REGISTERED = ("video_llama.datasets.builders", "video_llama.models", "video_llama.processors",
              "video_llama.runners", "video_llama.tasks")  # the demo imports these for their registrations


def call_arguments(messages, settings, max_new_tokens):
    """The Chat calls for one request: which upload, the question asked, the answer's settings."""
    media = [item for message in messages for item in message["content"] if item["type"] != "text"]
    if len(media) != 1:
        raise ValueError(f"Video-LLaMA's Chat takes one video or image per conversation, got {len(media)}")
    item = media[0]
    if item["type"] == "video":
        upload = "upload_video" if item.get("with_audio") else "upload_video_without_audio"
    elif item["type"] == "image":
        upload = "upload_img"
    else:
        raise ValueError("Video-LLaMA's Chat has no audio-only input")
    question = "\n".join(i["text"] for message in messages for i in message["content"] if i["type"] == "text")
    model_type = settings.get("model_type", "llama_v2")
    return {"conversation": "default_conversation" if model_type == "vicuna" else "conv_llava_llama_2",
            "system": IMAGE_SYSTEM if upload == "upload_img" else "", "upload": [upload, item["path"]],
            "ask": question, "answer": {**{k: settings.get(k, v) for k, v in DEMO_ANSWER.items()},
                                        "max_new_tokens": int(max_new_tokens)}}


def weights_folder(options):
    path = os.path.expanduser(options["checkpoint"])
    if os.path.isdir(path):
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(options["checkpoint"], revision=options.get("revision"))


def load(options):
    import video_llama
    from video_llama.common.config import Config
    from video_llama.common.registry import registry
    from video_llama.conversation.conversation_video import Chat

    for module in REGISTERED:
        importlib.import_module(module)
    settings = options.get("model", {})
    folder = weights_folder(options)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(video_llama.__file__)))
    paths = {key: os.path.join(folder, settings.get(key, name)) for key, name in WEIGHTS.items()}
    user_options = [f"model.{key}={value}" for key, value in paths.items()] + [f"model.imagebind_ckpt_path={folder}"]
    cfg = Config(SimpleNamespace(cfg_path=os.path.join(checkout, settings.get("cfg_path", CONFIG)),
                                 options=user_options))
    device = options["device"]
    model_config = cfg.model_cfg
    model_config.device_8bit = int(device.split(":")[1]) if ":" in device else 0
    model = registry.get_model_class(model_config.arch).from_config(model_config).to(device)
    model.eval()
    processor_config = cfg.datasets_cfg.webvid.vis_processor.train
    processor = registry.get_processor_class(processor_config.name).from_config(processor_config)
    return {"chat": Chat(model, processor, device=device), "settings": settings,
            "frames": int(processor_config.get("n_frms", 8))}, {"weights": folder}


def generate(state, messages, max_new_tokens):
    import torch
    from video_llama.conversation import conversation_video

    call = call_arguments(messages, state["settings"], max_new_tokens)
    chat = state["chat"]
    conv = getattr(conversation_video, call["conversation"]).copy()
    conv.system = call["system"]
    img_list = []
    upload, path = call["upload"]
    getattr(chat, upload)(path, conv, img_list)
    chat.ask(call["ask"], conv)
    torch.manual_seed(int(state["settings"].get("seed", 42)))  # the demo's run seed; upstream always samples
    with torch.inference_mode():
        text, tokens = chat.answer(conv=conv, img_list=img_list, **call["answer"])
    heard = upload == "upload_video" and len(img_list) == 2  # audio embedding + frames embedding
    notes = ["Video-LLaMA could not read the soundtrack from the file: fed frames only"] \
        if upload == "upload_video" and not heard else []
    receipt = {"video": [], "audio": [], "images": 0}
    if upload == "upload_img":
        receipt["images"] = 1
    else:
        receipt["video"].append({"frames": state["frames"], "size": [224, 224], "soundtrack": heard})
        if heard:
            receipt["audio"].append({"clips": 8, "clip_seconds": 2.0, "rate": 16000, "soundtrack": True,
                                     "read_by": "the model's ImageBind loader, from the video file"})
    return {"text": text, "input_tokens": 0, "output_tokens": int(len(tokens)), "notes": notes, "media": receipt}
