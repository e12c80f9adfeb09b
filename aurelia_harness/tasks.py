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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import caption_metrics, scoring
from .calls import call, media_parts
from .errors import ConfigError
from .replies import parse_score, rationale
from .types import MediaItem, Message, Request, Sample, Score, TextPart

ANSWER_FORMS = ("mcq", "open", "caption", "auto")  # auto: mcq where a sample has options, else open

# The answer judge reads a response the extraction rules could not settle; it sees no media and no answer key.
ANSWER_JUDGE_PROMPT = """A model answered a multiple-choice question. Which option did it choose?

Question: {question}
Options:
{options}

The model's response:
<<<
{response}
>>>

Reply with the letter of the option the response chooses, or "none" if it chooses no option or several."""


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


def read_manifest(path: Path, task: str, check=None) -> TaskData:
    """Samples of a manifest; `check(sample) -> str | None` may refuse a sample with a reason."""
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
        refusal = check(sample) if check else None
        if refusal:
            problems.append(DataProblem(task, where, f"{refusal}; line skipped"))
            continue
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
        # lexical check: "../" may not climb out; a symlink the dataset's author placed inside is followed
        resolved = Path(os.path.normpath(root / item["path"]))
        if Path(item["path"]).is_absolute() or not resolved.is_relative_to(root):
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
    """Base of a task: where its samples come from and how an answer is scored. Tasks never call a model,
    except a task that scores with a judge, which asks the model bound to its "judge" role in the context.

    Subclasses set `name`, `answer_form`, `metric` and implement `load(config) -> TaskData`; they may override
    `score(sample, text)` (automatic scoring), `async grade(sample, text, ctx)` (the scoring stage: by default
    `score`), `roles()` (a judge) and `corpus_metrics(pairs)`. `defaults` lists the settings a
    [task.NAME] table may set (others are refused); `configure` applies them.
    """

    name: str = ""
    title: str = ""
    answer_form: str = "mcq"  # mcq | open | caption | auto (mcq where a sample has options, else open)
    metric: str = "accuracy"  # its name in reports: accuracy (right/wrong), keyword_recall, rouge_l, a plugin's own
    graded: bool | None = None  # None: graded unless the metric is "accuracy"
    groups: tuple[str, ...] = ()
    synonyms: dict = {}
    defaults: dict = {}
    needs_audio: bool = True  # an audio-visual task: its samples need what is heard (the --require-audio guard)
    provenance: str = ""  # plugin distribution and version that registered this task (set by discovery)

    @property
    def is_graded(self) -> bool:
        return self.metric != "accuracy" if self.graded is None else bool(self.graded)

    @property
    def settings(self) -> dict:
        return self.__dict__.get("_settings") or dict(self.defaults)

    def configure(self, settings: dict | None) -> None:
        """Apply a [task.NAME] table, refusing keys the task does not declare."""
        from .strategy import check_settings

        self._settings = check_settings("task", self.name, self.defaults, settings)

    def roles(self) -> dict[str, str]:
        """Models this task scores with: role -> card name (a judge)."""
        return {}

    def load(self, config) -> TaskData:  # pragma: no cover - interface
        raise NotImplementedError

    def load_samples(self, config) -> TaskData:
        """`load`, with each sample stamped with its answer form (strategies read `sample.answer_form`)."""
        import dataclasses

        data = self.load(config)
        data.samples = [s if s.answer_form else dataclasses.replace(s, answer_form=self.form(s))
                        for s in data.samples]
        return data

    def form(self, sample: Sample) -> str:
        if self.answer_form == "auto":
            return "mcq" if sample.options else "open"
        return self.answer_form

    def score(self, sample: Sample, text: str) -> Score:
        form = self.form(sample)
        if form == "mcq":
            choice = scoring.extract_choice(text, sample.options)
            if choice.letter is None:
                return Score(0.0, None, True, {"reason": choice.status, "rule": choice.how, "settled": choice.settled})
            return Score(float(choice.letter == sample.answer), choice.letter, False, {"rule": choice.how})
        if form == "open":
            correct, parsed, unparseable = scoring.match_short_answer(text, sample.answer, self.synonyms)
            return Score(float(correct), parsed, unparseable)
        if form == "caption":
            final = scoring.final_statement(text)
            if not final:
                return Score(0.0, "", True)
            if self.metric == "rouge_l":
                return Score(caption_metrics.rouge_l(final, references(sample)), final[:500], False)
            keywords = sample.answer.get("keywords", []) if isinstance(sample.answer, dict) else []
            return Score(scoring.keyword_recall(final, keywords), final[:500], False)
        raise ConfigError(f"task {self.name}: unknown answer form {self.answer_form!r}")

    async def grade(self, sample: Sample, text: str, ctx) -> Score:
        """The scoring stage. `ctx` is the sample's Context: models by role (a judge), usage ledger, notes.
        A multiple-choice answer the extraction rules cannot settle goes to the "answer_judge" model where the
        task binds one (off by default)."""
        score = self.score(sample, text)
        if score.unparseable and score.detail.get("settled") is False and "answer_judge" in ctx.models:
            return await self.judge_choice(sample, text, score, ctx)
        return score

    async def judge_choice(self, sample: Sample, text: str, score: Score, ctx) -> Score:
        """Ask the answer judge which option the response chose; only a bare letter (or "none") counts."""
        prompt = ANSWER_JUDGE_PROMPT.format(question=sample.question, response=text.strip()[:4000],
                                            options="\n".join(f"{scoring.LETTERS[i]}. {o}"
                                                              for i, o in enumerate(sample.options)))
        reply = await call(ctx.model("answer_judge"), Request((Message("user", (TextPart(prompt),)),),
                                                              max_new_tokens=8), ctx, "answer_judge")
        letter = reply.text.strip().strip(".()[]*").upper()
        detail = {**score.detail, "answer_judge": {"reply": reply.text}}
        if len(letter) == 1 and letter in scoring.LETTERS[:len(sample.options)]:
            return Score(float(letter == sample.answer), letter, False, {**detail, "rule": "answer_judge"})
        return Score(0.0, None, True, detail)

    def corpus_metrics(self, pairs: list[tuple[str, Sample]]) -> dict:
        """Metrics over the whole set, from (prediction, sample) pairs; {} when the task has none."""
        return {}


