"""Tasks: where samples come from and how an answer is scored. Tasks never call a model.

The manifest format (docs/manifest.md): JSON Lines, one sample a line, media paths relative to the
manifest's folder and never outside it:

    {"id": "q1", "question": "...", "options": ["..", ".."], "answer": "B",
     "media": [{"kind": "video", "path": "media/q1.mp4"}], "category": "...", "reasoning": "..."}

A line that is not JSON, lacks a field, or points outside the dataset is skipped with its line number;
the rest of the task runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import scoring
from .errors import ConfigError
from .types import MediaItem, Sample, Score

ANSWER_FORMS = ("mcq", "open", "caption")


@dataclass
class DataProblem:
    task: str
    where: str  # "manifest.jsonl:12"
    message: str

    def __str__(self) -> str:
        return f"{self.task}: {self.where}: {self.message}"


@dataclass
class TaskData:
    samples: list[Sample]
    problems: list[DataProblem] = field(default_factory=list)


def read_manifest(path: Path, task: str) -> TaskData:
    path = Path(path)
    root = path.parent.resolve()
    samples, problems, seen = [], [], set()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return TaskData([], [DataProblem(task, str(path), "manifest file not found")])
    for number, line in enumerate(raw.split(b"\n"), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(DataProblem(task, where, f"not UTF-8 text (byte {exc.start}); line skipped"))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(DataProblem(task, where, f"not valid JSON ({exc.msg}); line skipped"))
            continue
        try:
            sample = _sample_from(data, root, task)
        except ValueError as exc:
            problems.append(DataProblem(task, where, f"{exc}; line skipped"))
            continue
        if sample.id in seen:
            problems.append(DataProblem(task, where, f"duplicate id '{sample.id}'; line skipped"))
            continue
        seen.add(sample.id)
        samples.append(sample)
    if not samples and not problems:
        problems.append(DataProblem(task, str(path), "manifest holds no samples"))
    return TaskData(samples, problems)


def _sample_from(data: Any, root: Path, task: str) -> Sample:
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    missing = [k for k in ("id", "question") if data.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    if "answer" not in data:
        raise ValueError("missing field: answer")
    media = []
    for item in data.get("media", []):
        if not isinstance(item, dict) or item.get("kind") not in ("video", "audio", "image") or not item.get("path"):
            raise ValueError(f"bad media item {item!r}: needs kind (video|audio|image) and path")
        resolved = (root / item["path"]).resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"media path '{item['path']}' leaves the dataset folder; refused")
        media.append(MediaItem(item["kind"], resolved, item.get("role", "")))
    options = tuple(str(o) for o in data.get("options") or ())
    answer = data["answer"]
    if options:
        letters = scoring.LETTERS[:len(options)]
        if not (isinstance(answer, str) and answer.strip().upper() in letters):
            raise ValueError(f"answer {answer!r} is not one of the option letters {', '.join(letters)}")
        answer = answer.strip().upper()
    params = data.get("params", {})
    metadata = {**(data.get("metadata") or {}), **({"params": params} if params else {})}
    return Sample(id=str(data["id"]), task=task, question=str(data["question"]), media=tuple(media),
                  options=options, answer=answer, reasoning=data.get("reasoning"),
                  category=str(data.get("category", "")), metadata=metadata)


class Task:
    """Base of a task: a name, an answer form, a metric, and a way to load samples.

    Subclasses override `load(config)`; the scoring here covers the three answer forms.
    """

    name: str = ""
    title: str = ""
    answer_form: str = "mcq"  # mcq | open | caption
    metric: str = "accuracy"  # accuracy (right/wrong) | keyword_recall (graded 0..1)
    groups: tuple[str, ...] = ()
    synonyms: dict = {}

    def load(self, config) -> TaskData:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def graded(self) -> bool:
        return self.metric != "accuracy"

    def score(self, sample: Sample, text: str) -> Score:
        if self.answer_form == "mcq":
            choice = scoring.extract_choice(text, sample.options)
            if choice.letter is None:
                return Score(0.0, None, True, {"reason": choice.status, "rule": choice.how})
            return Score(float(choice.letter == sample.answer), choice.letter, False, {"rule": choice.how})
        if self.answer_form == "open":
            correct, parsed, unparseable = scoring.match_short_answer(text, sample.answer, self.synonyms)
            return Score(float(correct), parsed, unparseable)
        if self.answer_form == "caption":
            keywords = sample.answer.get("keywords", []) if isinstance(sample.answer, dict) else []
            final = scoring.final_statement(text)
            if not final:
                return Score(0.0, "", True)
            return Score(scoring.keyword_recall(final, keywords), final[:200], False)
        raise ConfigError(f"task {self.name}: unknown answer form {self.answer_form!r}")


class ManifestTask(Task):
    """A task defined by a TOML file: where its manifest is, its answer form and metric."""

    def __init__(self, definition: dict, source: str = ""):
        missing = [k for k in ("name", "answer_form") if k not in definition]
        if missing:
            raise ConfigError(f"{source}: task definition lacks {', '.join(missing)}")
        if definition["answer_form"] not in ANSWER_FORMS:
            raise ConfigError(f"{source}: answer_form must be one of {', '.join(ANSWER_FORMS)}")
        self.definition = definition
        self.source = source
        self.name = definition["name"]
        self.title = definition.get("title", self.name)
        self.answer_form = definition["answer_form"]
        self.metric = definition.get("metric", "keyword_recall" if self.answer_form == "caption" else "accuracy")
        self.groups = tuple(definition.get("groups", ()))
        self.synonyms = dict(definition.get("synonyms", {}))

    def manifest_path(self, config) -> Path:
        data = self.definition.get("data", {})
        if data.get("source") == "avsynth":
            from .synth import dataset_dir, generate

            root = dataset_dir((config.data_root or config.cache_dir / "data"), config.avsynth_per_task,
                               config.avsynth_seed)
            return generate(root, config.avsynth_per_task, config.avsynth_seed, [data["subset"]])[data["subset"]]
        path = Path(data.get("manifest", ""))
        if not path.is_absolute():
            base = config.data_root or Path.cwd()
            path = base / path
        return path

    def load(self, config) -> TaskData:
        return read_manifest(self.manifest_path(config), self.name)
