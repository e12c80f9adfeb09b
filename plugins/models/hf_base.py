"""What transformers-based multimodal adapters share: resolving `builtin:` tiny checkpoints, loading the
processor and the model class with the card's dtype / device_map / attention / remote-code settings,
generating greedily, and counting tokens. Each family adapter supplies only how its processor wants a
request (`processor_inputs`) and how its tiny pipeline-check model is built (`build_tiny`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from aurelia_harness.config import default_cache_dir
from aurelia_harness.media import VideoSpec
from aurelia_harness.models import MediaReceipt, ModelAdapter, conversation
from aurelia_harness.types import Reply, Request, TextPart, VideoPart

TEMPLATES = Path(__file__).parent / "templates"
# The media receipt of the request being prepared, written by the handlers as they hand media over. A
# context variable, so that `processor_inputs` keeps its signature (scripts and tests call it on its own).
_RECEIPT: contextvars.ContextVar = contextvars.ContextVar("avharness_media_receipt")


class _TokenIdWarnings(logging.Filter):
    """transformers checks every `*_token_id` of a config against its decoder's text vocabulary. That is
    wrong for ids of another vocabulary (Qwen2.5-Omni's talker text ids index the thinker's vocabulary) and
    for defaults a tiny pipeline-check config never uses: about eight lines of noise per run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "must be `None` or an integer within the vocabulary" not in record.getMessage()


@contextlib.contextmanager
def quiet_token_id_warnings():
    """While building or loading a model: transformers' config token-id range warnings are left out."""
    logger = logging.getLogger("transformers.configuration_utils")
    muted = _TokenIdWarnings()
    logger.addFilter(muted)
    try:
        yield
    finally:
        logger.removeFilter(muted)


def declared_video_kwargs(processor, **kwargs) -> dict:
    """Those of `kwargs` that the processor's video processor declares (an older transformers lacks some;
    an undeclared one would be warned about or refused)."""
    declared = getattr(getattr(getattr(processor, "video_processor", None), "valid_kwargs", None), "__annotations__", {})
    return {key: value for key, value in kwargs.items() if key in declared}


def chatml_template(parts: dict[str, str], system: str = "You are a helpful assistant.") -> str:
    """A ChatML chat template (the Qwen family's format) whose media parts render as the given markers."""
    branches = "".join(f"{{%- {'if' if i == 0 else 'elif'} part['type'] == '{kind}' -%}}{marker}\n"
                       for i, (kind, marker) in enumerate(parts.items()))
    return ("{%- for message in messages -%}\n"
            "{%- if loop.first and message['role'] != 'system' -%}<|im_start|>system\n" + system + "<|im_end|>\n"
            "{% endif -%}\n"
            "<|im_start|>{{ message['role'] }}\n"
            "{% if message['content'] is string -%}{{ message['content'] }}{%- else -%}\n"
            "{%- for part in message['content'] -%}\n" + branches +
            "{%- elif part['type'] == 'text' -%}{{ part['text'] }}\n"
            "{%- endif -%}\n{%- endfor -%}\n{%- endif -%}<|im_end|>\n{% endfor -%}\n"
            "{%- if add_generation_prompt -%}<|im_start|>assistant\n{% endif -%}")


