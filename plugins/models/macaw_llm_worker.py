"""Macaw-LLM (7B), worker side. Runs in an environment with the authors' repository
(github.com/lyuchenyang/Macaw-LLM, its root on the path) and their requirements.txt; imports nothing from
avharness.

It goes the way of the authors' inference (run_clm_llms_inference.py with inference.sh, whose loop is
`inference_generation` in llm_trainer.py):
- the model: `MM_LLMs.from_pretrained(output_dir, config=MM_LLMs_Config(<ModelArguments defaults>,
  clip_config, whisper_config, llm_config))`, the three configs and the tokenizer read from
  trained_models/{clip_model, whisper_model, llama_model, llama_tokenizer}, evaluated in fp16;
- a video: their preprocessing (preprocess_data.py, `sample_frames_from_video`) reads every frame with
  OpenCV, keeps 120 (uniform with stride len // 120 and the last frame last; fewer than 120: drawn with
  replacement and sorted) and writes them as JPEG; inference opens 6 of those (`train_frame_ind`: 0, 20,
  40, 60, 80 and 119) and CLIP-preprocesses each to 224 px;
- a video's soundtrack: their preprocessing extracts it to a WAV of its own (`extract_audio_from_video`),
  which inference reads with `whisper.load_audio`, pads or trims to 30 s and turns into an 80-bin log-mel;
  the harness writes that WAV;
- a modality the request lacks goes in as zeros, as their loop does for 'None' entries;
- the instruction in their Alpaca prompt, tokenised without EOS, between the <image>/<audio>/<video> start
  and end tokens; then `prepare_inputs_for_generation` and `llm.generate(inputs_embeds=...)`, the two steps
  of `MM_LLMs.forward` with `inference=True`, given the request's token budget instead of its fixed 128.
"""

from __future__ import annotations

import os
import tempfile

# run_clm_llms_inference.py: the prompt of its evaluation branch
PROMPT = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\n{}\n\n### Response:")
# run_clm_llms_inference.py ModelArguments defaults (inference.sh overrides none of them)
MODEL_ARGS = {"n_frames": 6, "attention_heads": 220, "image_conv_kernel": 48, "image_conv_stride": 36,
              "video_conv_kernel": 36, "video_conv_stride": 30, "audio_conv_kernel": 240, "audio_conv_stride": 220}
GENERATION = {"eos_token_id": 2, "bos_token_id": 1, "pad_token_id": 32006}  # modeling.py MM_LLMs.forward
SAMPLED_FRAMES = 120  # preprocess_data.py: frames_per_video
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # llm_trainer.py _transform(224)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WHISPER = {"rate": 16000, "seconds": 30, "mel": [80, 3000]}  # whisper.pad_or_trim / log_mel_spectrogram
SPAN_TOKENS = {"video": ("<video>", "</video>"), "audio": ("<audio>", "</audio>"), "image": ("<image>", "</image>")}


def question(messages):
    return "\n".join(item["text"] for message in messages for item in message["content"] if item["type"] == "text")


def call_arguments(messages, settings, max_new_tokens):
    """One path (or None: zeros) per modality slot, and the instruction in the authors' prompt."""
    slots = {"video": None, "audio": None, "image": None}
    soundtrack = False
    for message in messages:
        for item in message["content"]:
            if item["type"] == "video":
                slots["video"] = item["path"]
                if item.get("soundtrack"):
                    slots["audio"], soundtrack = item["soundtrack"]["path"], True
            elif item["type"] in ("audio", "image"):
                slots[item["type"]] = item["path"]
    return {"instruction": PROMPT.format(question(messages)), **slots, "audio_is_soundtrack": soundtrack,
            "zeros": [kind for kind, path in slots.items() if path is None],
            "max_new_tokens": int(max_new_tokens), **GENERATION}


