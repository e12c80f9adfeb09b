"""CREMA (4B: ViT-G and Flan-T5-XL), worker side. Runs in an environment with the authors' repository
(github.com/Yui010206/CREMA, their LAVIS fork; its root on the path) and their requirements; imports nothing
from avharness.

It runs the model as the authors' MUSIC-AVQA video+audio inference (run_scripts/crema/inference/music_avqa.sh:
`evaluate.py --cfg-path lavis/projects/crema/eval/music_avqa_eval.yaml` with `model.finetuned=crema_pretrained.pth
model.frame_num=4 model.downstream_task=oeqa model.modalities=audio_rgb-skip
datasets.musicavqa_mm_instruct.data_type=['audio','video']`), one sample at a time instead of their data loader:
`Config` over that file and those options, the model class from LAVIS's registry and `from_config`, the dataset's
eval processors from the same config, then the GQA task's call (lavis/tasks/vqa.py, GQATask.valid_step):
`model.predict_answers(samples, answer_list=None, inference_method="generate", num_beams=5, max_len=N,
min_len=1, num_ans_candidates=128, prompt="Question: {} Answer:")` with the run section's values.

That path reads raw files, no pre-extracted features (only depth, flow, normals and 3D are pre-extracted, and
this configuration uses none of them):
- frames: `blip_video_eval` (n_frms=4, image_size=224): decord, 4 frames, each the middle of one of 4 equal
  spans of the clip, resized to 224 x 224 (`load_video(sampling="uniform")`), as `samples["rgb"]`;
- audio: `beats_audio` (16 kHz, is_eval False): a 128-bin Kaldi fbank cut or zero-padded to 2 windows of 512
  frames (the first 10.24 s), as `samples["audio"]`. Upstream hands it the .mp4 and moviepy reads the soundtrack;
  here the harness hands it the soundtrack as a 16 kHz WAV. A file without an audio track makes the processor
  return zeros (its `empty_audio_tensor`); a silent or muted video gets those same zeros here, and the receipt
  says so. The model always takes both: its modalities are fixed when it is built.
- the text: their MUSIC-AVQA dataset's `qa_input` (lavis/datasets/datasets/music_avqa_datasets.py):
  "Question: " + blip_question(question) + " Based on the frames and audio information, answer the question
  using a single word or phase." (blip_question lowercases, drops .!"()*#:;~ and keeps 50 words; the model
  truncates the text at 77 T5 tokens).
"""

from __future__ import annotations

import importlib
import os
from types import SimpleNamespace

EVAL_CONFIG = "lavis/projects/crema/eval/music_avqa_eval.yaml"
DATASET = "musicavqa_mm_instruct"
INFERENCE_OPTIONS = ["model.frame_num=4", "model.downstream_task=oeqa", "model.modalities=audio_rgb-skip",
                     f"datasets.{DATASET}.data_type=['audio','video']"]  # run_scripts/crema/inference/music_avqa.sh
WEIGHTS_FILE = "crema_pretrained.pth"  # the same script's ckpt
QA_TEMPLATE = ("Question: {} Based on the frames and audio information, answer the question using a single word or "
               "phase.")  # music_avqa_datasets.py, word for word
REGISTERED = ("lavis.datasets.builders", "lavis.models", "lavis.processors", "lavis.tasks")  # evaluate.py's imports
FBANK_PER_SECOND = 100  # the audio processor's Kaldi fbank: 10 ms frame shift
TEXT_TOKENS = 77  # crema.py: self.max_txt_len = 77, the question's truncation in the T5 tokenizer


def question(messages):
    return "\n".join(item["text"] for message in messages for item in message["content"] if item["type"] == "text")


def call_arguments(messages, settings, max_new_tokens):
    """The one video, the soundtrack WAV if any, the question, and the GQA task's predict_answers settings."""
    media = [item for message in messages for item in message["content"] if item["type"] != "text"]
    if len(media) != 1 or media[0]["type"] != "video":
        raise ValueError("CREMA (video+audio configuration) takes exactly one video per request")
    video = media[0]
    track = video.get("soundtrack")
    return {"video": video["path"], "audio": track["path"] if track else None,
            "question": question(messages),
            "qa_input": QA_TEMPLATE.format("<blip_question(question)>"),
            "predict": {"inference_method": "generate", "num_beams": int(settings.get("num_beams", 5)),
                        "max_len": int(max_new_tokens), "min_len": int(settings.get("min_len", 1)),
                        "num_ans_candidates": 128, "prompt": "Question: {} Answer:"}}


