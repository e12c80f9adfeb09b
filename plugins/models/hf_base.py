"""What transformers-based multimodal adapters share: resolving `builtin:` tiny checkpoints, loading the
processor and the model class with the card's dtype / device_map / attention / remote-code settings,
generating greedily, and counting tokens. Each family adapter supplies only how its processor wants a
request (`processor_inputs`) and how its tiny pipeline-check model is built (`build_tiny`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np

from aurelia_harness.config import default_cache_dir
from aurelia_harness.media import VideoSpec
from aurelia_harness.models import ModelAdapter, conversation
from aurelia_harness.types import Reply, Request, VideoPart

TEMPLATES = Path(__file__).parent / "templates"


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

    def build_tiny(self, folder: Path) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def checkpoint_path(self) -> str:
        checkpoint = self.card.checkpoint
        if checkpoint.startswith("builtin:"):
            name = checkpoint[len("builtin:"):]
            with quiet_token_id_warnings():
                return str(self.build_tiny(default_cache_dir() / "models" / f"{name}-v{self.tiny_version}"))
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

    # the request as the chat conversation a processor's template expects (see aurelia_harness.models)
    walk = staticmethod(conversation)

    def image_items(self, images: list):
        """Handler for image parts: decode into `images`, one image item."""
        def handle(part):
            images.append(self.media.image(part.path))
            return [{"type": "image"}]
        return handle

    def audio_items(self, audio: list, notes: list):
        """Handler for audio parts: decode into `audio` (mono, the card's rate, cut to the model's audio limit
        with a note), one audio item."""
        def handle(part):
            audio.append(self.policy.clip(self.media, part.path, notes).samples)
            return [{"type": "audio"}]
        return handle

    def frames_as_images(self, request: Request):
        """For models that see images but not video: each video as its sampled frames (images, with their
        times in the text) and its soundtrack as an audio input. Returns (conversation, images, audio, notes)."""
        images, audio, notes = [], [], []

        def video(part):
            clip = self.policy.video(self.media, part, notes)
            times = ", ".join(f"{t:.1f}s" for t in clip.timestamps)
            images.extend(clip.frames)
            items = [{"type": "text", "text": f"Frames of the video at {times}:"}] + [{"type": "image"}] * len(clip.frames)
            track = self.policy.soundtrack(self.media, part, notes, fed="frames only")
            if track is not None:
                audio.append(track.samples)
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

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        import torch

        start = time.perf_counter()
        kwargs, generate_kwargs, notes = self.processor_inputs(request)
        inputs = self.processor(**kwargs, return_tensors="pt").to(self.model.device)
        for key, value in inputs.items():
            if torch.is_floating_point(value):
                inputs[key] = value.to(self.model.dtype)
        cap = self.card.get("generation.max_new_tokens_cap")
        budget = min(request.max_new_tokens, int(cap)) if cap else request.max_new_tokens
        with torch.inference_mode():
            out = self.generator()(**inputs, **generate_kwargs, max_new_tokens=budget, do_sample=False)
        prompt_len = inputs["input_ids"].shape[1]
        new = out[0, prompt_len:]
        text = self.processor.batch_decode(new[None], skip_special_tokens=True)[0]
        return Reply(text.strip(), input_tokens=int(prompt_len), output_tokens=int(new.numel()),
                     seconds=time.perf_counter() - start, notes=notes)

    def generator(self):
        return self.model.generate

    def close(self) -> None:
        self.model = None
        self.processor = None
        super().close()