def used_frame_slots(n_frames=MODEL_ARGS["n_frames"], sampled=SAMPLED_FRAMES):
    """llm_trainer.py's train_frame_ind: every (120 // 6)th of the 120 sampled frames, the last one last."""
    slots = [min(i * (sampled // n_frames), sampled - 1) for i in range(n_frames)]
    slots[-1] = sampled - 1
    return slots


def sampled_frame_indices(length, draw_samples, sampled=SAMPLED_FRAMES):
    """preprocess_data.py's choice of 120 frames out of `length`."""
    if length >= sampled:
        stride = length // sampled
        indices = [min(i * stride, length - 1) for i in range(sampled)]
        indices[-1] = length - 1
        return indices
    return sorted(draw_samples(list(range(length)), sampled))


def clip_preprocess():
    from PIL import Image
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([Resize(224, interpolation=InterpolationMode.BICUBIC), CenterCrop(224),
                    lambda image: image.convert("RGB"), ToTensor(), Normalize(CLIP_MEAN, CLIP_STD)]), Image


def video_frames(path, preprocess, open_image):
    """The 6 frames inference reads, through the JPEG files the authors' preprocessing writes."""
    import cv2
    import torch
    from preprocess_data import draw_samples

    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ValueError(f"OpenCV read no frames from {os.path.basename(path)}")
    indices = sampled_frame_indices(len(frames), draw_samples)
    picked = [indices[slot] for slot in used_frame_slots()]
    with tempfile.TemporaryDirectory() as folder:
        tensors = []
        for slot, index in zip(used_frame_slots(), picked):
            jpeg = os.path.join(folder, f"video.mp4_{slot}.jpg")
            cv2.imwrite(jpeg, frames[index])
            tensors.append(preprocess(open_image.open(jpeg)).unsqueeze(0))
    return torch.cat(tensors, dim=0).unsqueeze(0), {"frames": len(picked), "frame_indices": picked,
                                                    "of_frames": len(frames), "size": [224, 224]}


def audio_mels(path):
    import whisper

    return whisper.log_mel_spectrogram(whisper.pad_or_trim(whisper.load_audio(path))).unsqueeze(0)


def receipt(messages, call, video):
    out = {"video": [], "audio": [], "images": 0 if call["image"] is None else 1, "zeros": call["zeros"]}
    if video:
        out["video"].append({**video, "soundtrack": call["audio_is_soundtrack"]})
    for message in messages:
        for item in message["content"]:
            track = item.get("soundtrack") if item["type"] == "video" else item if item["type"] == "audio" else None
            if track:
                out["audio"].append({"seconds": min(float(track["seconds"]), WHISPER["seconds"]),
                                     "of_seconds": float(track["seconds"]), "rate": WHISPER["rate"],
                                     "mel": WHISPER["mel"], "soundtrack": item["type"] == "video"})
    return out


def load(options):
    import torch

    import modeling  # the authors' model file: its folder is the repository root, where trained_models/ lies

    settings = options.get("model", {})
    os.chdir(os.path.expanduser(settings.get("workdir") or os.path.dirname(os.path.abspath(modeling.__file__))))
    from transformers import AutoConfig, CLIPConfig, LlamaTokenizer, WhisperConfig

    models = os.path.expanduser(settings.get("models_dir", "trained_models"))
    config = modeling.MM_LLMs_Config(**MODEL_ARGS, clip_config=CLIPConfig.from_pretrained(os.path.join(models, "clip_model")),
                                     whisper_config=WhisperConfig.from_pretrained(os.path.join(models, "whisper_model")),
                                     llm_config=AutoConfig.from_pretrained(os.path.join(models, "llama_model")))
    checkpoint = os.path.abspath(os.path.expanduser(options["checkpoint"]))
    if not os.path.isdir(checkpoint):
        raise ValueError(f"Macaw-LLM's weights are not on a hub: unpack them (README: Dropbox or Weiyun) and "
                         f"point the card's checkpoint at the folder; {checkpoint} is not one")
    model = modeling.MM_LLMs.from_pretrained(checkpoint, config=config)
    model = model.half().to(options["device"]).eval()  # inference.sh: --fp16 --fp16_full_eval
    tokenizer = LlamaTokenizer.from_pretrained(os.path.join(models, "llama_tokenizer"))
    preprocess, open_image = clip_preprocess()
    return ({"model": model, "tokenizer": tokenizer, "settings": settings, "device": options["device"],
             "preprocess": preprocess, "open_image": open_image}, {"checkpoint": checkpoint, "workdir": os.getcwd()})


def generate(state, messages, max_new_tokens):
    import numpy as np
    import torch

    call = call_arguments(messages, state["settings"], max_new_tokens)
    tokenizer, device = state["tokenizer"], state["device"]
    np.random.seed(int(state["settings"].get("seed", 0)))  # a clip under 120 frames is drawn at random upstream
    video = None
    if call["video"] is None:
        videos = torch.zeros(1, MODEL_ARGS["n_frames"], 3, 224, 224)
    else:
        videos, video = video_frames(call["video"], state["preprocess"], state["open_image"])
    audios = torch.zeros(1, *WHISPER["mel"]) if call["audio"] is None else audio_mels(call["audio"])
    images = (torch.zeros(1, 3, 224, 224) if call["image"] is None
              else state["preprocess"](state["open_image"].open(call["image"])).unsqueeze(0))
    input_ids = tokenizer.encode(call["instruction"])
    if tokenizer.eos_token_id in input_ids:
        input_ids.remove(tokenizer.eos_token_id)
    inputs = {"videos": videos.half(), "audios": audios.half(), "images": images.half(),
              "input_ids": torch.tensor([input_ids], dtype=torch.int)}
    for kind, (start, end) in SPAN_TOKENS.items():
        inputs[f"{kind}_starts"] = torch.tensor([tokenizer.convert_tokens_to_ids(start)], dtype=torch.int)
        inputs[f"{kind}_ends"] = torch.tensor([tokenizer.convert_tokens_to_ids(end)], dtype=torch.int)
    inputs = {key: value.to(device) for key, value in inputs.items()}
    inputs["inference"] = True
    with torch.no_grad():
        embeddings, _, _ = state["model"].prepare_inputs_for_generation(inputs)
        ids = state["model"].llm.generate(inputs_embeds=embeddings, max_new_tokens=call["max_new_tokens"],
                                          **{key: call[key] for key in GENERATION})
    text = tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0].strip()
    return {"text": text, "input_tokens": len(input_ids), "output_tokens": int(ids.shape[-1]), "notes": [],
            "media": receipt(messages, call, video)}
