"""Model cards: one TOML file per model, naming the adapter that runs it and how.

A card's hash covers everything in it that changes what the model gets, so results made with other
frames, pixels, dtype or checkpoint never mix with these in one output directory.

**Recipes.** A card is the authors' recipe: its settings are what the model's authors evaluate it with,
and its `[sources]` table says, per setting (dotted name: `system_prompt`, `media.fps`, `revision`, ...),
where that comes from (a repository path or URL), or why ours differs on purpose. A cheaper setting is a
named preset beside it, never a silent default:

    recipe = "authors"              # the default; --set model.NAME.recipe=budget selects a preset
    [presets.budget]
    description = "16 frames: a quick pass, not the authors' setting"
    media = { fps = 1, max_frames = 16 }

A preset's tables merge over the card; `[model.NAME]` overrides (harness.toml, --set) merge over both.
`avharness list models --recipe NAME` prints a card's recipe and sources.
"""

from __future__ import annotations

import copy
import dataclasses
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
    # the card as written and the overrides merged into it: a later override (a preset named in --set)
    # resolves from these, so a preset never wins over an explicit setting
    written: dict = field(default_factory=dict, compare=False, repr=False)
    overrides: dict = field(default_factory=dict, compare=False, repr=False)

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

    @property
    def recipe(self) -> str:
        return str(self.options.get("recipe", AUTHORS))

    @property
    def presets(self) -> dict:
        return dict(self.options.get("presets", {}) or {})

    @property
    def sources(self) -> dict:
        return dict(self.options.get("sources", {}) or {})

    @functools.cached_property
    def hash(self) -> str:
        # documentation and presets not in use change nothing the model gets; the preset in use is merged in
        payload = {k: v for k, v in self.to_json().items() if k not in UNHASHED}
        weights = self.trained_weights()
        if weights:  # a project-trained checkpoint: retrained weights are another model (resume, reasoning cache)
            payload["trained_weights"] = weights
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def trained_weights(self) -> dict:
        """For a relative local checkpoint written by the project's training scripts (a folder beside the card
        with a manifest.json): its weight files' sha256 from that manifest; else {}."""
        checkpoint = self.checkpoint
        if not checkpoint or checkpoint.startswith("builtin:") or Path(checkpoint).expanduser().is_absolute():
            return {}
        project = Path(__file__).resolve().parents[1]
        for base in (Path(self.source).parent if self.source else None, project):
            manifest = base / checkpoint / "manifest.json" if base is not None else None
            if manifest is not None and manifest.is_file():
                try:
                    files = json.loads(manifest.read_text()).get("files", {})
                except (OSError, ValueError):
                    return {}
                return {name: entry.get("sha256") for name, entry in sorted(files.items())
                        if name.endswith(".safetensors")}
        return {}

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
        combined = copy.deepcopy(self.overrides)
        _deep_merge(combined, overrides)
        return resolve_card(self.written or self.to_json(), combined, self.source)


AUTHORS = "authors"  # the recipe a card is written with
UNHASHED = ("description", "paper", "sources", "presets")


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


def resolve_card(written: dict, overrides: dict | None = None, source: str = "") -> ModelCard:
    """The card as written, its recipe's preset merged over it, then the overrides over both."""
    overrides = overrides or {}
    data = copy.deepcopy(written)
    name = str(overrides.get("recipe", data.get("recipe", AUTHORS)))
    if name != AUTHORS:
        presets = data.get("presets", {}) or {}
        if name not in presets:
            known = ", ".join([AUTHORS, *sorted(presets)])
            raise ConfigError(f"card {data.get('name', source)}: no recipe {name!r}; known: {known}")
        _deep_merge(data, {k: v for k, v in presets[name].items() if k != "description"})
    _deep_merge(data, overrides)
    data.pop("recipe", None)
    if name != AUTHORS:  # the authors' recipe is every card's default: it leaves the hash as it was
        data["recipe"] = name
    card = card_from_dict(data, source)
    object.__setattr__(card, "written", copy.deepcopy(written))
    object.__setattr__(card, "overrides", copy.deepcopy(overrides))
    return card


def load_card(path: Path) -> ModelCard:
    return resolve_card(read_toml(path), source=str(path))


def load_cards(folder: Path) -> list[ModelCard]:
    """Every card in the folder and its subfolders (model_cards/paper/ holds the paper's models)."""
    return [load_card(p) for p in sorted(Path(folder).rglob("*.toml"))]


def recipe_lines(card: ModelCard, media_defaults: dict | None = None) -> list[str]:
    """`avharness list models --recipe NAME`: the recipe in effect, each sourced setting with the value the
    model gets (media settings as the adapter's policy resolves them) and its source, then the presets."""
    from .media.policy import MediaPolicy

    policy = MediaPolicy.from_card(card, media_defaults)
    lines = [f"{card.name} (adapter {card.adapter}, checkpoint {card.checkpoint or '-'}): recipe {card.recipe!r}"]
    sources = card.sources
    changed = set(_dotted(card.presets.get(card.recipe, {}))) - {"description"}
    width = max([len(k) for k in sources] + [8])
    for key, source in sources.items():
        mark = f"   (preset {card.recipe!r}: the source gives the authors' value)" if key in changed else ""
        lines.append(f"  {key:{width}}  {_shown(_effective(card, policy, key))}{mark}")
        lines.append(f"  {'':{width}}    source: {source}")
    if not sources:
        lines.append("  (this card names no sources for its settings)")
    media = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy) if f.name != "extra"}
    media.update(policy.extra)
    lines.append("  media policy in effect: " + ", ".join(f"{k}={_shown(v)}" for k, v in media.items()))
    for name, preset in sorted(card.presets.items()):
        settings = {k: v for k, v in preset.items() if k != "description"}
        lines.append(f"  preset {name!r} (--set model.{card.name}.recipe={name}): {preset.get('description', '')} "
                     f"{json.dumps(settings, sort_keys=True)}")
    return lines


def _dotted(table: dict, prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _effective(card: ModelCard, policy, key: str):
    if key.startswith("media."):
        field_name = key.split(".", 1)[1]
        if hasattr(policy, field_name) and field_name != "extra":
            return getattr(policy, field_name)
        return policy.extra.get(field_name)
    if key in ("checkpoint", "revision", "adapter"):
        return getattr(card, key) or None
    return card.get(key)


def _shown(value) -> str:
    if value is None or value == "":
        return "(none)"
    return json.dumps(value) if isinstance(value, (str, list, dict, bool)) else str(value)
