"""Reading agent and judge replies that real models write: JSON in fences or prose, Python-dict style, other key
cases, numbered lists, bare numbers, "8/10", "Score: 7". Each parser returns what it found plus notes on
anything it had to repair, so traces show every parse problem."""

from __future__ import annotations

import ast
import json
import math
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
    """An integer low..high from an evaluator reply, or None when it holds no score (never a made-up one);
    fractions are rounded half up and out-of-range values clamped, each flagged."""
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
    score = math.floor(value + 0.5)  # half up, as people read scores: 5.5 -> 6, 6.5 -> 7 (round() gives 6, 6)
    if score != value:
        notes.append(f"non-integer score {value:g} rounded half up to {score}")
    if score < low or score > high:
        notes.append(f"score {score} out of range {low}..{high}, clamped")
        score = max(low, min(high, score))
    return ParsedScore(score, notes)


# ---- reasoner's three parts ------------------------------------------------------------------------------

@dataclass
class ParsedReasoning:
    """The reasoner's three parts. `steps` never hold a step answer or the final answer; `ok` is False when
    the reply had no readable structure, and then `steps` is empty (the raw reply stays in the trace only)."""
    steps: list[str]
    step_answers: list[str]
    final_answer: str
    notes: list[str] = field(default_factory=list)
    ok: bool = True


_STEP_KEYS = ("steps", "reasoning_steps", "reasoning", "task_1", "task1")
_ANSWER_KEYS = ("step_answers", "answers", "answers_to_steps", "task_2", "task2")
_FINAL_KEYS = ("final_answer", "answer", "final", "task_3", "task3")
# inside one step given as an object: where its text is, and where its answer is (kept out of the step)
_STEP_TEXT_KEYS = ("step", "description", "text", "reasoning", "content", "thought", "action", "instruction")
_STEP_ANSWER_KEYS = ("answer", "step_answer", "result", "output", "finding", "final_answer")
# a step that carries an answer inline: "... -> red", "... Answer: red", "the answer is B"
_INLINE_ANSWER = re.compile(r"\s*(?:(?:->|=>)|(?:\b(?:so|thus|therefore|hence)\b,?\s*)?(?:\bthe\s+)?"
                            r"(?:\b(?:correct|final|right|step)\s+)?\banswer\s*(?:is\b|:|=))\s*(.*)$", re.I | re.S)


def _number_key(key) -> int | None:
    m = re.search(r"\d+", str(key))
    return int(m.group()) if m else None


def _ordered(d: dict) -> list:
    """A dict's values in step order: by the number in each key ("step_2" before "step_10") when every key
    has one, else as written."""
    numbers = [_number_key(k) for k in d]
    if all(n is not None for n in numbers):
        return [v for _, v in sorted(zip(numbers, d.values()), key=lambda nv: nv[0])]
    return list(d.values())


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _step_object(obj: dict) -> tuple[str, str | None]:
    """One step written as an object: its text without its answer, and the answer if it has one."""
    keys = _lower_keys(obj)
    answer = _pick(keys, _STEP_ANSWER_KEYS)
    text = _pick(keys, _STEP_TEXT_KEYS)
    if text is None or isinstance(text, (int, float)):  # e.g. {"step": 1, "detail": "..."}: the other strings
        text = "; ".join(v.strip() for k, v in keys.items()
                         if k not in _STEP_ANSWER_KEYS and isinstance(v, str) and v.strip())
    return _text(text), None if answer is None else _text(answer)


def _steps(value, notes: list[str]) -> tuple[list[str], list[str]]:
    """Steps from a list, a numbered string or an object of steps, with answers found inside them set apart."""
    if value is None:
        return [], []
    if isinstance(value, dict):
        keys = _lower_keys(value)
        if any(k in keys for k in _STEP_TEXT_KEYS):
            items = [value]  # one step written as an object
        else:  # {"step_1": ..., "step_2": ...}, answer entries kept out
            items = _ordered({k: v for k, v in keys.items() if k not in _ANSWER_KEYS + _FINAL_KEYS})
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = _numbered(str(value))
    steps, answers = [], []
    for item in items:
        answer = None
        if isinstance(item, dict):
            text, answer = _step_object(item)
        else:
            text = _text(item)
        inline = _INLINE_ANSWER.search(text)
        if inline:
            text, answer = text[:inline.start()].strip(" :;,-"), answer or inline.group(1).strip()
        if answer is not None:
            answers.append(answer)
        if text:
            steps.append(text)
    if answers:
        notes.append(f"{len(answers)} answer(s) written inside the steps were moved out of them")
    return steps, answers


def _answers(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = _ordered(value)
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if isinstance(item, dict):
                keys = _lower_keys(item)
                item = _pick(keys, _STEP_ANSWER_KEYS) or _pick(keys, _STEP_TEXT_KEYS) or item
            if _text(item):
                out.append(_text(item))
        return out
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


def _without_answers(steps: list[str], answers: list[str], final: str, notes: list[str]) -> list[str]:
    """Drop steps that only repeat a step answer or the final answer, or that contain a final answer of
    more than one word (a one-word answer such as "B" or "red" may be named by an honest step)."""
    norm = lambda s: re.sub(r"[\s.]+", " ", s).strip().lower()
    repeats = {norm(a) for a in answers + [final] if norm(a)}
    final_n = norm(final)
    kept = [s for s in steps if norm(s) not in repeats and not (len(final_n.split()) > 1 and final_n in norm(s))]
    if len(kept) < len(steps):
        notes.append(f"{len(steps) - len(kept)} step(s) that stated an answer were dropped")
    return kept


def _reasoning(steps: list[str], answers: list[str], final: str, notes: list[str]) -> ParsedReasoning:
    steps = _without_answers(steps, answers, final, notes)
    if not steps:
        return ParsedReasoning([], answers, final, notes + ["no steps left without their answers"], ok=False)
    return ParsedReasoning(steps, answers, final, notes)


def parse_reasoning(text: str) -> ParsedReasoning:
    text = (text or "").strip()
    for obj in _objects(text):
        keys = _lower_keys(obj)
        notes: list[str] = []
        steps, inline_answers = _steps(_pick(keys, _STEP_KEYS), notes)
        if not steps:
            continue
        answers = _answers(_pick(keys, _ANSWER_KEYS)) or inline_answers
        final = _pick(keys, _FINAL_KEYS)
        final = "" if final is None else _text(final)
        if not answers or not final:
            notes.append("some parts missing in the JSON reply")
        return _reasoning(steps, answers, final, notes)
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
            notes = ["read from headed prose, not JSON"]
            steps, inline_answers = _steps(found["steps"], notes)
            answers = _numbered(found.get("answers", "")) or inline_answers
            return _reasoning(steps, answers, found.get("final", "").strip(), notes)
    if text:
        return ParsedReasoning([], [], "", ["no structure found: no steps taken from the reply"], ok=False)
    return ParsedReasoning([], [], "", ["empty reply"], ok=False)
