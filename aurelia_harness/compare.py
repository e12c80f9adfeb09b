"""Paired comparisons on the same samples: within a run (a strategy against baseline for one model and
task, two-sided) and across runs (`avharness compare RUN_A RUN_B`, the CI regression check, one-sided:
is B worse than A?). The methods, with their formulas, are in docs/compare.md.

- Right/wrong metrics: exact McNemar test on the discordant pairs, b (A right, B wrong) and c (A wrong,
  B right); under "no difference" b ~ Binomial(b + c, 1/2).
- Graded metrics: exact paired sign-flip (randomization) test of the mean difference, and a paired t
  interval for its size; no verdict below MIN_GRADED_N pairs.
- Many cells: Holm (default) or Benjamini-Hochberg adjusted p-values across every tested cell.
- Errors (Record.error: timeouts, crashes, a strategy's abstention) are not wrong answers: a sample with
  an error on either side is left out of the pairing and counted apart, unless errors_count_as_wrong.
  Unparseable answers are the model's own and stay wrong (0).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import HarnessError
from .journal import Journal
from .types import Record

MIN_GRADED_N = 10  # fewer pairs: "too few samples", no verdict (docs/compare.md says why)
EXACT_SIGN_FLIPS = 16  # up to this many non-zero differences every sign pattern is enumerated
RESAMPLES = 20_000  # random sign patterns beyond that; the smallest p-value is then 1 / 20,001
CORRECTIONS = ("holm", "bh", "none")
ALTERNATIVES = ("two-sided", "less", "greater")  # of the difference B - A


# ---- tests -----------------------------------------------------------------------------------


def _binomial_half_tail(k: int, n: int) -> float:
    """P[X >= k] for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(max(k, 0), n + 1)) / 2 ** n


def mcnemar_exact(b: int, c: int, alternative: str = "two-sided") -> float:
    """Exact McNemar p-value from the discordant counts b (A right, B wrong) and c (A wrong, B right).
    alternative is about B - A: "less" asks whether B is worse (b large), "greater" whether B is better."""
    n = b + c
    if n == 0:
        return 1.0
    if alternative == "less":
        return _binomial_half_tail(b, n)
    if alternative == "greater":
        return _binomial_half_tail(c, n)
    return min(1.0, 2 * _binomial_half_tail(max(b, c), n))


def sign_flip_p(diffs: list[float], alternative: str = "two-sided", resamples: int = RESAMPLES,
                seed: int = 0) -> float:
    """Paired randomization test of the mean difference. Under "A and B are the same system" each
    difference is as likely to have either sign, so the observed sum is compared with the sums of every
    sign pattern (exact, up to EXACT_SIGN_FLIPS non-zero differences) or of `resamples` random ones
    (p = (1 + hits) / (1 + resamples), which keeps the test's level). Zero differences carry no sign."""
    nonzero = np.asarray([d for d in diffs if abs(d) > 1e-12], dtype=float)
    k = len(nonzero)
    if k == 0:
        return 1.0
    magnitudes, observed = np.abs(nonzero), float(nonzero.sum())
    slack = 1e-9 * float(magnitudes.sum())  # sums equal to the observed one, up to rounding, count as hits

    def hits(sums: np.ndarray) -> int:
        if alternative == "less":
            return int(np.count_nonzero(sums <= observed + slack))
        if alternative == "greater":
            return int(np.count_nonzero(sums >= observed - slack))
        return int(np.count_nonzero(np.abs(sums) >= abs(observed) - slack))

    if k <= EXACT_SIGN_FLIPS:
        patterns = ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1) * 2 - 1
        return hits(patterns @ magnitudes) / 2 ** k
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // k)  # bounded memory per chunk of sign patterns
    count, done = 0, 0
    while done < resamples:
        m = min(rows, resamples - done)
        signs = rng.integers(0, 2, size=(m, k), dtype=np.int8) * 2 - 1
        count += hits(signs @ magnitudes)
        done += m
    return (1 + count) / (1 + resamples)


