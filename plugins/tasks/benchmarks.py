"""The field's public audio-visual benchmarks as tasks (docs/benchmarks.md): WorldSense, Daily-Omni,
AV-Odyssey, OmniBench, AVHBench, OmniVideoBench, JointAVBench, AVUT and MUSIC-AVQA's test set.

Their manifests come from `avharness data import NAME` (plugins/tasks/importers.py). What a task file's
[benchmark] table adds to a ManifestTask:

- `breakdowns`: metadata fields the benchmark's paper reports accuracy by (a list-valued field, such as
  WorldSense's audio_class, counts a question under each of its values), with n and accuracy each;
- `duration_buckets`: upper edges in seconds over metadata duration_s, reported as breakdowns.duration;
- `[benchmark.groups.NAME]`: `field` and named lists of that metadata field's values, reported as
  breakdowns.NAME (JointAVBench's scene spans: its tasks grouped; a value may be in several groups).

`avharness data breakdown RUN` writes them to RUN/breakdowns.json from the run's recorded scores. (They are
not results.json's corpus metrics: summary.md reads caption metrics from every row that has corpus metrics.)

Shortcut checks are [task.NAME] settings, so that a run with them keeps its own sample ids and hash:
- `permutations = K` asks each multiple-choice question K+1 times, its options rotated by 0..K places
  (the correct option moves with them); the breakdown's permutation entry adds accuracy counting a question
  only when it is right in every order, and lists the question ids answered right in every order. Run with
  `--modality text` this is the answer-permutation text-shortcut check: those ids are the questions the
  question text alone answers;
- `exclude_ids = "FILE"` leaves out the questions listed in FILE (a JSON list, or one id a line): the
  shortcut filter, applied to later runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import defaultdict
from pathlib import Path

from aurelia_harness import scoring
from aurelia_harness.errors import ConfigError
from aurelia_harness.tasks import DataProblem, ManifestTask, TaskData
from aurelia_harness.types import Sample, Score

ROTATION_MARK = "#rot"  # sample id of a rotated copy: "<question id>#rot<k>"


def base_id(sample: Sample) -> str:
    return sample.metadata.get("question_id", sample.id)


def rotate(sample: Sample, k: int) -> Sample:
    """The sample with its options rotated left by k places and the answer letter following its option."""
    n = len(sample.options)
    options = sample.options[k:] + sample.options[:k]
    answer = scoring.LETTERS[(scoring.LETTERS.index(sample.answer) - k) % n]
    return dataclasses.replace(sample, id=f"{sample.id}{ROTATION_MARK}{k}", options=options, answer=answer,
                               metadata={**sample.metadata, "question_id": sample.id, "rotation": k})


def read_id_list(path: Path) -> set[str]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {line.strip() for line in text.splitlines() if line.strip()}
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of question ids (or one id a line)")
    return {str(i) for i in data}


def bucket_label(seconds: float, edges: list[float]) -> str:
    """The duration bucket a clip falls in, named by its edges in seconds: "<=60s", "60-300s", ">600s"."""
    lower = 0
    for edge in edges:
        if seconds <= edge:
            return f"<={edge:g}s" if lower == 0 else f"{lower:g}-{edge:g}s"
        lower = edge
    return f">{lower:g}s"


class BenchmarkTask(ManifestTask):
    """A public benchmark: the ManifestTask with the paper's breakdowns and the shortcut-check settings."""

    def __init__(self, definition: dict, source: str = ""):
        super().__init__(definition, source)
        spec = definition.get("benchmark", {})
        self.breakdowns = list(spec.get("breakdowns", []))
        self.duration_buckets = [float(e) for e in spec.get("duration_buckets", [])]
        self.value_groups = {name: (table["field"], {g: set(v) for g, v in table.items() if g != "field"})
                       for name, table in spec.get("groups", {}).items()}
        self.defaults = {**self.defaults, "permutations": 0, "exclude_ids": ""}

    def configure(self, settings: dict | None) -> None:
        super().configure(settings)
        permutations = self.settings["permutations"]
        if not isinstance(permutations, int) or permutations < 0:
            raise ConfigError(f"task '{self.name}': permutations must be a whole number >= 0, not {permutations!r}")

    def load(self, config) -> TaskData:
        path = self.manifest_path(config)
        if not path.exists():
            # a benchmark of the `omni` group that is not under [data] root is reported, not run
            return TaskData([], [DataProblem(self.name, str(path), (
                f"not present (manifest not found); build it with `avharness data import "
                f"{self.definition.get('benchmark', {}).get('importer', self.name)} SRC --out {path.parent}` "
                f"(see docs/benchmarks.md), or point [task.{self.name}] manifest at it"))])
        data = super().load(config)
        excluded = self.settings["exclude_ids"]
        if excluded:
            drop = read_id_list(Path(os.path.expanduser(excluded)))
            data.samples = [s for s in data.samples if s.id not in drop]
        k = self.settings["permutations"]
        if k:
            data.samples = [rotate(s, r) for s in data.samples for r in range(min(k, len(s.options) - 1) + 1)
                            if s.options] + [s for s in data.samples if not s.options]
        return data

    def breakdown(self, scored: list[tuple[float, Sample, object]]) -> dict:
        """The paper's breakdowns over (score, sample, parsed answer) of the answered samples, and the
        permutation check where the run asked each question in several orders."""
        pairs = [(value, sample) for value, sample, _ in scored]
        out = {"n": len(pairs), "accuracy": sum(v for v, _ in pairs) / len(pairs) if pairs else 0.0,
               "breakdowns": self.breakdown_table(pairs)}
        if any("rotation" in s.metadata for _, s in pairs):
            out["permutation"] = self.permutation_summary(pairs)
        return out

    def values_of(self, sample: Sample, field: str) -> list[str]:
        value = sample.metadata.get(field)
        if value in (None, ""):
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def breakdown_table(self, scored: list[tuple[float, Sample]]) -> dict:
        table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for value, sample in scored:
            for field in self.breakdowns:
                for label in self.values_of(sample, field):
                    table[field][label].append(value)
            for name, (field, groups) in self.value_groups.items():
                for group, members in groups.items():
                    if set(self.values_of(sample, field)) & members:
                        table[name][group].append(value)
            seconds = sample.metadata.get("duration_s")
            if self.duration_buckets and isinstance(seconds, (int, float)):
                table["duration"][bucket_label(seconds, self.duration_buckets)].append(value)
        return {field: {label: {"n": len(v), "accuracy": sum(v) / len(v)} for label, v in sorted(cells.items())}
                for field, cells in table.items()}

    def permutation_summary(self, scored: list[tuple[float, Sample]]) -> dict:
        by_question: dict[str, list[float]] = defaultdict(list)
        for value, sample in scored:
            by_question[base_id(sample)].append(value)
        every = sorted(q for q, values in by_question.items() if all(v == 1.0 for v in values))
        return {"questions": len(by_question), "orders_per_question": max(map(len, by_question.values())),
                "accuracy_in_every_order": len(every) / len(by_question) if by_question else 0.0,
                "right_in_every_order": every}


