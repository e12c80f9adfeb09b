"""VITA (1.0), worker side. Runs in an environment with the authors' repository (github.com/VITA-MLLM/VITA, its
root on the path) and their requirements.txt; imports nothing from avharness.

It makes the call the authors' video_audio_demo.py makes for a TEXT question: `load_pretrained_model(path,
None, name, "mixtral-8x7b")`, `resize_token_embeddings`, the vision tower loaded, the audio encoder in fp16,
`.eval()`; a video read by the demo's own `_get_rawvideo_dec` (decord, 1 frame per second, at least 4 and
at most MAX_IMAGE_LENGTH frames, padded square, the vision tower's processor), an image through
`dynamic_preprocess(min_num=1, max_num=12, image_size=448, use_thumbnail=True)` and `model.process_images`,
neither for a text-only question (zeros); the user turn "<image>" x frames + "\\n" + question in the
"mixtral_two" template (`get_prompt(modality)` picks its video, image or text system message);
`tokenizer_image_token`; then `model.generate(..., do_sample=False, temperature=0.01, top_p=None,
num_beams=1, stopping at the template's separator)`.

VITA's audio input is the user's SPOKEN question: the demo asserts exactly one of an audio question and a
text question. With a text question its audio slot holds the demo's placeholder, zeros of 400 x 80, and a
video's soundtrack is not read (decord reads frames only). So the harness sends the question as text and
the frames; the soundtrack is not fed.
"""

from __future__ import annotations

import os

DEMO = {"model_type": "mixtral-8x7b", "conv_mode": "mixtral_two", "video_framerate": 1}
DEMO_GENERATION = {"do_sample": False, "temperature": 0.01, "top_p": None, "num_beams": 1}
NO_AUDIO_QUESTION = [400, 80]  # the demo's audio input when the question is text
IMAGE_TILES = {"min_num": 1, "max_num": 12, "image_size": 448, "use_thumbnail": True}


def call_arguments(messages, settings, max_new_tokens):
    """The demo's modality ("video", "image" or "lang"), its one file, and the text question."""
    media = [item for message in messages for item in message["content"] if item["type"] != "text"]
    if len(media) > 1 or any(item["type"] == "audio" for item in media):
        raise ValueError("VITA takes one video or one image and a text question (its audio input is a spoken "
                         "question, never beside a text one)")
    text = "\n".join(i["text"] for message in messages for i in message["content"] if i["type"] == "text")
    return {"modality": media[0]["type"] if media else "lang", "path": media[0]["path"] if media else None,
            "question": text, "conv_mode": settings.get("conv_mode", DEMO["conv_mode"]),
            "video_framerate": DEMO["video_framerate"], "audio": {"zeros": NO_AUDIO_QUESTION},
            "max_new_tokens": int(max_new_tokens), **DEMO_GENERATION}


HUB_FOLDERS = {"model": "VITA_ckpt", "audio_encoder": "audio-encoder-2wh_zh_en_audioset_Mixtral-8x7B_New-base-tunning"}
VISION_TOWER = "OpenGVLab/InternViT-300M-448px"  # README: the weights to download beside the checkpoint


def model_folder(options):
    """VITA_ckpt: a local folder, or that folder of the hub repository (which also holds the audio encoder)."""
    path = os.path.expanduser(options["checkpoint"])
    if os.path.isdir(path):
        return path
    from huggingface_hub import snapshot_download

    return os.path.join(snapshot_download(options["checkpoint"], revision=options.get("revision")), HUB_FOLDERS["model"])


def encoder_paths(settings, folder):
    """The config names the vision tower and the audio encoder by local path; the card's (or the published
    layout's) paths replace them, as editing the config would."""
    audio = os.path.expanduser(settings.get("audio_encoder") or
                               os.path.join(os.path.dirname(os.path.abspath(folder)), HUB_FOLDERS["audio_encoder"]))
    if not os.path.isdir(audio):
        raise ValueError(f"VITA needs its audio encoder folder (train.yaml, global_cmvn): set [worker] audio_encoder; "
                         f"{audio} is not one")
    return {"mm_vision_tower": os.path.expanduser(settings.get("vision_tower", VISION_TOWER)), "mm_audio_encoder": audio}