class HFMultimodalAdapter(ModelAdapter):
    model_class = ""  # the transformers class to load
    tiny_version = 1
    load_options: dict = {}  # extra from_pretrained arguments of the family
    media_defaults = {"frames": 16, "max_pixels": 360 * 420}  # under the card's [media]
    # One generate call for a batch of requests (prompts left-padded, media tensors concatenated). Families
    # whose processors' outputs cannot be concatenated per request, or whose batched outputs were not shown
    # equal to one-at-a-time outputs (tests/test_batching.py), set False and run one request at a time.
    batches = False

    def build_tiny(self, folder: Path) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def checkpoint_path(self) -> str:
        checkpoint = self.card.checkpoint
        if checkpoint.startswith("builtin:"):
            name = checkpoint[len("builtin:"):]
            with quiet_token_id_warnings():
                return str(self.build_tiny(default_cache_dir() / "models" / f"{name}-v{self.tiny_version}"))
        # a relative local folder (a project-trained model) is the card's neighbour, or the project's;
        # anything else (a hub id, an absolute path) is passed on as given
        if not Path(checkpoint).expanduser().is_absolute():
            project = Path(__file__).resolve().parents[2]
            for base in (Path(self.card.source).parent if self.card.source else None, project):
                if base is not None and (base / checkpoint).is_dir():
                    return str(base / checkpoint)
        return checkpoint

    def load(self) -> None:
        import torch
        import transformers
        from transformers import AutoProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        from aurelia_harness.hub import ensure_reachable

        checkpoint = self.checkpoint_path()
        ensure_reachable(checkpoint, self.card.revision)
        kwargs = {"revision": self.card.revision} if self.card.revision else {}
        if self.card.get("trust_remote_code"):  # the runner has checked that the user allows it
            kwargs["trust_remote_code"] = True
        with quiet_token_id_warnings():  # the processor loads the config too (for its tokenizer)
            self.processor = AutoProcessor.from_pretrained(checkpoint, **kwargs)
        load = dict(kwargs, dtype=getattr(torch, self.card.get("dtype", "bfloat16")), **self.load_options)
        # device_map spreads the model over this machine's GPUs (and CPU / disk); max_memory caps each device
        for key in ("attn_implementation", "device_map", "max_memory", "offload_folder"):
            if self.card.get(key):
                load[key] = self.card.get(key)
        with quiet_token_id_warnings():
            model = getattr(transformers, self.model_class).from_pretrained(checkpoint, **load)
        if not self.card.get("device_map"):
            model = model.to(self.device or "cpu")
        self.model = model.eval()
        self.audio_rate = self.policy.audio_rate
        self.loaded = True

    def spec_for(self, part: VideoPart) -> VideoSpec:
        """The media policy's decode spec for this video part (the card's budget, narrowed by hints)."""
        return self.policy.video_spec(part)

    def chat_text(self, text: str) -> dict:
        """Processor keyword arguments for a chat template's rendered text. A template that writes the BOS
        token itself (Gemma's starts with `{{ bos_token }}`) must not get a second one from a tokenizer that
        adds one (add_bos_token): the text is tokenized as it is then."""
        kwargs = {"text": [text]}
        tokenizer = getattr(self.processor, "tokenizer", None)
        bos = getattr(tokenizer, "bos_token", None)
        if bos and text.startswith(bos):
            kwargs["add_special_tokens"] = False
        return kwargs

    def even_frames(self, frames: np.ndarray) -> np.ndarray:
        """Qwen-style vision towers group frames in temporal pairs."""
        return np.concatenate([frames, frames[-1:]]) if len(frames) % 2 else frames

    def walk(self, request: Request, video=None, audio=None, image=None) -> list[dict]:
        """The request as the chat conversation a processor's template expects (see aurelia_harness.models).
        A card with `text_before_media = true` (a model trained that way) gets each turn's text before its
        media, so that the media tokens, read after the question, can be read for it."""
        if self.card.get("text_before_media"):
            request = dataclasses.replace(request, messages=tuple(
                dataclasses.replace(m, parts=tuple(sorted(m.parts, key=lambda p: not isinstance(p, TextPart))))
                for m in request.messages))
        return conversation(request, video, audio, image)

    @property
    def sent(self) -> MediaReceipt:
        """The receipt of the request being prepared (a throwaway one outside `prepare`)."""
        return _RECEIPT.get(None) or MediaReceipt()

    def fed_frames(self, frames: np.ndarray, clip, **extra) -> np.ndarray:
        """A video's frames as handed to the processor (clip: the decoded clip they come from, for their times),
        written into the receipt."""
        self.sent.frames(frames.shape, clip.timestamps, **extra)
        return frames

    def fed_audio(self, track, soundtrack: bool) -> np.ndarray:
        """An audio input's samples, written into the receipt; `soundtrack`: a video's own sound."""
        self.sent.sound(len(track.samples), track.rate, soundtrack)
        return track.samples

    def image_items(self, images: list):
        """Handler for image parts: decode into `images`, one image item."""
        def handle(part):
            images.append(self.media.image(part.path))
            self.sent.image()
            return [{"type": "image"}]
        return handle

    def audio_items(self, audio: list, notes: list):
        """Handler for audio parts: decode into `audio` (mono, the card's rate, cut to the model's audio limit
        with a note), one audio item."""
        def handle(part):
            audio.append(self.fed_audio(self.policy.clip(self.media, part.path, notes), soundtrack=False))
            return [{"type": "audio"}]
        return handle

    def frames_as_images(self, request: Request):
        """For models that see images but not video: each video as its sampled frames (images, with their
        times in the text) and its soundtrack as an audio input. Returns (conversation, images, audio, notes)."""
        images, audio, notes = [], [], []

        def video(part):
            clip, track = self.policy.video_and_soundtrack(self.media, part, notes, fed="frames only")
            times = ", ".join(f"{t:.1f}s" for t in clip.timestamps)
            images.extend(self.fed_frames(clip.frames, clip, as_images=True))
            items = [{"type": "text", "text": f"Frames of the video at {times}:"}] + [{"type": "image"}] * len(clip.frames)
            if track is not None:
                audio.append(self.fed_audio(track, soundtrack=True))
                items += [{"type": "text", "text": "The video's soundtrack:"}, {"type": "audio"}]
            return items

        conversation = self.walk(request, video, self.audio_items(audio, notes), self.image_items(images))
        return conversation, images, audio, notes

    def frames_as_images_inputs(self, request: Request, **template) -> tuple[dict, dict, list[str]]:
        """processor_inputs for a model that takes frames as images plus audio: the chat text (the processor's
        template, or `chat_template=`) with the images and audio clips the conversation names."""
        conversation, images, audio, notes = self.frames_as_images(request)
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False, **template)
        kwargs = self.chat_text(text)
        if images:
            kwargs["images"] = images
        if audio:
            kwargs["audio"] = audio
        return kwargs, {}, notes

    def processor_inputs(self, request: Request) -> tuple[dict, dict, list[str]]:  # pragma: no cover - interface
        """(processor kwargs, extra generate kwargs, notes) for one request."""
        raise NotImplementedError

    def prompt_text(self, request: Request) -> str:
        """The exact prompt text the processor receives (golden snapshots in tests)."""
        return self.processor_inputs(request)[0]["text"][0]

    def prepare(self, request: Request) -> dict:
        """Decode the media and run the processor (CPU work, done ahead of the model by the prefetch)."""
        sent = MediaReceipt()
        token = _RECEIPT.set(sent)
        try:
            kwargs, generate_kwargs, notes = self.processor_inputs(request)
        finally:
            _RECEIPT.reset(token)
        inputs = self.processor(**kwargs, return_tensors="pt")
        receipt = self.receipt(sent, generate_kwargs, inputs["input_ids"][0])
        return {"inputs": inputs, "generate_kwargs": generate_kwargs, "notes": notes, "receipt": receipt,
                "max_new_tokens": request.max_new_tokens}

    def generate_batch(self, prepared: list[dict]) -> list[Reply]:
        """One generate call for the whole batch where the family batches (`batches = True`) and the requests
        agree on their generation settings; otherwise one at a time."""
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(prepared):
            groups.setdefault(repr(sorted(item["generate_kwargs"].items())), []).append(i)
        replies: list = [None] * len(prepared)
        for members in groups.values():
            if self.batches and len(members) > 1:
                for i, reply in zip(members, self._generate([prepared[i] for i in members])):
                    replies[i] = reply
            else:
                for i in members:
                    replies[i] = self._generate([prepared[i]])[0]
        return replies

    def _generate(self, items: list[dict]) -> list[Reply]:
        import torch

        start = time.perf_counter()
        inputs = left_padded([item["inputs"] for item in items], self.pad_token_id())
        inputs = {k: v.to(self.model.device) for k, v in inputs.items()}
        for key, value in inputs.items():
            if torch.is_floating_point(value):
                inputs[key] = value.to(self.model.dtype)
        cap = self.card.get("generation.max_new_tokens_cap")
        budget = max(item["max_new_tokens"] for item in items)
        budget = min(budget, int(cap)) if cap else budget
        with torch.inference_mode():
            out = self.generator()(**inputs, **items[0]["generate_kwargs"], max_new_tokens=budget, do_sample=False)
        width = inputs["input_ids"].shape[1]
        elapsed = (time.perf_counter() - start) / len(items)
        replies = []
        for row, item in enumerate(items):
            new = out[row, width:][:item["max_new_tokens"]]
            text = self.processor.batch_decode(new[None], skip_special_tokens=True)[0]
            produced = int((new != self.pad_token_id()).sum()) if len(items) > 1 else int(new.numel())
            replies.append(Reply(text.strip(), input_tokens=int(item["inputs"]["input_ids"].shape[1]),
                                 output_tokens=produced, seconds=elapsed, notes=list(item["notes"]),
                                 media=item["receipt"]))
        return replies

    def pad_token_id(self) -> int:
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        pad = tokenizer.pad_token_id
        return int(pad if pad is not None else tokenizer.eos_token_id)

    def receipt(self, sent: MediaReceipt, generate_kwargs: dict, input_ids) -> dict:
        """What the model received: the media handed to the processor (per video its frames, their times and
        size; per audio input its seconds, rate and whether it is a video's soundtrack; images), and how many
        placeholder tokens of each kind the final input holds."""
        out = sent.to_json()
        if generate_kwargs.get("use_audio_in_video"):
            out["audio_in_video"] = True  # the soundtrack is interleaved with its video's frames
        tokens = {}
        tokenizer = getattr(self.processor, "tokenizer", None)
        for kind in ("video", "audio", "image"):
            token = getattr(self.processor, f"{kind}_token", None)
            token_id = tokenizer.convert_tokens_to_ids(token) if tokenizer is not None and isinstance(token, str) else None
            if isinstance(token_id, int) and token_id >= 0:
                tokens[kind] = int((input_ids == token_id).sum())
        out["tokens"] = tokens
        return out

    def generator(self):
        return self.model.generate

    def close(self) -> None:
        self.model = None
        self.processor = None
        super().close()


def left_padded(batch: list, pad_id: int) -> dict:
    """Processor outputs of several requests as one batch: per-token tensors (token ids, masks, token types:
    shaped (1, prompt length)) left-padded to one width — the side decoder-only generation needs — and every
    other tensor (pixels, grids, audio features) concatenated along its first dimension, in request order,
    from the requests that have it."""
    import torch

    if len(batch) == 1:
        return dict(batch[0])
    width = max(b["input_ids"].shape[1] for b in batch)
    keys = list(dict.fromkeys(k for b in batch for k in b.keys()))
    out = {}
    for key in keys:
        per_token = all(key in b and b[key].dim() >= 2 and b[key].shape[:2] == b["input_ids"].shape for b in batch)
        if per_token:
            fill = pad_id if key == "input_ids" else 0
            out[key] = torch.cat([torch.nn.functional.pad(b[key], (0, 0) * (b[key].dim() - 2) +
                                                          (width - b[key].shape[1], 0), value=fill) for b in batch])
        else:
            out[key] = torch.cat([b[key] for b in batch if key in b], dim=0)
    if "attention_mask" not in out:
        out["attention_mask"] = (out["input_ids"] != pad_id).long()
    return out