def references(sample: Sample) -> list[str]:
    """Reference captions of a caption sample: {"references": [...]}, a list, or one string."""
    answer = sample.answer
    if isinstance(answer, dict):
        answer = answer.get("references", [])
    if isinstance(answer, str):
        return [answer]
    return [str(a) for a in answer or []]


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
        self.needs_audio = bool(definition.get("needs_audio", True))
        self.synonyms = dict(definition.get("synonyms", {}))
        self.options_count = definition.get("options_count")
        self.media_expected = dict(definition.get("media_expected", {}))
        # [task.NAME] may point the task at its data elsewhere, or name (or change) its judge model card
        self.defaults = {"manifest": definition.get("data", {}).get("manifest", ""),
                         "judge": definition.get("judge", ""),
                         "answer_judge": definition.get("answer_judge", "")}  # a card for unsettled mcq answers
        here = Path(source).parent if source else Path.cwd()
        self.template = (here / definition["prompt"]).read_text().strip() if definition.get("prompt") else None
        self.rubric = (here / definition["judge_rubric"]).read_text().strip() if definition.get("judge_rubric") else None
        if self.judge and not self.rubric:
            raise ConfigError(f"{source}: a judge needs a judge_rubric file")

    @property
    def judge(self) -> str:
        """The model card that scores this task's answers with the rubric ("" for the automatic metric)."""
        return self.settings.get("judge") or ""

    def roles(self) -> dict[str, str]:
        roles = {"judge": self.judge} if self.judge else {}
        if self.settings.get("answer_judge"):
            roles["answer_judge"] = self.settings["answer_judge"]
        return roles

    def configure(self, settings: dict | None) -> None:
        super().configure(settings)
        if self.judge and not self.rubric:
            raise ConfigError(f"task '{self.name}': a judge needs a judge_rubric file in {self.source}")

    def check(self, sample: Sample) -> str | None:
        """Structural checks of one sample against this task's shape."""
        if self.options_count and len(sample.options) != self.options_count:
            return f"{len(sample.options)} options where this task has {self.options_count}"
        for kind, count in self.media_expected.items():
            have = sum(1 for m in sample.media if m.kind == kind)
            if have != count:
                return f"{have} {kind} item(s) where this task has {count}"
        if self.answer_form == "caption" and not references(sample):
            return "no reference captions"
        return None

    def corpus_metrics(self, pairs: list[tuple[str, Sample]]) -> dict:
        """Metrics computed over the whole set (captions: BLEU-4, ROUGE-L, CIDEr-D, METEOR)."""
        if self.answer_form != "caption":
            return {}
        return caption_metrics.corpus_scores([scoring.final_statement(t) for t, _ in pairs],
                                             [references(s) for _, s in pairs])

    def judge_request(self, sample: Sample, text: str) -> Request:
        refs = "\n".join(f"- {r}" for r in references(sample)) or "(none)"
        prompt = self.rubric.format(references=refs, prediction=scoring.final_statement(text) or "(empty)",
                                    question=sample.question)
        return Request((Message("user", tuple(media_parts(sample)) + (TextPart(prompt),)),), max_new_tokens=128)

    async def grade(self, sample: Sample, text: str, ctx) -> Score:
        """The automatic score, replaced by the judge's (score / 10) where the task names a judge: one re-ask
        on an unreadable judge reply, then the answer counts as unparseable. A judge that could not load
        leaves the automatic score, with a note."""
        automatic = await super().grade(sample, text, ctx)  # the answer judge, where one is bound
        if not self.judge:
            return automatic
        if "judge" not in ctx.models:
            ctx.notes.append(f"judge {self.judge} unavailable: scored with {self.metric}")
            return automatic
        request = self.judge_request(sample, text)
        replies = []
        for _ in range(2):
            reply = await call(ctx.model("judge"), request, ctx, "judge")
            replies.append(reply.text)
            parsed = parse_score(reply.text)
            if parsed.score is not None:
                break
        detail = {**automatic.detail, "judge": {"model": self.judge, "score": parsed.score, "notes": parsed.notes,
                                                 "rationale": rationale(replies[-1]), "replies": replies,
                                                 "prompt": request.messages[-1].text,
                                                 "automatic": automatic.value}}
        if parsed.score is None:
            return Score(0.0, automatic.parsed, True, detail)
        return Score(parsed.score / 10, automatic.parsed, False, detail)

    def manifest_path(self, config) -> Path:
        path = Path(os.path.expanduser(self.settings.get("manifest") or ""))
        if not path.is_absolute():
            base = config.data_root or Path.cwd()
            path = base / path
        return path

    def load(self, config) -> TaskData:
        path = self.manifest_path(config)
        if not path.exists():
            return TaskData([], [DataProblem(self.name, str(path), (
                "manifest not found: set [data] root in harness.toml (or --data-root), or the task's own path in "
                f"[task.{self.name}] manifest = \"...\"; `avharness data import` builds one from the source "
                "datasets"))])
        data = read_manifest(path, self.name, self.check)
        if self.template:
            import dataclasses

            data.samples = [dataclasses.replace(s, question=self.template.format(question=s.question))
                            for s in data.samples]
        return data
