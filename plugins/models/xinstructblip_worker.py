"""X-InstructBLIP (13B), worker side. Runs in an environment with the authors' repository
(github.com/salesforce/LAVIS, its root on the path: the `lavis` package) and their requirements; imports
nothing from avharness.

It calls the model as the authors' demo (projects/xinstructblip/demo/run_demo.py) does: the demo's model
config (projects/xinstructblip/demo/configs/vicuna13b.yaml) read with OmegaConf, `llm_model` pointed at the
Vicuna v1.1 folder (the README's instruction), the class from LAVIS's registry, `from_config(...)`,
`.to(device)`, plus `.eval()` as LAVIS's `load_model(..., is_eval=True)` does (the demo omits it); the demo's
processors, each input as a batch of one, and

    model.generate({"prompt", "image", "video", "audio"}, length_penalty=1.0, repetition_penalty=1.5,
                   num_beams=5, max_length=N, min_length=1, top_p=0.9, use_nucleus_sampling=False,
                   special_qformer_input_prompt=prompt)

with the demo's slider defaults (beam search) and its Q-Former prompt, which is the prompt when left empty.

Every modality has its own encoder and Q-Former; the LLM sees, in the model's modality order (image, video,
audio), a text cue (" video: ", " audio: ") and that modality's query tokens, then the prompt:
- a video: `AlproVideoEvalProcessor(n_frms=4, image_size=224)`, 4 frames spread over the whole clip read with
  OpenCV (`load_clip(sampling="headtail")`: first, evenly spaced, last), each frame its own 32 query tokens. The
  processor reads frames only: the soundtrack reaches the model only as the audio input;
- audio: `BeatsAudioProcessor(model_name="iter3", sampling_rate=16000, n_frames=2, frame_length=512,
  is_eval=False)`: a 128-bin Kaldi fbank cut or zero-padded to 2 windows of 512 frames (10 ms shift: the first
  10.24 s), one BEATs encoding and 32 query tokens per window. The harness hands it a 16 kHz WAV (the clip, or
  the video's soundtrack). The processor returns zeros when it cannot read a file; the receipt says so.
- an image: `ClipImageEvalProcessor()` on the PIL image (the demo's image box gives one).
"""

from __future__ import annotations

import os
import random

DEMO_CONFIG = "projects/xinstructblip/demo/configs/vicuna13b.yaml"
DEMO_GENERATION = {"length_penalty": 1.0, "repetition_penalty": 1.5, "num_beams": 5, "min_length": 1,
                   "top_p": 0.9, "use_nucleus_sampling": False}  # run_demo.py's slider and radio defaults
VIDEO_PROCESSOR = {"n_frms": 4, "image_size": 224}  # run_demo.py
AUDIO_PROCESSOR = {"model_name": "iter3", "sampling_rate": 16000, "n_frames": 2, "is_eval": False,
                   "frame_length": 512}  # run_demo.py
FBANK_SHIFT_S = 0.01  # the processor's Kaldi fbank: frame_shift=10 ms


def question(messages):
    """The text of a request, a system message's first: the demo's prompt box is one string."""
    return "\n".join(item["text"] for message in messages for item in message["content"] if item["type"] == "text")


def call_arguments(messages, settings, max_new_tokens):
    """The demo's `inference` inputs for one request: one file per modality (a video's soundtrack is the
    audio input), and the generate settings."""
    files = {}

    def add(modality, path):
        if modality in files:
            raise ValueError(f"X-InstructBLIP's demo takes one {modality} input per request")
        files[modality] = path

    for message in messages:
        for item in message["content"]:
            if item["type"] == "text":
                continue
            add(item["type"], item["path"])
            if item["type"] == "video" and item.get("soundtrack"):
                add("audio", item["soundtrack"]["path"])
    prompt = question(messages)
    generation = {key: settings.get(key, value) for key, value in DEMO_GENERATION.items()}
    return {"files": files, "prompt": prompt,
            "generate": {**generation, "max_length": int(max_new_tokens), "special_qformer_input_prompt": prompt}}


def checkout_root(lavis_module):
    return os.path.dirname(os.path.dirname(os.path.abspath(lavis_module.__file__)))


