"""Asking a model, for strategies and for tasks that score with a judge: building a request from a sample,
recording each call's cost in a per-role usage ledger, and turning a failed reply into an exception.

`call(model, request, ledger, role)` is the one way to ask; `ledger` is anything with a `usage` dict, a
`notes` list and a `media` list (a `Context`, an `Outcome`, or a `Ledger`). Usage per role is
{"calls", "input_tokens", "output_tokens", "seconds", "decode_seconds", "prepare_seconds"}; `media` collects
the replies' media receipts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .types import AudioPart, ImagePart, Message, Reply, Request, Sample, TextPart, VideoPart

# seconds: the model's generation; decode_seconds / prepare_seconds: getting the media and building inputs
USAGE_FIELDS = ("calls", "input_tokens", "output_tokens", "seconds", "decode_seconds", "prepare_seconds")


class ModelError(Exception):
    """A model call failed for this sample (the adapter reported it). `kind` keeps the adapter's error type."""

    kind = "model_error"


@dataclass
class Ledger:
    """Cost of one piece of work, per role, and the notes the models returned with it."""

    usage: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    media: list = field(default_factory=list)  # media receipts, {"role", ...}


def add_usage(total: dict, extra: dict) -> dict:
    """Sum two role -> usage maps into `total` (returned)."""
    for role, use in extra.items():
        mine = total.setdefault(role, {k: 0 for k in USAGE_FIELDS})
        for k in USAGE_FIELDS:
            mine[k] = mine.get(k, 0) + use.get(k, 0)
    return total


async def call(model, request: Request, ledger, role: str) -> Reply:
    """Ask `model`; add the call's cost to `ledger.usage[role]` and its notes to `ledger.notes`.
    A reply that carries an error raises ModelError (that sample's error), its type kept."""
    start = time.perf_counter()
    reply = await model.generate(request)
    use = ledger.usage.setdefault(role, {k: 0 for k in USAGE_FIELDS})
    use["calls"] += 1
    use["input_tokens"] += reply.input_tokens
    use["output_tokens"] += reply.output_tokens
    use["seconds"] += reply.seconds or (time.perf_counter() - start)
    use["decode_seconds"] += reply.timing.get("decode", 0.0)
    use["prepare_seconds"] += reply.timing.get("prepare", 0.0)
    for note in reply.notes:
        if note not in ledger.notes:
            ledger.notes.append(note)
    receipts = getattr(ledger, "media", None)
    if reply.media is not None and isinstance(receipts, list):
        receipts.append({"role": role, **reply.media})
    if reply.error:
        name = getattr(model, "name", role)
        message = reply.error if reply.error.startswith(f"{name}:") else f"{name}: {reply.error}"
        error = ModelError(message)
        error.kind = reply.error_kind or ModelError.kind
        raise error
    return reply


def media_parts(sample: Sample) -> list:
    """The sample's media as request parts, in manifest order; a role ("candidate 2") follows its item."""
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
    """One user turn: the sample's media, then `text`; an optional system turn before it."""
    messages = []
    if system:
        messages.append(Message("system", (TextPart(system),)))
    messages.append(Message("user", tuple(media_parts(sample)) + (TextPart(text),)))
    return Request(tuple(messages), max_new_tokens=max_new_tokens)
