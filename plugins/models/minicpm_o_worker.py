"""MiniCPM-o 2.6, worker side. Runs in the model's own pinned environment (its hub code needs transformers
4.44), started by isolated_worker.py; imports nothing from avharness.

It calls the model the way its hub card documents: `AutoModel.from_pretrained(..., trust_remote_code=True,
init_vision=True, init_audio=True, init_tts=False)` (text answers only, so no speech decoder) and
`model.chat(msgs=..., tokenizer=...)`. A video with its soundtrack becomes the card's omni input: a
"<unit>" marker, one frame and its stretch of the soundtrack, per sampled frame, with
`omni_input=True` and the model's own omni system prompt (the TTS template, which the hub card's omni example
sets for spoken answers, stays off unless the card's [worker] use_tts_template says otherwise: answers here
are text). A video without sound is its frames as images. The card's video settings (`max_slice_nums`,
`use_image_id`, as the hub card's omni and video examples pass them) apply to requests with a video;
image-only requests get the model's own image defaults, as the hub card's image example calls `chat`.
Audio clips are 16 kHz arrays, images are images, text is text.
"""

from __future__ import annotations



def units(frames, soundtrack, rate=16000, unit_seconds=None):
    """[("<unit>", frame_k, stretch_k), ...]. With `unit_seconds` (one frame per interval, the hub card's
    recipe at one unit per second), stretch k is exactly the k-th interval of the soundtrack, [k, k+1) x
    unit_seconds; the last may be shorter. Otherwise the soundtrack is cut into as many equal stretches as
    there are frames, paired in order (frames spread from the first to the last moment: frame k lies in
    stretch k)."""
    n, length = len(frames), len(soundtrack)
    if unit_seconds:
        step = unit_seconds * rate
        bounds = [(int(round(k * step)), int(round((k + 1) * step))) for k in range(n)]
    else:
        bounds = [(k * length // n, (k + 1) * length // n) for k in range(n)]
    return [("<unit>", frame, soundtrack[a:b]) for frame, (a, b) in zip(frames, bounds)]


def to_msgs(messages, array, image, audio):
    """The harness's messages as MiniCPM-o chat `msgs`, and whether this is omni input. `array(file)` loads a
    saved array; `image(frame)` and `audio(samples)` make the model's input objects (or, for a review
    snapshot, descriptions of them)."""
    msgs, omni = [], False
    for message in messages:
        content = []
        for item in message["content"]:
            kind = item["type"]
            if kind == "text":
                content.append(item["text"])
            elif kind == "image":
                content.append(image(array(item["file"])))
            elif kind == "audio":
                content.append(audio(array(item["file"])))
            elif kind == "video":
                frames = array(item["frames"])
                if item.get("soundtrack"):
                    omni = True
                    for marker, frame, samples in units(frames, array(item["soundtrack"]), item.get("rate", 16000),
                                                        item.get("unit_seconds")):
                        content.extend([marker, image(frame), audio(samples)])
                else:
                    content.extend(image(frame) for frame in frames)
            else:
                raise ValueError(f"unknown content item {kind!r}")
        if message["role"] == "system":
            msgs.append({"role": "system", "content": ["\n".join(c for c in content if isinstance(c, str))]})
        else:
            msgs.append({"role": message["role"], "content": content})
    return msgs, omni


def with_system_prompt(msgs, omni, system_prompt):
    """Omni input opens with the model's own omni system prompt unless the request brings a system message."""
    if omni and not any(m["role"] == "system" for m in msgs):
        return [system_prompt()] + msgs
    return msgs


def chat_settings(messages, options):
    """The card's video settings for a request with a video; none (the model's defaults) without one."""
    has_video = any(item["type"] == "video" for m in messages for item in m["content"])
    settings = {"max_slice_nums": int(options.get("max_slice_nums", 1)),
                "use_image_id": bool(options.get("use_image_id", False))} if has_video else {}
    settings.update({k: options[k] for k in ("num_beams", "repetition_penalty") if k in options})
    return settings


def load(options):
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    common = {"trust_remote_code": options["trust_remote_code"]}
    if options.get("revision"):
        common["revision"] = options["revision"]
    kwargs = dict(common, init_vision=True, init_audio=True, init_tts=False,
                  attn_implementation=options.get("attn_implementation") or "sdpa")
    # the dtype argument was renamed in transformers 5
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs[dtype_key] = getattr(torch, options["dtype"])
    if options.get("device_map"):
        kwargs["device_map"] = options["device_map"]
    model = AutoModel.from_pretrained(options["checkpoint"], **kwargs)
    if not options.get("device_map"):
        model = model.to(options["device"])
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(options["checkpoint"], **common)
    return {"model": model, "tokenizer": tokenizer, "options": options.get("model", {})}, {}


def generate(state, messages, max_new_tokens):
    import numpy as np
    import torch
    from PIL import Image

    model, tokenizer, options = state["model"], state["tokenizer"], state["options"]
    msgs, omni = to_msgs(messages, np.load, lambda frame: Image.fromarray(frame).convert("RGB"),
                         lambda samples: np.asarray(samples, dtype=np.float32))
    msgs = with_system_prompt(msgs, omni, lambda: model.get_sys_prompt(mode="omni",
                                                                        language=options.get("language", "en")))
    with torch.inference_mode():
        result = model.chat(msgs=msgs, tokenizer=tokenizer, sampling=False, max_new_tokens=max_new_tokens,
                            omni_input=omni, use_tts_template=bool(options.get("use_tts_template", False)),
                            generate_audio=False, return_dict=True, **chat_settings(messages, options))
    text = getattr(result, "text", None)
    if text is None:
        text = result["text"] if isinstance(result, dict) else str(result)
    # the chat API returns text only: output tokens are counted by re-tokenising the answer
    return {"text": text, "input_tokens": 0, "output_tokens": len(tokenizer.encode(text, add_special_tokens=False)),
            "notes": []}