def student_t_cdf(t: float, df: int) -> float:
    """P[T <= t] for Student's t with integer df, from the finite series in cos(theta), theta =
    atan(t / sqrt(df)) (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2, total = math.cos(theta) ** 2, 0.0
    if df % 2:
        term = math.cos(theta)
        for j in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * j) / (2 * j + 1)
        two_sided = 2 / math.pi * (theta + math.sin(theta) * total)
    else:
        term = 1.0
        for j in range(1, df // 2 + 1):
            total += term
            term *= cos2 * (2 * j - 1) / (2 * j)
        two_sided = math.sin(theta) * total
    return (1 + two_sided) / 2


def student_t_quantile(q: float, df: int) -> float:
    """The t with P[T <= t] = q (0.5 <= q < 1), by bisection on student_t_cdf."""
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < q:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if student_t_cdf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2


def paired_t_interval(diffs: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """mean +- t(1 - (1 - level) / 2, n - 1) * s / sqrt(n); None when the differences show no spread."""
    n = len(diffs)
    if n < 2:
        return None
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    if sd <= 1e-12:  # equal differences up to rounding
        return None
    half = student_t_quantile(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def adjust(p_values: list[float | None], method: str) -> list[float | None]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values; None
    (a cell with no test) stays None and is not counted in the family."""
    if method not in CORRECTIONS:
        raise HarnessError(f"unknown correction '{method}' (one of {', '.join(CORRECTIONS)})")
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = list(p_values)
    if method == "none" or m == 0:
        return out
    if method == "holm":
        running = 0.0
        for rank, (p, i) in enumerate(tested):
            running = max(running, min(1.0, (m - rank) * p))
            out[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            p, i = tested[rank]
            running = min(running, m * p / (rank + 1))
            out[i] = running
    return out


# ---- one comparison ---------------------------------------------------------------------------


@dataclass
class Paired:
    model: str
    task: str
    a: str  # label of side A (a strategy, or a run folder)
    b: str
    n: int  # pairs tested: shared samples, less those left out for errors
    value_a: float
    value_b: float
    graded: bool
    alternative: str = "two-sided"
    alpha: float = 0.05
    p_value: float | None = None
    p_adjusted: float | None = None  # after the correction across the family of cells
    correction: str = "none"
    ci: tuple[float, float] | None = None  # graded: paired t interval of B - A at level 1 - alpha
    b_better: int = 0  # samples right in B only (right/wrong metrics)
    a_better: int = 0
    modality: str = "av"
    n_a_only: int = 0  # sample ids only one side holds (not paired)
    n_b_only: int = 0
    n_excluded: int = 0  # shared samples left out: an error on either side
    errors_a: dict = field(default_factory=dict)  # error type -> shared samples where A had it
    errors_b: dict = field(default_factory=dict)
    errors_count_as_wrong: bool = False
    note: str = ""  # why there is no test, where there is none

    @property
    def diff(self) -> float:
        return self.value_b - self.value_a

    @property
    def relative_gain(self) -> float | None:
        return (self.value_b - self.value_a) / self.value_a if self.value_a else None

    @property
    def test(self) -> str:
        return "sign_flip" if self.graded else "mcnemar_exact"

    @property
    def verdict(self) -> str:
        if self.p_value is None:
            return self.note
        p = self.p_value if self.p_adjusted is None else self.p_adjusted
        if p > self.alpha:
            return "no significant difference"
        if self.alternative == "less":
            return "B worse"
        if self.alternative == "greater":
            return "B better"
        return "B worse" if self.diff < 0 else "B better"

    @property
    def regression(self) -> bool:
        return self.verdict == "B worse"

    def to_json(self) -> dict:
        return {"model": self.model, "task": self.task, "a": self.a, "b": self.b, "modality": self.modality,
                "n": self.n, "value_a": self.value_a, "value_b": self.value_b, "diff": self.diff,
                "relative_gain": self.relative_gain, "test": self.test, "alternative": self.alternative,
                "alpha": self.alpha, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
                "correction": self.correction, "verdict": self.verdict,
                "ci": list(self.ci) if self.ci else None, "ci_level": 1 - self.alpha if self.ci else None,
                "a_only_right": self.a_better, "b_only_right": self.b_better,
                "n_a_only": self.n_a_only, "n_b_only": self.n_b_only, "n_excluded": self.n_excluded,
                "errors_a": self.errors_a, "errors_b": self.errors_b,
                "errors_count_as_wrong": self.errors_count_as_wrong, "note": self.note}


def _value(r: Record) -> float:
    return 0.0 if r.error or r.score is None else float(r.score)


def pair(model: str, task: str, label_a: str, recs_a: list[Record], label_b: str, recs_b: list[Record],
         graded: bool, alternative: str = "two-sided", alpha: float = 0.05,
         errors_count_as_wrong: bool = False) -> Paired | None:
    """Pair two cells on their shared sample ids and test them (uncorrected; see `correct`). None when
    they share no sample."""
    if alternative not in ALTERNATIVES:
        raise HarnessError(f"unknown alternative '{alternative}' (one of {', '.join(ALTERNATIVES)})")
    by_id_a = {r.sample_id: r for r in recs_a}
    by_id_b = {r.sample_id: r for r in recs_b}
    shared = sorted(set(by_id_a) & set(by_id_b))
    if not shared:
        return None
    errors_a = Counter(by_id_a[i].error.get("type", "error") for i in shared if by_id_a[i].error)
    errors_b = Counter(by_id_b[i].error.get("type", "error") for i in shared if by_id_b[i].error)
    kept = shared if errors_count_as_wrong else [i for i in shared
                                                  if not by_id_a[i].error and not by_id_b[i].error]
    a = [_value(by_id_a[i]) for i in kept]
    b = [_value(by_id_b[i]) for i in kept]
    n = len(kept)
    out = Paired(model, task, label_a, label_b, n, sum(a) / n if n else 0.0, sum(b) / n if n else 0.0, graded,
                 alternative=alternative, alpha=alpha, n_a_only=len(set(by_id_a) - set(by_id_b)),
                 n_b_only=len(set(by_id_b) - set(by_id_a)), n_excluded=len(shared) - n,
                 errors_a=dict(errors_a), errors_b=dict(errors_b), errors_count_as_wrong=errors_count_as_wrong)
    if n == 0:
        out.note = "no pairs without errors"
    elif graded:
        diffs = [y - x for x, y in zip(a, b)]
        out.ci = paired_t_interval(diffs, 1 - alpha)
        if n < MIN_GRADED_N:
            out.note = f"too few samples (n < {MIN_GRADED_N})"
        else:
            out.p_value = sign_flip_p(diffs, alternative)
    else:
        out.a_better = sum(1 for x, y in zip(a, b) if x >= 0.5 > y)  # right/wrong scores are 0 or 1
        out.b_better = sum(1 for x, y in zip(a, b) if y >= 0.5 > x)
        out.p_value = mcnemar_exact(out.a_better, out.b_better, alternative)
    return out


def correct(rows: list[Paired], method: str = "holm") -> list[Paired]:
    """Adjust the p-values of every tested row as one family (in place)."""
    for row, p in zip(rows, adjust([r.p_value for r in rows], method)):
        row.p_adjusted, row.correction = p, method
    return rows


# ---- many cells -------------------------------------------------------------------------------


def _groups(records: list[Record]) -> dict[tuple, list[Record]]:
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        groups[(r.model, r.task, r.strategy, r.modality)].append(r)
    return groups


def _declared_graded(recs: list[Record]) -> bool | None:
    flags = {r.graded for r in recs if r.graded is not None}
    return (True in flags) if flags else None


def within_run(records: list[Record], graded_tasks: set[str], reference: str = "baseline", alpha: float = 0.05,
               correction: str = "holm", errors_count_as_wrong: bool = False) -> list[Paired]:
    """Every strategy against `reference` for the same model and task: two-sided tests ("is there a
    difference"), corrected across all of the run's pairs."""
    groups = _groups(records)
    out = []
    for (model, task, strategy, modality), recs in sorted(groups.items()):
        if strategy == reference or (model, task, reference, modality) not in groups:
            continue
        base = groups[(model, task, reference, modality)]
        graded = _declared_graded(base + recs)
        p = pair(model, task, reference, base, strategy, recs, task in graded_tasks if graded is None else graded,
                 "two-sided", alpha, errors_count_as_wrong)
        if p:
            p.modality = modality
            out.append(p)
    return correct(out, correction)


def _graded_from_results(folder: Path) -> dict[str, bool]:
    """task -> graded, from a run's results.json (its "graded" flag; older files: metric "mean_score")."""
    try:
        rows = json.loads((Path(folder) / "results.json").read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {r["task"]: bool(r["graded"]) if "graded" in r else r.get("metric") == "mean_score"
            for r in rows if "task" in r}


def _graded(recs_a: list[Record], recs_b: list[Record], from_results: dict[str, bool], task: str) -> bool:
    """The records' own flag; for older records results.json's metric; else graded when any score lies
    strictly between 0 and 1."""
    declared = _declared_graded(recs_a + recs_b)
    if declared is not None:
        return declared
    if task in from_results:
        return from_results[task]
    return any(r.score is not None and 0 < r.score < 1 for r in recs_a + recs_b if not r.error)


def compare_records(records_a: list[Record], records_b: list[Record], label_a: str = "A", label_b: str = "B",
                    alpha: float = 0.05, correction: str = "holm", errors_count_as_wrong: bool = False,
                    alternative: str = "less", graded_tasks: dict[str, bool] | None = None
                    ) -> list[tuple[str, Paired]]:
    """(strategy label, comparison of A and B) for every model x task x strategy both hold; by default
    one-sided (is B worse?), corrected across the cells."""
    ga, gb = _groups(records_a), _groups(records_b)
    out = []
    for key in sorted(set(ga) & set(gb)):
        model, task, strategy, modality = key
        metrics = ({r.metric for r in ga[key] if r.metric}, {r.metric for r in gb[key] if r.metric})
        p = pair(model, task, label_a, ga[key], label_b, gb[key],
                 _graded(ga[key], gb[key], graded_tasks or {}, task), alternative, alpha, errors_count_as_wrong)
        if p is None:
            continue
        if metrics[0] and metrics[1] and metrics[0] != metrics[1]:
            p.p_value, p.ci = None, None
            p.note = f"metric differs ({', '.join(sorted(metrics[0]))} vs {', '.join(sorted(metrics[1]))})"
        p.modality = modality
        out.append((strategy if modality == "av" else f"{strategy} [{modality} only]", p))
    correct([p for _, p in out], correction)
    return out


def compare_runs(run_a: Path, run_b: Path, alpha: float = 0.05, correction: str = "holm",
                 errors_count_as_wrong: bool = False) -> list[tuple[str, Paired]]:
    """The regression check of two run folders: compare_records on their journals."""
    for run in (run_a, run_b):
        if not Path(run).is_dir() or not list(Path(run).glob("samples*.jsonl")):
            raise HarnessError(f"{run}: not a run folder (no samples*.jsonl journal in it)")
    graded = {**_graded_from_results(Path(run_b)), **_graded_from_results(Path(run_a))}
    return compare_records(Journal(run_a).read(), Journal(run_b).read(), str(run_a), str(run_b), alpha,
                           correction, errors_count_as_wrong, "less", graded)


# ---- output -----------------------------------------------------------------------------------


def _errors(counts: dict) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "0"


def left_out(p: Paired, name_a: str | None = None, name_b: str | None = None) -> str:
    """Which samples a comparison did not pair, in words; sides named name_a / name_b (default p.a, p.b)."""
    name_a, name_b = name_a or p.a, name_b or p.b
    parts = []
    if p.errors_a or p.errors_b:
        how = "counted as wrong" if p.errors_count_as_wrong else "left out"
        parts.append(f"errors {how}: {name_a} {_errors(p.errors_a)}, {name_b} {_errors(p.errors_b)}")
    if p.n_a_only or p.n_b_only:
        parts.append(f"not shared: {p.n_a_only} only in {name_a}, {p.n_b_only} only in {name_b}")
    return "; ".join(parts) or "-"


def describe_test(p: Paired) -> str:
    if p.p_value is None:
        return p.note
    sided = "one-sided" if p.alternative != "two-sided" else "two-sided"
    if p.graded:
        name = f"sign-flip {sided} p={p.p_value:.3g}"
        if p.ci:
            name += f", {100 * (1 - p.alpha):.0f}% t CI {100 * p.ci[0]:+.1f}..{100 * p.ci[1]:+.1f}"
    else:
        name = f"McNemar {sided} p={p.p_value:.3g} (right in A only {p.a_better}, in B only {p.b_better})"
    if p.correction != "none":
        name += f", {p.correction} {p.p_adjusted:.3g}"
    return name


def format_comparison(rows: list[tuple[str, Paired]]) -> str:
    lines = ["| model | task | strategy | n | A | B | B - A | test | verdict | left out |",
             "|---|---|---|---:|---:|---:|---:|---|---|---|"]
    for strategy, p in rows:
        lines.append(f"| {p.model} | {p.task} | {strategy} | {p.n} | {100 * p.value_a:.1f} | {100 * p.value_b:.1f} | "
                     f"{100 * p.diff:+.1f} | {describe_test(p)} | {p.verdict} | {left_out(p, 'A', 'B')} |")
    return "\n".join(lines)
