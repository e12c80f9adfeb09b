"""Gemma 4: takes video natively (sampled frames with their timestamps, which its processor writes into the
prompt), audio and images. A video's soundtrack goes in as an audio input right after the video; the
feature extractor keeps at most 30 s of audio (`max_length` 480,000 samples at 16 kHz), so the cards cut it
there themselves (`audio_max_seconds`) and the record says so.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request

from .hf_base import HFMultimodalAdapter

TINY_TEMPLATE = ("{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
                 "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
                 "{% if p['type'] == 'image' %}<|image|>{% elif p['type'] == 'audio' %}<|audio|>"
                 "{% elif p['type'] == 'video' %}<|video|>{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}"
                 "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
                 "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


class Gemma4Adapter(HFMultimodalAdapter):
    # the processor's own video default (Gemma4VideoProcessor.num_frames) and the audio extractor's limit
    media_defaults = {**HFMultimodalAdapter.media_defaults, "frames": 32, "audio_max_seconds": 30}
    model_class = "Gemma4ForConditionalGeneration"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=2)

    def build_tiny(self, folder: Path) -> Path:
        from avharness_plugins.models.tiny import build_once, byte_vocab

        with build_once(folder) as tmp:
            if tmp is None:
                return folder
            import torch
            from transformers import (Gemma4AudioFeatureExtractor, Gemma4Config, Gemma4ForConditionalGeneration,
                                      Gemma4ImageProcessor, Gemma4Processor, Gemma4VideoProcessor, Qwen2Tokenizer)

            specials = {"image_token": "<|image|>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                        "audio_token": "<|audio|>", "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>"}
            vocab = byte_vocab(["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", *specials.values(), "<|video|>"])
            tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token="<bos>",
                                       eos_token="<end_of_turn>", pad_token="<pad>", extra_special_tokens=specials)
            Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=Gemma4ImageProcessor(),
                            tokenizer=tokenizer, video_processor=Gemma4VideoProcessor(),
                            chat_template=TINY_TEMPLATE).save_pretrained(tmp)
            config = Gemma4Config(
                text_config=dict(vocab_size=len(vocab), vocab_size_per_layer_input=len(vocab), hidden_size=32,
                                 hidden_size_per_layer_input=8, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                 layer_types=["sliding_attention", "full_attention"], max_position_embeddings=8192,
                                 pad_token_id=vocab["<pad>"], eos_token_id=vocab["<end_of_turn>"], bos_token_id=vocab["<bos>"]),
                vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=2, head_dim=8),
                # the first subsampling width must equal the 128 mel bins the audio projection is sized from
                audio_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  subsampling_conv_channels=[128, 8], output_proj_dims=16),
                boi_token_id=vocab["<start_of_image>"], eoi_token_id=vocab["<end_of_image>"],
                image_token_id=vocab["<|image|>"], video_token_id=vocab["<|video|>"],
                boa_token_id=vocab["<start_of_audio>"], eoa_token_index=vocab["<end_of_audio>"],
                audio_token_id=vocab["<|audio|>"])
            torch.manual_seed(0)
            Gemma4ForConditionalGeneration(config).eval().save_pretrained(tmp)
        return folder


    def processor_inputs(self, request: Request):
        from transformers.video_utils import VideoMetadata

        videos, metadata, images, audio, notes = [], [], [], [], []

        def video(part):
            clip, track = self.policy.video_and_soundtrack(self.media, part, notes)
            videos.append(self.fed_frames(clip.frames, clip))
            # the processor prints each frame's time from fps and frame index: millisecond indices keep ours exact
            metadata.append(VideoMetadata(total_num_frames=int(clip.info.get("source_frames", len(clip.frames))),
                                          fps=1000.0, width=clip.frames.shape[2], height=clip.frames.shape[1],
                                          frames_indices=[int(round(t * 1000)) for t in clip.timestamps]))
            items = [{"type": "video"}]
            if track is not None:
                audio.append(self.fed_audio(track, soundtrack=True))
                items.append({"type": "audio"})
            return items

        conversation = self.walk(request, video, self.audio_items(audio, notes), self.image_items(images))
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        kwargs = self.chat_text(text)
        if videos:
            kwargs["videos"] = videos
            kwargs["videos_kwargs"] = {"video_metadata": metadata, "do_sample_frames": False}
        if images:
            kwargs["images"] = images
        if audio:
            kwargs["audio"] = audio
        return kwargs, {}, notes

    def prompt_text(self, request: Request) -> str:
        """The prompt after the processor writes in the frame times (what the model reads)."""
        kwargs, _, _ = self.processor_inputs(request)
        ids = self.processor(**kwargs, return_tensors="pt")["input_ids"][0]
        text = self.processor.tokenizer.decode(ids)
        for token in ("<|video|>", "<|audio|>", "<|image|>"):  # the soft-token runs, shortened for review
            while token * 2 in text:
                text = text.replace(token * 2, token)
        return text


@hookimpl
def register_model_adapters(register):
    register("gemma4", Gemma4Adapter)
