"""Phi-4-multimodal: sees images and hears audio; a video is given as its sampled frames (as images, with
their times in the text) plus its soundtrack as an audio input. Several audio clips are taken as they are.

The native `Phi4MultimodalForCausalLM` loads the checkpoint's revision `refs/pr/70` (the hub's `main` holds
the remote-code layout); frames go in at their own size and the image processor crops them itself
(`dynamic_hd`, its default unless the card's `[media] dynamic_hd` says otherwise).
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts
from aurelia_harness.types import Request

from .hf_base import HFMultimodalAdapter, chatml_template


class Phi4MultimodalAdapter(HFMultimodalAdapter):
    media_defaults = {"frames": 16}  # no pixel bound: the processor's dynamic_hd crops each frame
    model_class = "Phi4MultimodalForCausalLM"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=2)

    def build_tiny(self, folder: Path) -> Path:
        from avharness_plugins.models.tiny import build_once, qwen_style_tokenizer

        with build_once(folder) as tmp:
            if tmp is None:
                return folder
            import torch
            from transformers import (Phi4MultimodalConfig, Phi4MultimodalFeatureExtractor, Phi4MultimodalForCausalLM,
                                      Phi4MultimodalImageProcessor, Phi4MultimodalProcessor)

            tokenizer, vocab = qwen_style_tokenizer({"image_token": "<|image|>", "audio_token": "<|audio|>"})
            tokenizer.chat_template = chatml_template({"image": "<|image|>", "audio": "<|audio|>"})
            Phi4MultimodalProcessor(image_processor=Phi4MultimodalImageProcessor(dynamic_hd=2),
                                    audio_processor=Phi4MultimodalFeatureExtractor(),
                                    tokenizer=tokenizer).save_pretrained(tmp)
            config = Phi4MultimodalConfig(
                vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, max_position_embeddings=8192, original_max_position_embeddings=4096,
                bos_token_id=vocab["<|endoftext|>"], eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"],
                vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   image_token_id=vocab["<|image|>"]),
                audio_config=dict(hidden_size=16, intermediate_size=32, num_blocks=1, num_attention_heads=2,
                                  ext_pw_out_channel=16, depthwise_separable_out_channel=16, nemo_conv_channels=16,
                                  audio_token_id=vocab["<|audio|>"]))
            torch.manual_seed(0)
            Phi4MultimodalForCausalLM(config).eval().save_pretrained(tmp)
        return folder


    def processor_inputs(self, request: Request):
        # transformers keeps this family's chat template on the tokenizer
        template = getattr(self.processor, "chat_template", None) or self.processor.tokenizer.chat_template
        kwargs, extra, notes = self.frames_as_images_inputs(request, chat_template=template)
        crops = self.policy.extra.get("dynamic_hd")
        if "images" in kwargs and crops:
            kwargs["images_kwargs"] = {"dynamic_hd": int(crops)}
        return kwargs, extra, notes


@hookimpl
def register_model_adapters(register):
    register("phi4-multimodal", Phi4MultimodalAdapter)