class OmniBenchTask(BenchmarkTask):
    """OmniBench, with its textual-substitution settings: `context = "image_caption"` replaces the image
    with its annotated caption, "audio_transcript" the audio with its transcript, "both" both."""

    CONTEXTS = {"": (), "image_caption": ("image",), "audio_transcript": ("audio",),
                "both": ("image", "audio")}

    def __init__(self, definition: dict, source: str = ""):
        super().__init__(definition, source)
        self.defaults = {**self.defaults, "context": ""}

    def configure(self, settings: dict | None) -> None:
        super().configure(settings)
        if self.settings["context"] not in self.CONTEXTS:
            raise ConfigError(f"task '{self.name}': context must be one of "
                              f"{', '.join(repr(c) for c in self.CONTEXTS)}")

    def check(self, sample: Sample) -> str | None:
        return None if self.settings["context"] else super().check(sample)

    def load(self, config) -> TaskData:
        data = super().load(config)
        replaced = self.CONTEXTS[self.settings["context"]]
        if replaced:
            data.samples = [self.substitute(s, replaced) for s in data.samples]
        return data

    @staticmethod
    def substitute(sample: Sample, replaced: tuple[str, ...]) -> Sample:
        lines = []
        if "image" in replaced:
            lines.append(f"Image content: {sample.metadata.get('image_content', '')}")
        if "audio" in replaced:
            lines.append(f"Audio content: {sample.metadata.get('audio_content', '')}")
        media = tuple(m for m in sample.media if m.kind not in replaced)
        return dataclasses.replace(sample, question="\n".join(lines + [sample.question]), media=media)


