"""Gemma 3n: sees images and hears audio, no native video input; a video is given as its sampled frames (as
images, with their times in the text) plus its soundtrack as an audio input, as the model card's examples
pass images and audio. Its feature extractor keeps at most 30 s of audio (`max_length` 480,000 samples at
16 kHz): longer audio is cut there, with a note on the record.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request

from .hf_base import HFMultimodalAdapter

TINY_TEMPLATE = ("{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
                 "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
                 "{% if p['type'] == 'image' %}<image_soft_token>{% elif p['type'] == 'audio' %}<audio_soft_token>"
                 "{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_turn>\n"
                 "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def tiny_vocab(text_size: int = 300) -> dict[str, int]:
    """Byte tokens and Gemma's turn/media markers, then the vision and audio id ranges Gemma 3n expects
    right after the text vocabulary (end-of-image and the image soft token open the vision range, etc.)."""
    from avharness_plugins.models.tiny import byte_to_unicode

    vocab = {ch: i for i, ch in enumerate(byte_to_unicode().values())}
    for token in ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<start_of_audio>"):
        vocab[token] = len(vocab)
    while len(vocab) < text_size:
        vocab[f"<unused{len(vocab)}>"] = len(vocab)
    for (close, soft), kind, end in ((("<end_of_image>", "<image_soft_token>"), "vision", text_size + 128),
                                     (("<end_of_audio>", "<audio_soft_token>"), "audio", text_size + 256)):
        vocab[close], vocab[soft] = len(vocab), len(vocab) + 1
        while len(vocab) < end:
            vocab[f"<{kind}{len(vocab)}>"] = len(vocab)
    return vocab


class Gemma3nAdapter(HFMultimodalAdapter):
    media_defaults = {**HFMultimodalAdapter.media_defaults, "frames": 8, "audio_max_seconds": 30}
    model_class = "Gemma3nForConditionalGeneration"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=2)

    def build_tiny(self, folder: Path) -> Path:
        from avharness_plugins.models.tiny import build_once

        with build_once(folder) as tmp:
            if tmp is None:
                return folder
            import torch
            from transformers import (Gemma3nAudioFeatureExtractor, Gemma3nConfig, Gemma3nForConditionalGeneration,
                                      Gemma3nProcessor, Qwen2Tokenizer, SiglipImageProcessor)

            text_size = 300
            vocab = tiny_vocab(text_size)
            specials = {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
                        "eoi_token": "<end_of_image>", "audio_token": "<audio_soft_token>",
                        "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>"}
            tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token="<bos>",
                                       eos_token="<end_of_turn>", pad_token="<pad>", extra_special_tokens=specials)
            Gemma3nProcessor(feature_extractor=Gemma3nAudioFeatureExtractor(),
                             image_processor=SiglipImageProcessor(size={"height": 768, "width": 768}),
                             tokenizer=tokenizer, chat_template=TINY_TEMPLATE).save_pretrained(tmp)
            config = Gemma3nConfig(
                text_config=dict(vocab_size=text_size + 256, vocab_size_per_layer_input=text_size, hidden_size=32,
                                 hidden_size_per_layer_input=8, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=1, head_dim=16, num_kv_shared_layers=0,
                                 laurel_rank=4, altup_num_inputs=2, layer_types=["sliding_attention", "full_attention"],
                                 activation_sparsity_pattern=[0.0, 0.0], max_position_embeddings=8192,
                                 pad_token_id=vocab["<pad>"], eos_token_id=vocab["<end_of_turn>"], bos_token_id=vocab["<bos>"]),
                # the real MobileNetV5 encoder, channels scaled down (its output stays 2048 wide)
                vision_config=dict(architecture="mobilenetv5_300m_enc", model_args={"channel_multiplier": 0.0625},
                                   hidden_size=2048, vocab_size=128, vocab_offset=text_size),
                audio_config=dict(vocab_size=128, vocab_offset=text_size + 128, hidden_size=32,
                                  conf_num_attention_heads=2, conf_num_hidden_layers=1, sscp_conv_channel_size=[8, 8]),
                boi_token_id=vocab["<start_of_image>"], eoi_token_id=vocab["<end_of_image>"],
                image_token_id=vocab["<image_soft_token>"], boa_token_id=vocab["<start_of_audio>"],
                eoa_token_id=vocab["<end_of_audio>"], audio_token_id=vocab["<audio_soft_token>"])
            torch.manual_seed(0)
            Gemma3nForConditionalGeneration(config).eval().save_pretrained(tmp)
        return folder


    def processor_inputs(self, request: Request):
        return self.frames_as_images_inputs(request)


@hookimpl
def register_model_adapters(register):
    register("gemma3n", Gemma3nAdapter)
