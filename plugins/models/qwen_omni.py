"""Qwen2.5-Omni adapter (thinker only: text out).

Feeds sampled video frames AND the video's own soundtrack (the processor interleaves audio and video
tokens in 2-second chunks when `load_audio_from_video` is on), plus any separate audio clips and images,
through the model's own processor and chat template. Frames are sampled and resized on uint8 by the
harness's media layer (cached) to the card's frame and pixel budget before the processor sees them; the
processor then fits each frame between the card's `min_pixels` and `max_pixels` (its own defaults where
the card names none), as the authors' loader (qwen-omni-utils) does, and `total_pixels` bounds the whole
video as that loader does.

System prompt: Qwen2.5-Omni gets its persona prompt (the authors' and lmms-eval's default); Qwen3-Omni
none ("No system prompt should be set for any evaluation benchmark", Qwen3-Omni README). A card's
`system_prompt` replaces either ("" for none).

`builtin:tiny-qwen2.5-omni` builds the same architecture from a shrunk config with random weights and an
offline byte-level tokenizer: a pipeline check, not a model.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request

from .hf_base import HFMultimodalAdapter, declared_video_kwargs

TINY_VERSION = 1
DEFAULT_SYSTEM = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of "
                  "perceiving auditory and visual inputs, as well as generating text and speech.")
SPECIAL_TOKENS = {"image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
                  "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
                  "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}


def build_tiny(folder: Path) -> Path:
    """Write a tiny random Qwen2.5-Omni (processor + weights) to folder, once; return the folder."""
    from avharness_plugins.models.tiny import build_once, byte_vocab

    with build_once(folder) as tmp:
        if tmp is None:
            return folder
        import torch
        from transformers import (Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor,
                                  Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen2VLVideoProcessor,
                                  WhisperFeatureExtractor)

        vocab = byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *SPECIAL_TOKENS.values()])
        tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None,
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   extra_special_tokens=dict(SPECIAL_TOKENS))
        template = (Path(__file__).parent / "templates" / "qwen_omni_tiny.jinja").read_text()
        processor = Qwen2_5OmniProcessor(image_processor=Qwen2VLImageProcessor(),
                                         video_processor=Qwen2VLVideoProcessor(),
                                         feature_extractor=WhisperFeatureExtractor(feature_size=128),
                                         tokenizer=tokenizer, chat_template=template)
        processor.save_pretrained(tmp)
        ids = {k: vocab[v] for k, v in SPECIAL_TOKENS.items()}
        thinker = dict(
            audio_config=dict(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                              d_model=16, output_dim=32),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                               fullatt_block_indexes=[0]),
            text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                             rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                             eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"]),
            audio_token_index=ids["audio_token"], image_token_index=ids["image_token"],
            video_token_index=ids["video_token"], audio_start_token_id=ids["audio_bos_token"],
            audio_end_token_id=ids["audio_eos_token"], vision_start_token_id=ids["vision_bos_token"])
        # the talker is not built (no audio output) but its config is still validated: keep its ids in range
        talker = dict(tts_text_start_token_id=1, tts_text_end_token_id=2, tts_text_pad_token_id=0,
                      vision_start_token_id=3, vision_end_token_id=4, audio_start_token_id=5,
                      audio_end_token_id=6)
        config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker, enable_audio_output=False)
        torch.manual_seed(0)
        model = Qwen2_5OmniForConditionalGeneration(config).eval()
        model.save_pretrained(tmp)
        torch.save({}, tmp / "spk_dict.pt")  # from_pretrained insists on a speaker table; no voices here
    return folder


class QwenOmniAdapter(HFMultimodalAdapter):
    """Qwen2.5-Omni; Qwen3-Omni (below) differs only in its classes and its tiny build."""
    batches = True  # left-padded batches answer token for token as single requests (tests/test_batching.py)

    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=1)
    model_class = "Qwen2_5OmniForConditionalGeneration"
    tiny_version = TINY_VERSION
    load_options = {"enable_audio_output": False}  # text out: the speech talker is not built

    default_system = DEFAULT_SYSTEM

    def build_tiny(self, folder: Path) -> Path:
        return build_tiny(folder)

    def chunk_seconds(self) -> int | None:
        """The seconds of each audio/video interleave chunk. The model's position ids are computed with its
        config's `seconds_per_chunk` and the processor's placeholders with its own (2 s unless told), so the
        processor gets the checkpoint's value. Before a model is loaded (a training script's request
        path), `self.seconds_per_chunk` stands in for it; None: the processor's default."""
        model = getattr(self, "model", None)
        thinker = getattr(getattr(model, "config", None), "thinker_config", None)
        return getattr(thinker, "seconds_per_chunk", None) or getattr(self, "seconds_per_chunk", None)

    def pixel_bounds(self, frames: int) -> dict:
        """The processor's per-frame pixel bounds: the card's, else the processor's own defaults; with
        `total_pixels`, the upper bound shrinks so that the whole video stays within it (qwen-omni-utils:
        at most total / frames x 2 per frame, at least 1.05 x the lower bound)."""
        defaults = getattr(type(self.processor), "videos_kwargs", {}).get("size", {})
        high = self.policy.max_pixels or defaults.get("longest_edge")
        low = self.policy.min_pixels or defaults.get("shortest_edge")
        total = self.policy.extra.get("total_pixels")
        if total and high:
            high = max(min(high, int(total / max(frames, 1) * 2)), int((low or 0) * 1.05))
        if low and high:
            low = min(low, high)  # a lower bound above the upper one would enlarge every frame past it
        return {"shortest_edge": low, "longest_edge": high}

    # -- request -> processor inputs -------------------------------------------------------------
    def build_inputs(self, request: Request):
        """Conversation, media arrays and notes for one request (the only model-specific step)."""
        videos, fps, images, audio, audio_slots, notes = [], [], [], [], [], []

        def video(part):
            clip, track = self.policy.video_and_soundtrack(self.media, part, notes)
            videos.append(self.fed_frames(self.even_frames(clip.frames), clip))
            fps.append(clip.sampled_fps)
            if track is not None:  # the processor interleaves it with this video's frames
                audio.append(self.fed_audio(track, soundtrack=True))
                audio_slots.append(len(videos) - 1)
            return [{"type": "video"}]

        def clip_audio(part):
            audio.append(self.fed_audio(self.policy.clip(self.media, part.path, notes), soundtrack=False))
            audio_slots.append(None)
            return [{"type": "audio"}]

        conversation = self.walk(request, video, clip_audio, self.image_items(images))
        system = self.card.get("system_prompt", self.default_system)
        if system and not any(m.role == "system" for m in request.messages):
            conversation.insert(0, {"role": "system", "content": [{"type": "text", "text": system}]})
        return conversation, videos, fps, images, audio, audio_slots, notes

    def processor_inputs(self, request: Request):
        conversation, videos, fps, images, audio, slots, notes = self.build_inputs(request)
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        from_video = any(s is not None for s in slots)
        kwargs = self.chat_text(text)
        if images:
            kwargs["images"] = images
        if videos:
            kwargs["videos"] = videos
            # cap_pixels_per_frame: the authors' qwen-omni-utils bound on a whole video's pixels (90% of 128,000
            # tokens' worth, shared by its frames), on top of pixel_bounds' (the card's `total_pixels`);
            # transformers 5.x leaves it off unless asked, and warns
            kwargs["videos_kwargs"] = {"fps": fps[0], "do_sample_frames": False,
                                       "size": self.pixel_bounds(max(len(v) for v in videos)),
                                       **declared_video_kwargs(self.processor, cap_pixels_per_frame=True)}
        if audio:
            kwargs["audio"] = audio
        if from_video:  # the processor interleaves each video's soundtrack with its frames, in chunks
            kwargs["load_audio_from_video"] = True
            kwargs["audio_from_video_indices"] = slots
            chunk = self.chunk_seconds()
            if chunk:  # (the config types it as int, the processor's kwargs as float)
                kwargs["seconds_per_chunk"] = float(chunk)
        return kwargs, {"use_audio_in_video": from_video}, notes

    def generator(self):
        return self.model.thinker.generate  # the thinker writes text; the top-level generate wants the talker