def weights_file(options):
    path = os.path.expanduser(options["checkpoint"])
    name = options.get("model", {}).get("weights_file", WEIGHTS_FILE)
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        return os.path.join(path, name)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(options["checkpoint"], name, revision=options.get("revision"))


def load(options):
    import lavis

    for module in REGISTERED:
        importlib.import_module(module)
    from lavis.common.config import Config
    from lavis.common.registry import registry
    from lavis.models import beats_encoder

    settings = options.get("model", {})
    if not settings.get("beats_checkpoint"):
        raise ValueError("CREMA needs [worker] beats_checkpoint in the card: the BEATs_iter3_plus_AS2M.pt file "
                         "(README.md, 'Audio Encoder')")
    # the README has one edit ckp_path in lavis/models/beats_encoder.py; setting the default does the same
    beats_encoder.BeatsEncoder.__init__.__defaults__ = (os.path.expanduser(settings["beats_checkpoint"]),)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(lavis.__file__)))
    weights = weights_file(options)
    cfg = Config(SimpleNamespace(cfg_path=os.path.join(checkout, settings.get("cfg_path", EVAL_CONFIG)),
                                 options=INFERENCE_OPTIONS + [f"model.finetuned={weights}"]))
    model = registry.get_model_class(cfg.model_cfg.arch).from_config(cfg.model_cfg)
    model = model.to(options["device"]).eval()
    dataset = cfg.datasets_cfg[DATASET]
    processors = {kind: registry.get_processor_class(dataset[f"{kind}_processor"].eval.name)
                  .from_config(dataset[f"{kind}_processor"].eval) for kind in ("video", "audio", "text")}
    return {"model": model, "processors": processors, "settings": settings, "device": options["device"]}, \
        {"weights": weights, "modalities": list(model.modalities)}


def empty_audio(processor):
    """What upstream's audio processor returns for a file it cannot read (a video without an audio track)."""
    import torch

    return torch.zeros((processor.n_frames, processor.frame_length, 128))


def generate(state, messages, max_new_tokens):
    import torch

    call = call_arguments(messages, state["settings"], max_new_tokens)
    track = next(item.get("soundtrack") for m in messages for item in m["content"] if item["type"] == "video")
    seconds = float(track["seconds"]) if track else 0.0
    processors, device = state["processors"], state["device"]
    rgb, indices, _fps = processors["video"](call["video"])
    audio = processors["audio"](call["audio"]) if call["audio"] else empty_audio(processors["audio"])
    words = processors["text"](call["question"])
    samples = {"qa_input": [QA_TEMPLATE.format(words)], "qa_output": [""], "question_id": torch.tensor([0]),
               "rgb": rgb.to(torch.float32).unsqueeze(0).to(device),
               "audio": audio.to(torch.float32).unsqueeze(0).to(device)}
    with torch.inference_mode():
        text = state["model"].predict_answers(samples=samples, answer_list=None, **call["predict"])[0]
    heard = bool(audio.abs().sum() > 0)
    notes = []
    if not call["audio"]:
        notes.append("CREMA always takes audio with the frames: no soundtrack, so its audio processor's empty input "
                     "(zeros) went in")
    elif not heard:
        notes.append("CREMA's audio processor could not read the soundtrack (it gave zeros): fed silence")
    windows, length = int(audio.shape[0]), int(audio.shape[1])
    tokenizer = getattr(state["model"], "t5_tokenizer", None)
    prompt_tokens = len(tokenizer(samples["qa_input"][0]).input_ids) if tokenizer is not None else 0
    media = {"video": [{"frames": int(rgb.shape[1]), "size": [int(rgb.shape[2]), int(rgb.shape[3])],
                        "frame_indices": [int(i) for i in indices], "soundtrack": bool(call["audio"]) and heard}],
             "audio": [{"seconds": min(seconds, windows * length / FBANK_PER_SECOND), "of_seconds": seconds,
                        "rate": int(processors["audio"].sampling_rate),
                        "windows": windows, "window_seconds": length / FBANK_PER_SECOND, "soundtrack": bool(call["audio"]),
                        "zeros": not heard}],
             "images": 0, "text": {"qa_input": samples["qa_input"][0], "truncated": prompt_tokens > TEXT_TOKENS}}
    output_tokens = len(tokenizer(text, add_special_tokens=False).input_ids) if tokenizer is not None else 0
    return {"text": text, "input_tokens": min(prompt_tokens, TEXT_TOKENS), "output_tokens": output_tokens,
            "notes": notes, "media": media}