def load(options):
    import torch
    from vita.model.builder import load_pretrained_model
    from vita.util.mm_utils import get_model_name_from_path
    from vita.util.utils import disable_torch_init

    settings = options.get("model", {})
    disable_torch_init()
    path = model_folder(options)
    encoders = encoder_paths(settings, path)
    # upstream's builder places the Mixtral layers over cuda:0 and cuda:1 itself (README: CUDA_VISIBLE_DEVICES=0,1)
    tokenizer, model, _, _ = load_pretrained_model(path, None, get_model_name_from_path(path),
                                                   settings.get("model_type", DEMO["model_type"]), **encoders)
    model.resize_token_embeddings(len(tokenizer))
    vision_tower = model.get_vision_tower()
    if not vision_tower.is_loaded:
        vision_tower.load_model()
    audio_encoder = model.get_audio_encoder()
    audio_encoder.to(dtype=torch.float16)
    model.eval()
    return ({"model": model, "tokenizer": tokenizer, "image_processor": vision_tower.image_processor,
             "settings": settings, "device": options["device"]}, {"model_folder": path, **encoders})


def visual_input(state, call):
    """The demo's image tensor and the number of <image> tokens it stands for."""
    import torch
    from PIL import Image

    model, device = state["model"], state["device"]
    if call["modality"] == "video":
        from video_audio_demo import _get_rawvideo_dec
        from vita.constants import MAX_IMAGE_LENGTH

        frames, count = _get_rawvideo_dec(call["path"], state["image_processor"], max_frames=MAX_IMAGE_LENGTH,
                                          video_framerate=call["video_framerate"],
                                          image_aspect_ratio=getattr(model.config, "image_aspect_ratio", None))
        return frames.half().to(device), count
    if call["modality"] == "image":
        from vita.util.data_utils_video_audio_neg_patch import dynamic_preprocess

        tiles, counts = dynamic_preprocess(Image.open(call["path"]).convert("RGB"), **IMAGE_TILES)
        return model.process_images(tiles, model.config).to(dtype=model.dtype, device=device), counts[0]
    return torch.zeros((1, 3, 448, 448)).to(dtype=model.dtype, device=device), 0


def generate(state, messages, max_new_tokens):
    import torch
    from vita.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
    from vita.conversation import SeparatorStyle, conv_templates
    from vita.util.mm_utils import KeywordsStoppingCriteria, tokenizer_image_token

    call = call_arguments(messages, state["settings"], max_new_tokens)
    tokenizer, device = state["tokenizer"], state["device"]
    images, count = visual_input(state, call)
    silence = torch.zeros(*NO_AUDIO_QUESTION).unsqueeze(0)
    audios = {"audios": silence.half().to(device), "lengths": torch.tensor([NO_AUDIO_QUESTION[0]]).half().to(device)}
    user_turn = DEFAULT_IMAGE_TOKEN * count + "\n" + call["question"] if count else call["question"]
    conv = conv_templates[call["conv_mode"]].copy()
    conv.append_message(conv.roles[0], user_turn)
    conv.append_message(conv.roles[1], None)
    prompt = conv.get_prompt(call["modality"])
    input_ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0).to(device)
    stop = conv.sep if conv.sep_style != SeparatorStyle.TWO else conv.sep2
    with torch.inference_mode():
        output = state["model"].generate(input_ids, images=images, audios=audios, output_scores=True,
                                         return_dict_in_generate=True, max_new_tokens=call["max_new_tokens"],
                                         use_cache=True,
                                         stopping_criteria=[KeywordsStoppingCriteria([stop], tokenizer, input_ids)],
                                         **DEMO_GENERATION)
    new_ids = output.sequences[:, input_ids.shape[1]:]
    text = tokenizer.batch_decode(new_ids, skip_special_tokens=False)[0].strip()
    if text.endswith(stop):
        text = text[: -len(stop)]
    media = {"video": [], "audio": [], "images": int(call["modality"] == "image"),
             "audio_input": {"zeros": NO_AUDIO_QUESTION, "why": "the demo's placeholder for a text question"}}
    if call["modality"] == "video":
        media["video"].append({"frames": int(count), "frames_per_second": call["video_framerate"], "soundtrack": False})
    return {"text": text.strip(), "input_tokens": int(input_ids.shape[1]), "output_tokens": int(new_ids.shape[1]),
            "notes": [], "media": media}