_YES_NO = re.compile(r"\b(yes|no)\b", re.I)


def yes_or_no(text: str) -> str | None:
    """"yes" or "no" from a reply: its first word when that is one, else the only one of the two it names."""
    final = scoring.final_statement(text).lower()
    first = re.match(r"\W*(yes|no)\b", final)
    if first:
        return first.group(1)
    found = {m.group(1).lower() for m in _YES_NO.finditer(final)}
    return found.pop() if len(found) == 1 else None


class YesNoTask(BenchmarkTask):
    """AVHBench's judgement tasks: a yes/no answer per question, and per task the paper's accuracy,
    precision, recall and F1 with "yes" as the positive class, and the share of "yes" replies."""

    def score(self, sample: Sample, text: str) -> Score:
        said = yes_or_no(text)
        if said is None:
            return Score(0.0, None, True, {"reason": "neither yes nor no"})
        return Score(float(said == str(sample.answer).strip().lower()), said, False)

    def breakdown(self, scored: list[tuple[float, Sample, object]]) -> dict:
        out = super().breakdown(scored)
        by_task: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for _, sample, said in scored:
            by_task[sample.metadata.get("task", "")].append((said, str(sample.answer).lower()))
        out["hallucination"] = {task: yes_no_metrics(rows) for task, rows in sorted(by_task.items())}
        return out


def yes_no_metrics(rows: list[tuple[str | None, str]]) -> dict:
    """Accuracy, precision, recall, F1 ("yes" positive) and the share of yes replies over (said, gold)
    pairs; an unreadable reply counts as wrong and as not "yes"."""
    tp = sum(1 for said, gold in rows if said == "yes" and gold == "yes")
    fp = sum(1 for said, gold in rows if said == "yes" and gold == "no")
    fn = sum(1 for said, gold in rows if said != "yes" and gold == "yes")
    right = sum(1 for said, gold in rows if said == gold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(rows), "accuracy": right / len(rows) if rows else 0.0, "precision": precision,
            "recall": recall, "f1": f1, "yes_share": (tp + fp) / len(rows) if rows else 0.0}


KINDS = {"benchmark": BenchmarkTask, "omnibench": OmniBenchTask, "yes-no": YesNoTask}


def breakdown_report(run_dir: Path, tasks: dict, data_root: Path | None = None) -> dict:
    """`avharness data breakdown RUN`: per model x task x strategy x modality of a finished run, the
    benchmark's breakdowns from the recorded scores (samples*.jsonl), with each sample's metadata read
    again from its manifest under the run's data root (or `data_root`) with the run's [task.NAME] settings.
    Samples that errored are left out, as in results.json's value."""
    from aurelia_harness.config import RunConfig
    from aurelia_harness.types import Record

    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    ran = results.get("run", {}).get("config", {})
    root = Path(data_root or ran.get("data_root") or ".")
    config = RunConfig(data_root=root, output=run_dir)
    cells: dict[tuple, list[Record]] = defaultdict(list)
    for path in sorted(run_dir.glob("samples*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = Record.from_json(json.loads(line))
                if isinstance(tasks.get(rec.task), BenchmarkTask):
                    cells[(rec.model, rec.task, rec.strategy, rec.modality)].append(rec)
    samples: dict[str, dict[str, Sample]] = {}
    rows = []
    for (model, task_name, strategy, modality), recs in sorted(cells.items()):
        task = tasks[task_name]
        if task_name not in samples:
            task.configure((ran.get("task_settings") or {}).get(task_name))
            samples[task_name] = {s.id: s for s in task.load(config).samples}
        known = samples[task_name]
        scored = [(float(r.score or 0.0), known[r.sample_id], r.parsed) for r in recs
                  if not r.error and r.sample_id in known]
        rows.append({"model": model, "task": task_name, "strategy": strategy, "modality": modality,
                     "errors": sum(1 for r in recs if r.error),
                     "not_in_manifest": sum(1 for r in recs if r.sample_id not in known), **task.breakdown(scored)})
    report = {"run": str(run_dir), "data_root": str(root), "results": rows}
    tmp = run_dir / "breakdowns.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(run_dir / "breakdowns.json")
    return report
