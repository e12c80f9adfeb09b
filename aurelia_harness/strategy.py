"""The strategy contract: an async callable (sample, target model, context) -> Outcome.

Strategies know prompting and agent loops. They build Requests from a Sample's question, options and
media; they never touch a processor. `Context` gives access to other models by role, to caches and to a
usage recorder, so a multi-agent strategy (AURELIA) fits the same slot as `baseline`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from .types import AudioPart, ImagePart, Message, Outcome, Reply, Request, Sample, TextPart, VideoPart

try:  # Python 3.11
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib


class ModelError(Exception):
    """A model call failed for this sample (the adapter reported it)."""

    kind = "model_error"


@dataclass
class Context:
    """What a strategy may use besides the target model."""

    models: dict = field(default_factory=dict)  # role -> ModelHandle (e.g. "reasoner")
    cache: dict = field(default_factory=dict)  # strategy-owned memo shared across target models
    seed: int = 0
    usage: dict = field(default_factory=dict)
    workdir: Path | None = None  # the run's output folder (a strategy may keep files there)

    def model(self, role: str):
        if role not in self.models:
            raise KeyError(f"no model bound to role '{role}'")
        return self.models[role]


class Strategy:
    """Base class. Subclasses define `name`, `defaults`, and `async run(sample, target, ctx)`."""

    name = ""
    defaults: dict = {}

    role_cards: dict = {}  # role -> ModelCard, bound by the runner when it plans

    def __init__(self, settings: dict | None = None):
        self.settings = {**self.defaults, **(settings or {})}
        self._hash: str | None = None

    def bind(self, role_cards: dict) -> None:
        """Fix the agent cards this strategy will use (they are part of its identity)."""
        self.role_cards = dict(role_cards)
        self._hash = None

    def roles(self) -> dict[str, str]:
        """Agent models this strategy needs besides the target: role -> model card name. The runner loads
        each once for the whole run and hands them over in Context.models."""
        return {}

    def setup(self, workdir: Path | None, options: dict) -> None:
        """Called once per run before any sample (e.g. to open a cache in the output folder)."""

    def finish(self) -> None:
        """Called once per run after the last sample."""

    @property
    def hash(self) -> str:
        """Identity of the results this strategy produces (computed once: settings are fixed after bind)."""
        if getattr(self, "_hash", None) is None:
            self._hash = self.identity()
        return self._hash

    def identity(self) -> str:
        agents = {role: card.hash for role, card in sorted(self.role_cards.items())}
        payload = {"name": self.name, "settings": self.settings, "version": getattr(self, "version", 1),
                   "agents": agents}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    async def __call__(self, sample: Sample, target, ctx: Context) -> Outcome:
        return await self.run(sample, target, ctx)

    async def run(self, sample: Sample, target, ctx: Context) -> Outcome:  # pragma: no cover - interface
        raise NotImplementedError


def load_templates(path: Path) -> dict:
    """Prompt templates live in versioned TOML files next to the strategy, not in code."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def media_parts(sample: Sample) -> list:
    parts = []
    for item in sample.media:
        cls = {"video": VideoPart, "audio": AudioPart, "image": ImagePart}[item.kind]
        parts.append(cls(item.path))
        if item.role:
            parts.append(TextPart(f"(above: {item.role})\n"))
    return parts


def format_options(options) -> str:
    return "\n".join(f"{chr(ord('A') + i)}. {text}" for i, text in enumerate(options))


def user_request(sample: Sample, text: str, max_new_tokens: int, system: str | None = None) -> Request:
    messages = []
    if system:
        messages.append(Message("system", (TextPart(system),)))
    messages.append(Message("user", tuple(media_parts(sample)) + (TextPart(text),)))
    return Request(tuple(messages), max_new_tokens=max_new_tokens)


async def call(model, request: Request, outcome: Outcome, role: str) -> Reply:
    """Ask a model, add its cost to the outcome's usage under `role`, and turn a failed reply into an error."""
    start = time.perf_counter()
    reply = await model.generate(request)
    usage = outcome.usage.setdefault(role, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "seconds": 0.0})
    usage["calls"] += 1
    usage["input_tokens"] += reply.input_tokens
    usage["output_tokens"] += reply.output_tokens
    usage["seconds"] += reply.seconds or (time.perf_counter() - start)
    for note in reply.notes:
        if note not in outcome.notes:
            outcome.notes.append(note)
    if reply.error:
        error = ModelError(f"{getattr(model, 'name', role)}: {reply.error}")
        error.kind = reply.error_kind or ModelError.kind
        raise error
    return reply


StrategyFn = Callable[[Sample, Any, Context], Awaitable[Outcome]]
