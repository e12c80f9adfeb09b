"""Single-modality references that audio-visual papers compare against: Qwen2.5-VL (sees, does not hear)
and Qwen2-Audio (hears, does not see).

Adapting what they cannot take, never silently: Qwen2.5-VL gets a video's frames and a note that its
soundtrack was not fed; separate audio clips are refused (per-sample error). Qwen2-Audio gets a video's
soundtrack in place of the video, with a note that the frames were not fed; images are refused.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request, VideoPart

from .hf_base import HFMultimodalAdapter, chatml_template, declared_video_kwargs


class QwenVLAdapter(HFMultimodalAdapter):
    batches = True  # left-padded batches answer token for token as single requests (tests/test_batching.py)
    model_class = "Qwen2_5_VLForConditionalGeneration"
    accepts = Accepts(video=True, audio=False, image=True, max_audio_items=0,
                      max_video_items=4)

    def build_tiny(self, folder: Path) -> Path:
        from avharness_plugins.models.tiny import build_once, qwen_style_tokenizer

        with build_once(folder) as tmp:
            if tmp is None:
                return folder
            import torch
            from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                                      Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

            specials = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                        "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}
            tokenizer, vocab = qwen_style_tokenizer(specials)
            template = chatml_template({"video": "<|vision_start|><|video_pad|><|vision_end|>",
                                        "image": "<|vision_start|><|image_pad|><|vision_end|>"})
            Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                                tokenizer=tokenizer, chat_template=template).save_pretrained(tmp)
            config = Qwen2_5_VLConfig(
                text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                                 rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                                 eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"]),
                vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                                   fullatt_block_indexes=[0]),
                image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
                vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
            torch.manual_seed(0)
            Qwen2_5_VLForConditionalGeneration(config).eval().save_pretrained(tmp)
        return folder

    def processor_inputs(self, request: Request):
        videos, fps, images, notes = [], [], [], []

        def video(part):
            clip = self.policy.video(self.media, part, notes)
            videos.append(self.fed_frames(self.even_frames(clip.frames), clip))
            fps.append(clip.sampled_fps)
            if part.with_audio:
                notes.append(f"{part.path.name}: soundtrack not fed ({self.card.name} takes no audio)")
            return [{"type": "video"}]

        conversation = self.walk(request, video=video, image=self.image_items(images))
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        kwargs = self.chat_text(text)
        if videos:
            kwargs["videos"] = videos
            low = self.policy.min_pixels or 4 * 28 * 28
            # cap_pixels_per_frame: qwen-vl-utils' bound on a whole video's pixels (90% of 128,000 tokens' worth,
            # shared by its frames); transformers 5.x leaves it off unless asked, and warns
            kwargs["videos_kwargs"] = {"fps": fps[0], "do_sample_frames": False,
                                       "size": {"shortest_edge": low, "longest_edge": self.policy.max_pixels},
                                       **declared_video_kwargs(self.processor, cap_pixels_per_frame=True)}
        if images:
            kwargs["images"] = images
        return kwargs, {}, notes


class QwenAudioAdapter(HFMultimodalAdapter):
    model_class = "Qwen2AudioForConditionalGeneration"
    accepts = Accepts(video=True, audio=True, image=False, max_audio_items=8,
                      max_video_items=4)

    def build_tiny(self, folder: Path) -> Path:
        from avharness_plugins.models.tiny import build_once, qwen_style_tokenizer

        with build_once(folder) as tmp:
            if tmp is None:
                return folder
            import torch
            from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                                      WhisperFeatureExtractor)

            specials = {"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>",
                        "audio_eos_token": "<|audio_eos|>"}
            tokenizer, vocab = qwen_style_tokenizer(specials)
            Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128),
                                tokenizer=tokenizer).save_pretrained(tmp)
            config = Qwen2AudioConfig(
                audio_config=dict(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
                                  d_model=16),
                text_config=dict(model_type="qwen2", vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=8192, eos_token_id=vocab["<|im_end|>"],
                                 pad_token_id=vocab["<|endoftext|>"]),
                audio_token_index=vocab["<|AUDIO|>"])
            torch.manual_seed(0)
            Qwen2AudioForConditionalGeneration(config).eval().save_pretrained(tmp)
        return folder

    def processor_inputs(self, request: Request):
        audio, notes = [], []

        def hear(part):
            if isinstance(part, VideoPart):
                track = self.policy.soundtrack(self.media, part, [])
                if track is None:
                    raise ValueError(f"{part.path.name}: nothing {self.card.name} can take (it hears only, "
                                     "and this video has no soundtrack to give it)")
                notes.append(f"{part.path.name}: frames not fed ({self.card.name} hears only); its soundtrack was")
            else:
                track = self.policy.clip(self.media, part.path, notes)
            audio.append(self.fed_audio(track, soundtrack=isinstance(part, VideoPart)))
            return [{"type": "audio", "audio_url": part.path.name}]

        conversation = self.walk(request, video=hear, audio=hear)
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        kwargs = self.chat_text(text)
        if audio:
            kwargs["audio"] = audio
            kwargs["sampling_rate"] = self.audio_rate
        return kwargs, {}, notes


@hookimpl
def register_model_adapters(register):
    register("qwen-vl", QwenVLAdapter)
    register("qwen-audio", QwenAudioAdapter)
