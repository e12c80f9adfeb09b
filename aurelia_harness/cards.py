"""Model cards: one TOML file per model, naming the adapter that runs it and how.

A card's hash covers everything in it, so results made with other frames, pixels, dtype or checkpoint
never mix with these in one output directory.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .config import read_toml
from .errors import ConfigError


@dataclass(frozen=True)
class ModelCard:
    name: str
    adapter: str  # name of a registered model adapter
    checkpoint: str = ""  # hub id, local path, or "builtin:..." for generated tiny models
    revision: str = ""
    description: str = ""
    pipeline_check: bool = False  # random weights: proves the pipeline runs, says nothing about a model
    options: dict = field(default_factory=dict)  # every other table/key: media budget, generation, dtype
    source: str = ""  # file the card came from

    def get(self, dotted: str, default=None):
        node = self.options
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def to_json(self) -> dict:
        return {"name": self.name, "adapter": self.adapter, "checkpoint": self.checkpoint,
                "revision": self.revision, "description": self.description,
                "pipeline_check": self.pipeline_check, **self.options}

    @functools.cached_property
    def hash(self) -> str:
        payload = {k: v for k, v in self.to_json().items() if k not in ("description", "paper")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def remote_code_refusal(self, config) -> str | None:
        """None when this card may run; else why not. A card that asks to run code from the hub
        (trust_remote_code = true) runs only when the user allows it."""
        if not self.get("trust_remote_code"):
            return None
        allowed = getattr(config, "remote_code_allowed", []) or []
        if getattr(config, "trust_remote_code", False) or self.name in allowed or self.checkpoint in allowed:
            return None
        return (f"{self.name} asks to run code from the hub ({self.checkpoint}); refused. Allow it with "
                f"--trust-remote-code, or list \"{self.name}\" in [security] trust_remote_code in harness.toml")

    def with_overrides(self, overrides: dict) -> "ModelCard":
        if not overrides:
            return self
        data = self.to_json()
        _deep_merge(data, overrides)
        return card_from_dict(data, self.source)


def _deep_merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def card_from_dict(data: dict, source: str = "") -> ModelCard:
    data = dict(data)
    missing = [k for k in ("name", "adapter") if not data.get(k)]
    if missing:
        raise ConfigError(f"{source or 'model card'}: missing required key(s): {', '.join(missing)}")
    return ModelCard(name=data.pop("name"), adapter=data.pop("adapter"), checkpoint=data.pop("checkpoint", ""),
                     revision=data.pop("revision", ""), description=data.pop("description", ""),
                     pipeline_check=bool(data.pop("pipeline_check", False)), options=data, source=source)


def load_card(path: Path) -> ModelCard:
    return card_from_dict(read_toml(path), str(path))


def load_cards(folder: Path) -> list[ModelCard]:
    """Every card in the folder and its subfolders (model_cards/paper/ holds the paper's models)."""
    return [load_card(p) for p in sorted(Path(folder).rglob("*.toml"))]