QWEN3_TINY_VERSION = 2  # 2: its tiny template adds no system turn of its own (the golden shows what we send)


def build_tiny_qwen3(folder: Path) -> Path:
    """A tiny random Qwen3-Omni (MoE thinker, no talker) with an offline tokenizer, built once."""
    from avharness_plugins.models.tiny import build_once, byte_vocab

    with build_once(folder) as tmp:
        if tmp is None:
            return folder
        import torch
        from transformers import (Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, Qwen3OmniMoeConfig,
                                  Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeProcessor, WhisperFeatureExtractor)

        vocab = byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *SPECIAL_TOKENS.values()])
        tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", extra_special_tokens=dict(SPECIAL_TOKENS))
        template = (Path(__file__).parent / "templates" / "qwen3_omni_tiny.jinja").read_text()
        Qwen3OmniMoeProcessor(image_processor=Qwen2VLImageProcessor(patch_size=16),
                              video_processor=Qwen2VLVideoProcessor(patch_size=16),
                              feature_extractor=WhisperFeatureExtractor(feature_size=128),
                              tokenizer=tokenizer, chat_template=template).save_pretrained(tmp)
        ids = {k: vocab[v] for k, v in SPECIAL_TOKENS.items()}
        thinker = dict(
            audio_config=dict(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                              d_model=16, output_dim=32, downsample_hidden_size=8),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                               patch_size=16, deepstack_visual_indexes=[0]),
            text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, head_dim=16, moe_intermediate_size=16,
                             num_experts=4, num_experts_per_tok=2, max_position_embeddings=8192,
                             rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3],
                                              "interleaved": True},
                             eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"]),
            audio_token_id=ids["audio_token"], image_token_id=ids["image_token"], video_token_id=ids["video_token"],
            audio_start_token_id=ids["audio_bos_token"], vision_start_token_id=ids["vision_bos_token"])
        config = Qwen3OmniMoeConfig(thinker_config=thinker, enable_audio_output=False)
        torch.manual_seed(0)
        Qwen3OmniMoeForConditionalGeneration(config).eval().save_pretrained(tmp)
    return folder


class Qwen3OmniAdapter(QwenOmniAdapter):
    """Qwen3-Omni (MoE thinker, text out): the same request path as Qwen2.5-Omni through its own processor."""

    model_class = "Qwen3OmniMoeForConditionalGeneration"
    tiny_version = QWEN3_TINY_VERSION
    default_system = ""  # the authors' evaluation setting: no system prompt for any benchmark

    def build_tiny(self, folder: Path) -> Path:
        return build_tiny_qwen3(folder)


@hookimpl
def register_model_adapters(register):
    register("qwen-omni", QwenOmniAdapter)
    register("qwen3-omni", Qwen3OmniAdapter)
