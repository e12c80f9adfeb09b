"""Paired comparisons on the same samples: within a run (a strategy against baseline for one model and
task) and across runs (`avharness compare RUN_A RUN_B`, the CI regression check).

Right/wrong metrics: exact McNemar test — under "no difference" the discordant pairs split like a fair
coin, two-sided p = min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2). Graded metrics: a paired
bootstrap 95% interval of the mean difference (2,000 resamples, fixed seed). Errors and unparseable
answers count as wrong (0), as everywhere in the reports.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError
from .journal import Journal
from .types import Record


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (A right, B wrong) and c (A wrong, B right)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    if not diffs:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return (means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])


def _value(r: Record) -> float:
    return 0.0 if r.error or r.score is None else float(r.score)


@dataclass
class Paired:
    model: str
    task: str
    a: str  # label of side A (a strategy, or a run folder)
    b: str
    n: int
    value_a: float
    value_b: float
    graded: bool
    p_value: float | None = None
    ci95: tuple[float, float] | None = None
    b_better: int = 0  # samples right in B only (right/wrong metrics)
    a_better: int = 0
    modality: str = "av"

    @property
    def diff(self) -> float:
        return self.value_b - self.value_a

    @property
    def relative_gain(self) -> float | None:
        return (self.value_b - self.value_a) / self.value_a if self.value_a else None

    def significant(self, alpha: float = 0.05) -> bool:
        if self.graded:
            return self.ci95 is not None and (self.ci95[0] > 0 or self.ci95[1] < 0)
        return self.p_value is not None and self.p_value < alpha

    def to_json(self) -> dict:
        return {"model": self.model, "task": self.task, "a": self.a, "b": self.b, "modality": self.modality, "n": self.n,
                "value_a": self.value_a, "value_b": self.value_b, "diff": self.diff,
                "relative_gain": self.relative_gain, "test": "bootstrap" if self.graded else "mcnemar_exact",
                "p_value": self.p_value, "ci95": list(self.ci95) if self.ci95 else None,
                "a_only_right": self.a_better, "b_only_right": self.b_better}


def pair(model: str, task: str, label_a: str, recs_a: list[Record], label_b: str, recs_b: list[Record],
         graded: bool) -> Paired | None:
    a = {r.sample_id: _value(r) for r in recs_a}
    b = {r.sample_id: _value(r) for r in recs_b}
    common = sorted(set(a) & set(b))
    if not common:
        return None
    va = sum(a[i] for i in common) / len(common)
    vb = sum(b[i] for i in common) / len(common)
    out = Paired(model, task, label_a, label_b, len(common), va, vb, graded)
    if graded:
        out.ci95 = paired_bootstrap([b[i] - a[i] for i in common])
    else:
        out.a_better = sum(1 for i in common if a[i] >= 0.5 > b[i])
        out.b_better = sum(1 for i in common if b[i] >= 0.5 > a[i])
        out.p_value = mcnemar_exact(out.a_better, out.b_better)
    return out


def _groups(records: list[Record]) -> dict[tuple, list[Record]]:
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        groups[(r.model, r.task, r.strategy, r.modality)].append(r)
    return groups


def within_run(records: list[Record], graded_tasks: set[str], reference: str = "baseline") -> list[Paired]:
    """Every strategy against `reference` for the same model and task."""
    groups = _groups(records)
    out = []
    for (model, task, strategy, modality), recs in sorted(groups.items()):
        if strategy == reference or (model, task, reference, modality) not in groups:
            continue
        p = pair(model, task, reference, groups[(model, task, reference, modality)], strategy, recs,
                 task in graded_tasks)
        if p:
            p.modality = modality
            out.append(p)
    return out


def _graded_from_results(folder: Path) -> set[str]:
    import json

    try:
        rows = json.loads((folder / "results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return set()
    return {r["task"] for r in rows if r.get("metric") == "mean_score"}


def compare_runs(run_a: Path, run_b: Path) -> list[tuple[str, Paired]]:
    """(strategy, comparison of A and B) for every model x task x strategy both runs hold."""
    for run in (run_a, run_b):
        if not Path(run).is_dir() or not list(Path(run).glob("samples*.jsonl")):
            raise HarnessError(f"{run}: not a run folder (no samples*.jsonl journal in it)")
    ga, gb = _groups(Journal(run_a).read()), _groups(Journal(run_b).read())
    graded = _graded_from_results(Path(run_a)) | _graded_from_results(Path(run_b))
    out = []
    for key in sorted(set(ga) & set(gb)):
        model, task, strategy, modality = key
        p = pair(model, task, str(run_a), ga[key], str(run_b), gb[key], task in graded)
        if p:
            p.modality = modality
            out.append((strategy if modality == "av" else f"{strategy} [{modality} only]", p))
    return out


def format_comparison(rows: list[tuple[str, Paired]], alpha: float) -> str:
    lines = ["| model | task | strategy | n | A | B | B - A | test | significant |", "|---|---|---|---:|---:|---:|---:|---|---|"]
    for strategy, p in rows:
        test = (f"95% CI {100 * p.ci95[0]:+.1f}..{100 * p.ci95[1]:+.1f}" if p.graded
                else f"McNemar p={p.p_value:.3g} ({p.a_better} vs {p.b_better})")
        sig = ("B worse" if p.diff < 0 else "B better") if p.significant(alpha) else "no"
        lines.append(f"| {p.model} | {p.task} | {strategy} | {p.n} | {100 * p.value_a:.1f} | {100 * p.value_b:.1f} | "
                     f"{100 * p.diff:+.1f} | {test} | {sig} |")
    return "\n".join(lines)
