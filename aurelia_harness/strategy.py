"""The strategy contract: an async callable (sample, target model, context) -> Outcome.

Strategies know prompting and agent loops. They build Requests from a Sample's question, options, answer
form and media; they never touch a processor or a decoder. The `Context` of each sample gives a strategy
its agent models by role, a durable keyed store for per-sample work (`KeyedStore`), that sample's usage
ledger, and the run's options, so a multi-agent strategy (AURELIA) fits the same slot as `baseline`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .calls import ModelError, call, format_options, media_parts, user_request  # noqa: F401 - the strategy API
from .errors import ConfigError
from .jsonl import KeyedStore
from .types import Outcome, Sample

try:  # Python 3.11
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib


class SettingsError(ConfigError):
    """A [strategy.NAME] or [task.NAME] key the plugin does not declare, or a value it refuses."""


def check_settings(kind: str, name: str, defaults: dict, settings: dict | None) -> dict:
    """`defaults` updated with `settings`; a key not in `defaults` is refused, naming the known ones."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "(none: it takes no settings)"
        raise SettingsError(f"{kind} '{name}': unknown setting(s) {', '.join(unknown)} in [{kind}.{name}]; "
                            f"known: {known}")
    return {**defaults, **settings}


@dataclass(frozen=True)
class RunOptions:
    """What the run hands every strategy: which inputs models get, where results go, precomputed work."""

    modality: str = "av"  # av | video | audio | text
    output: Path | None = None  # the run's output folder (None for `avharness distill`)
    work_file: Path | None = None  # precomputed agent work (`avharness distill`, `run --reasoning FILE`)
    seed: int = 0


@dataclass
class Context:
    """What a strategy (or a judging task) may use for one sample besides the target model."""

    models: dict = field(default_factory=dict)  # role -> ModelHandle (e.g. "reasoner", "judge")
    store: KeyedStore | None = None  # this strategy's durable per-sample work (None: it declares none)
    options: RunOptions = field(default_factory=RunOptions)
    usage: dict = field(default_factory=dict)  # this sample's ledger: role -> calls, tokens, seconds
    notes: list = field(default_factory=list)  # notes models returned while working on this sample
    media: list = field(default_factory=list)  # media receipts of this sample's calls

    def model(self, role: str):
        """The model bound to `role`; KeyError naming the role when none is (e.g. a judge that failed to load)."""
        if role not in self.models:
            raise KeyError(f"no model bound to role '{role}'")
        return self.models[role]


class Strategy:
    """Base class. Subclasses set `name`, `defaults` (every setting with its default; others are refused)
    and implement `async run(sample, target, ctx) -> Outcome`. The first line of the class docstring is
    the description `avharness list strategies` shows.

    Optional: `roles()` (agent models), `store_name` plus `work_key(sample)` and `async distill(sample, ctx)`
    for per-sample agent work kept across models and resumes, `setup(options)` / `finish()`, and
    `summarize(records)` for the strategy's own columns in results.json and summary.md.
    """

    name = ""
    defaults: dict = {}
    version = 1  # bump when prompts or logic change the results
    store_name: str | None = None  # OUTPUT/<store_name>.jsonl keeps this strategy's per-sample work

    def __init__(self, settings: dict | None = None):
        self.settings = check_settings("strategy", self.name or type(self).__name__, self.defaults, settings)
        self.role_cards: dict = {}  # role -> ModelCard, bound by the runner when it plans
        self.provenance = ""  # plugin distribution and version that registered this strategy
        self._hash: str | None = None

    @classmethod
    def description(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""

    def bind(self, role_cards: dict, provenance: str = "") -> None:
        """Fix the agent cards and the plugin identity this strategy runs with (part of its hash)."""
        self.role_cards = dict(role_cards)
        self.provenance = provenance
        self._hash = None

    def roles(self) -> dict[str, str]:
        """Agent models this strategy needs besides the target: role -> model card name. The runner loads
        each once for the whole run and hands them over in Context.models."""
        return {}

    def work_key(self, sample: Sample) -> str | None:
        """Store key of the sample's agent work (what it depends on), or None when there is none to keep."""
        return None

    async def distill(self, sample: Sample, ctx: Context) -> dict:
        """The sample's agent work alone, as one JSON record (`avharness distill`); only strategies that keep
        per-sample work implement it."""
        raise NotImplementedError(f"strategy '{self.name}' has no agent work to distill")

    @classmethod
    def has_agent_work(cls) -> bool:
        return cls.distill is not Strategy.distill and cls.store_name is not None

    def setup(self, options: RunOptions) -> None:
        """Called once per run before any sample."""

    def finish(self) -> None:
        """Called once per run after the last sample."""

    def summarize(self, records: list) -> dict | None:
        """This strategy's own columns for one model x task row: {column: number or text}, or None."""
        return None

    @property
    def hash(self) -> str:
        """Identity of the results this strategy produces (computed once: settings are fixed after bind)."""
        if self._hash is None:
            self._hash = self.identity()
        return self._hash

    def identity(self) -> str:
        agents = {role: card.hash for role, card in sorted(self.role_cards.items())}
        payload = {"name": self.name, "settings": self.settings, "version": self.version, "agents": agents,
                   "plugin": self.provenance}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    async def __call__(self, sample: Sample, target, ctx: Context) -> Outcome:
        return await self.run(sample, target, ctx)

    async def run(self, sample: Sample, target, ctx: Context) -> Outcome:  # pragma: no cover - interface
        raise NotImplementedError


def load_templates(path: Path) -> dict:
    """Prompt templates live in versioned TOML files next to the strategy, not in code."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)