def load(options):
    import lavis
    import torch
    from omegaconf import OmegaConf

    import lavis.models.blip2_models.blip2_vicuna_xinstruct  # noqa: F401  (registers the class, as the demo's import)
    from lavis.common.registry import registry
    from lavis.processors.alpro_processors import AlproVideoEvalProcessor
    from lavis.processors.audio_processors import BeatsAudioProcessor
    from lavis.processors.clip_processors import ClipImageEvalProcessor

    settings = options.get("model", {})
    if not settings.get("llm_model"):
        raise ValueError("X-InstructBLIP needs [worker] llm_model in the card: the Vicuna-13B v1.1 folder "
                         "(projects/xinstructblip/README.md, 'Language Model Weights')")
    path = settings.get("config") or os.path.join(checkout_root(lavis), DEMO_CONFIG)
    config = OmegaConf.load(os.path.expanduser(path))
    model_config = config.model
    model_config.llm_model = os.path.expanduser(settings["llm_model"])
    if settings.get("beats_checkpoint"):  # otherwise BeatsEncoder downloads its default BEATs iter3+ checkpoint
        model_config.audio_encoder_kwargs = {"checkpoint_path": os.path.expanduser(settings["beats_checkpoint"])}
    if settings.get("modalities"):
        model_config.modalities = list(settings["modalities"])
    random.seed(int(settings.get("seed", 42)))  # the demo's setup_seeds(42)
    torch.manual_seed(int(settings.get("seed", 42)))
    model = registry.get_model_class(model_config.arch).from_config(model_config)
    model.to(options["device"])
    model.eval()  # load_model(..., is_eval=True) does; the demo leaves it out, which keeps the Q-Former's dropout on
    processors = {"video": AlproVideoEvalProcessor(**VIDEO_PROCESSOR), "audio": BeatsAudioProcessor(**AUDIO_PROCESSOR),
                  "image": ClipImageEvalProcessor()}
    return {"model": model, "processors": processors, "settings": settings, "device": options["device"]}, \
        {"config": path, "modalities": list(model_config.modalities), "llm_model": model_config.llm_model}


def inputs_for(files, processors):
    """Each file through the demo's processor for its modality, with a leading batch dimension."""
    from PIL import Image

    out = {}
    for modality, path in files.items():
        value = Image.open(path).convert("RGB") if modality == "image" else path
        out[modality] = processors[modality](value).unsqueeze(0)
    return out


def audio_item(messages):
    """The audio input's item (a clip, or a video's soundtrack) and whether it is a soundtrack."""
    for message in messages:
        for item in message["content"]:
            if item["type"] == "audio":
                return item, False
            if item["type"] == "video" and item.get("soundtrack"):
                return item["soundtrack"], True
    return None, False


def receipt(messages, inputs):
    audio, soundtrack = audio_item(messages)
    out = {"video": [], "audio": [], "images": int("image" in inputs)}
    if "video" in inputs:
        _, _, frames, height, width = inputs["video"].shape  # B, C, T, H, W
        out["video"].append({"frames": int(frames), "size": [int(height), int(width)],
                             "soundtrack": soundtrack})
    if "audio" in inputs:
        _, windows, length, _ = inputs["audio"].shape  # B, windows, fbank frames, mel bins
        covered = round(int(windows) * int(length) * FBANK_SHIFT_S, 2)
        out["audio"].append({"seconds": min(float(audio["seconds"]), covered), "of_seconds": float(audio["seconds"]),
                             "rate": AUDIO_PROCESSOR["sampling_rate"], "windows": int(windows),
                             "window_seconds": round(int(length) * FBANK_SHIFT_S, 2),
                             "soundtrack": soundtrack, "read": bool(inputs["audio"].abs().sum() > 0)})
    return out


def generate(state, messages, max_new_tokens):
    import torch

    call = call_arguments(messages, state["settings"], max_new_tokens)
    inputs = inputs_for(call["files"], state["processors"])
    samples = {"prompt": call["prompt"], **{k: v.to(state["device"]) for k, v in inputs.items()}}
    seed = int(state["settings"].get("seed", 42))
    random.seed(seed)
    torch.manual_seed(seed)  # only nucleus sampling draws; beam search (the demo's default) is deterministic
    with torch.inference_mode():
        text = state["model"].generate(samples, **call["generate"])[0]
    media = receipt(messages, inputs)
    notes = ["X-InstructBLIP's audio processor could not read the audio (it gave zeros): fed silence"
             for track in media["audio"] if not track["read"]]
    tokenizer = getattr(state["model"], "llm_tokenizer", None)
    output_tokens = len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else 0
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": notes, "media": media}
