"""Reading agent and judge replies that real models write: JSON in fences or prose, Python-dict style, other key
cases, numbered lists, bare numbers, "8/10", "Score: 7". Each parser returns what it found plus notes on
anything it had to repair, so traces show every parse problem."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```(?:json|python|JSON)?\s*(.*?)```", re.S)


def _objects(text: str) -> list[dict]:
    """Dicts found in the text: fenced blocks first, then every balanced {...} span, JSON or Python style."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                candidates.append(text[start:i + 1])
    found = []
    for chunk in candidates:
        chunk = chunk.strip()
        for loader in (json.loads, ast.literal_eval):
            try:
                value = loader(chunk)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict):
                found.append(value)
                break
    return found


def _lower_keys(d: dict) -> dict:
    return {re.sub(r"[\s_-]+", "_", str(k).strip().lower()): v for k, v in d.items()}


# ---- evaluator score -------------------------------------------------------------------------------------

@dataclass
class ParsedScore:
    score: int | None
    notes: list[str] = field(default_factory=list)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.search(r"-?\d+(?:\.\d+)?", value)
        return float(m.group()) if m else None
    return None


def rationale(text: str) -> str | None:
    """A judge's written reason, where its JSON reply has one."""
    for obj in _objects(text or ""):
        keys = _lower_keys(obj)
        for key in ("rationale", "reason", "explanation", "justification"):
            if isinstance(keys.get(key), str):
                return keys[key].strip()
    return None


def parse_score(text: str, low: int = 1, high: int = 10) -> ParsedScore:
    """An integer low..high from an evaluator reply; out-of-range values are clamped and flagged."""
    text = (text or "").strip()
    notes: list[str] = []
    value = None
    for obj in _objects(text):
        keys = _lower_keys(obj)
        for key in ("score", "rating", "grade", "value"):
            if key in keys and _number(keys[key]) is not None:
                value = _number(keys[key])
                break
        if value is not None:
            break
    if value is None:
        for pattern in (r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", r"\bscore\s*(?:is|of|:|=)?\s*(-?\d+(?:\.\d+)?)",
                        r"\brating\s*(?:is|of|:|=)?\s*(-?\d+(?:\.\d+)?)", r"^\s*(-?\d+(?:\.\d+)?)\s*\.?\s*$"):
            m = re.search(pattern, text, re.I | re.M)
            if m:
                value = float(m.group(1))
                notes.append("score read from text, not JSON")
                break
    if value is None:
        return ParsedScore(None, ["no score found"])
    if value != int(value):
        notes.append(f"non-integer score {value:g} rounded")
    score = int(round(value))
    if score < low or score > high:
        notes.append(f"score {score} out of range {low}..{high}, clamped")
        score = max(low, min(high, score))
    return ParsedScore(score, notes)


# ---- reasoner's three parts ------------------------------------------------------------------------------

@dataclass
class ParsedReasoning:
    steps: list[str]
    step_answers: list[str]
    final_answer: str
    notes: list[str] = field(default_factory=list)
    ok: bool = True


_STEP_KEYS = ("steps", "reasoning_steps", "reasoning", "task_1", "task1")
_ANSWER_KEYS = ("step_answers", "answers", "answers_to_steps", "task_2", "task2")
_FINAL_KEYS = ("final_answer", "answer", "final", "task_3", "task3")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{v}" for _, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return _numbered(str(value))


def _numbered(text: str) -> list[str]:
    """Split '1. a 2. b' or one item a line into items, dropping the numbering."""
    parts = re.split(r"(?:^|\n|\s)(?:step\s*)?\d+\s*[.):]\s+", "\n" + text.strip(), flags=re.I)
    items = [p.strip() for p in parts if p.strip()]
    if len(items) <= 1:
        items = [line.strip(" -*\t") for line in text.splitlines() if line.strip(" -*\t")]
    return items


def _pick(keys: dict, names: tuple) -> object:
    for name in names:
        if name in keys:
            return keys[name]
    return None


def parse_reasoning(text: str) -> ParsedReasoning:
    text = (text or "").strip()
    for obj in _objects(text):
        keys = _lower_keys(obj)
        steps = _as_list(_pick(keys, _STEP_KEYS))
        if steps:
            answers = _as_list(_pick(keys, _ANSWER_KEYS))
            final = _pick(keys, _FINAL_KEYS)
            notes = [] if answers and final is not None else ["some parts missing in the JSON reply"]
            return ParsedReasoning(steps, answers, "" if final is None else str(final).strip(), notes)
    # headed sections in prose: "Steps: ... Step answers: ... Final answer: ..."
    sections = re.split(r"(?im)^\s*(?:\*\*|#+\s*)?(reasoning steps|steps|step answers|answers to (?:the )?steps|"
                        r"answers|final answer)\s*(?:\*\*)?\s*:?\s*(?:\*\*)?\s*", text)
    if len(sections) >= 3:
        found: dict[str, str] = {}
        for name, body in zip(sections[1::2], sections[2::2]):
            name = name.lower()
            key = "final" if name.startswith("final") else "answers" if "answer" in name else "steps"
            found.setdefault(key, body.strip())
        if found.get("steps"):
            return ParsedReasoning(_numbered(found["steps"]), _numbered(found.get("answers", "")),
                                   found.get("final", "").strip(), ["read from headed prose, not JSON"])
    if text:
        return ParsedReasoning(_numbered(text), [], "", ["no structure found: the whole reply is taken as steps"],
                               ok=False)
    return ParsedReasoning([], [], "", ["empty reply"], ok=False)
