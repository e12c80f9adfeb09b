import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from aurelia_harness.cli import main
from aurelia_harness.compare import (MIN_GRADED_N, adjust, compare_records, mcnemar_exact, pair, paired_t_interval,
                                     sign_flip_p, student_t_quantile, within_run)
from aurelia_harness.report import summary_markdown
from aurelia_harness.types import Record

ALPHA = 0.05


def rec(sample: str, score: float | None, task: str = "t", strategy: str = "baseline", model: str = "m",
        error: str | None = None, graded: bool | None = False, metric: str = "accuracy") -> Record:
    return Record(model=model, task=task, strategy=strategy, sample_id=sample,
                  key=f"{model}|{task}|{strategy}|{sample}", model_hash="h", strategy_hash=strategy,
                  score=None if error else score,
                  error={"type": error, "message": error} if error else None, graded=graded,
                  metric=metric if graded is not None else "")


# ---- the tests themselves -------------------------------------------------------------------


def test_exact_mcnemar_one_and_two_sided():
    assert mcnemar_exact(0, 0) == mcnemar_exact(0, 0, "less") == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    # b = A right, B wrong: B worse is b large; one-sided P[X >= b], X ~ Bin(b + c, 1/2)
    assert mcnemar_exact(6, 0, "less") == pytest.approx(1 / 64)
    assert mcnemar_exact(9, 1, "less") == pytest.approx(11 / 1024)
    assert mcnemar_exact(1, 9, "less") == pytest.approx(1 - 1 / 1024)
    assert mcnemar_exact(0, 6, "greater") == pytest.approx(1 / 64)


def test_sign_flip_is_exact_on_small_cases_and_is_mcnemar_for_right_wrong():
    assert sign_flip_p([0.0] * 20, "less") == 1.0
    assert sign_flip_p([-1, -1, -1], "less") == pytest.approx(1 / 8)
    # sign patterns of (0.5, 0.2) sum to 0.7, 0.3, -0.3, -0.7; observed -0.3
    assert sign_flip_p([-0.5, 0.2], "less") == pytest.approx(2 / 4)
    assert sign_flip_p([-0.5, 0.2], "two-sided") == pytest.approx(4 / 4)
    assert sign_flip_p([-0.5, -0.2], "two-sided") == pytest.approx(2 / 4)
    # right/wrong differences (-1, 0, +1): the test is exactly McNemar's (zeros carry no sign)
    diffs = [-1] * 9 + [1] * 2 + [0] * 30
    assert sign_flip_p(diffs, "less") == pytest.approx(mcnemar_exact(9, 2, "less"))
    assert sign_flip_p(diffs, "two-sided") == pytest.approx(mcnemar_exact(9, 2))
    # beyond 16 non-zero differences random sign patterns: p = (1 + hits) / (1 + R) never reaches 0
    assert sign_flip_p([-0.1] * 40, "less") == pytest.approx(1 / 20_001)


def test_student_t_quantiles_match_tables():
    # two-sided 95% and one-sided 95% critical values from standard t tables
    for q, df, table in ((0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 9, 2.262), (0.95, 19, 1.729),
                         (0.975, 30, 2.042), (0.975, 1000, 1.962)):
        assert student_t_quantile(q, df) == pytest.approx(table, abs=1e-3)


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, None, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, kept non-decreasing
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, None, 0.02])
    # BH: m * p / rank, kept non-increasing from the top: .02, .02, .04, .04
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, None, 0.02])
    assert adjust(p, "none") == p


def test_t_interval_covers_at_small_n():
    """The percentile bootstrap this replaced covered ~89% at n = 10. Normal differences: the t interval
    is exact, so coverage must be 0.95 within 3 binomial SEs of 4,000 intervals (SE 0.0034)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(4000):
        ci = paired_t_interval(list(rng.normal(0.05, 0.1, 10)), 0.95)
        covered += ci[0] <= 0.05 <= ci[1]
    assert abs(covered / 4000 - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / 4000)
    assert paired_t_interval([-0.01] * 12) is None  # no spread: no interval, rather than a zero-width one


def test_a_few_tiny_differences_among_ties_give_no_verdict():
    """Deterministic runs that differ on 3 of 20 samples, each 0.01 worse: a one-sided t test would call it
    (t = -1.83, p = 0.041), but only 3 signs carry information, all negative with chance 1/8."""
    a = [rec(str(i), 0.5, graded=True, metric="mean_score") for i in range(20)]
    b = [rec(str(i), 0.49 if i < 3 else 0.5, graded=True, metric="mean_score") for i in range(20)]
    p = pair("m", "t", "A", a, "B", b, True, "less")
    assert p.p_value == pytest.approx(1 / 8) and not p.regression


# ---- single comparisons -----------------------------------------------------------------------


def test_a_single_sample_slightly_worse_gives_no_verdict():
    for n in (1, 3):
        a = [rec(str(i), 0.50, graded=True, metric="mean_score") for i in range(n)]
        b = [rec(str(i), 0.49, graded=True, metric="mean_score") for i in range(n)]
        p = pair("m", "t", "A", a, "B", b, True, "less")
        assert p.p_value is None and p.verdict == f"too few samples (n < {MIN_GRADED_N})" and not p.regression


def test_errors_are_left_out_of_the_pairing_and_counted():
    a = [rec(str(i), 1.0) for i in range(20)]
    b = [rec(str(i), 1.0, error="timeout" if i < 7 else None) for i in range(20)] + [rec("extra", 1.0)]
    p = pair("m", "t", "A", a, "B", b, False, "less")
    assert (p.n, p.n_excluded, p.errors_a, p.errors_b, p.n_b_only) == (13, 7, {}, {"timeout": 7}, 1)
    assert p.p_value == 1.0 and not p.regression
    counted = pair("m", "t", "A", a, "B", b, False, "less", errors_count_as_wrong=True)
    assert counted.n == 20 and counted.a_better == 7 and counted.p_value == pytest.approx(1 / 128)
    assert counted.regression


def test_within_run_pairs_what_both_strategies_answered():
    base = [rec(str(i), float(i % 2)) for i in range(12)]
    aurelia = [rec(str(i), float(i % 2), strategy="aurelia", error="below_threshold" if i < 4 else None)
               for i in range(12)]
    cot = [rec(str(i), 1.0, strategy="cot") for i in range(12)]
    rows = within_run(base + aurelia + cot, set())
    by_strategy = {p.b: p for p in rows}
    abstain = by_strategy["aurelia"]
    assert abstain.alternative == "two-sided" and abstain.correction == "holm"
    assert (abstain.n, abstain.n_excluded, abstain.errors_b) == (8, 4, {"below_threshold": 4})
    assert abstain.diff == 0 and abstain.p_value == 1.0
    # cot right on the 6 samples baseline got wrong: two-sided p = 2/64; Holm over the 2 rows doubles it
    assert by_strategy["cot"].p_value == pytest.approx(2 / 64)
    assert by_strategy["cot"].p_adjusted == pytest.approx(4 / 64)
    assert by_strategy["cot"].verdict == "no significant difference"
    summary = summary_markdown({"results": [], "comparisons": [p.to_json() for p in rows]})
    assert "two-sided tests at alpha 0.05, p-values Holm-adjusted" in summary
    assert "aurelia: 4 below_threshold" in summary and "McNemar p=0.0312, adjusted 0.0625" in summary


def test_within_run_honours_alpha():
    base = [rec(str(i), 0.0) for i in range(6)]
    cot = [rec(str(i), 1.0, strategy="cot") for i in range(6)]
    assert within_run(base + cot, set(), alpha=0.05)[0].verdict == "B better"  # p = 2/64
    assert within_run(base + cot, set(), alpha=0.01)[0].verdict == "no significant difference"


def test_the_records_own_metric_decides_not_a_cut_at_one_half():
    # graded scores that a 0.5 cut would call "all right in A, all wrong in B"
    a = [rec(str(i), 0.52 + 0.01 * (i % 3), graded=None) for i in range(12)]
    b = [rec(str(i), 0.48 + 0.01 * (i % 3), graded=None) for i in range(12)]
    (_, p), = compare_records(a, b)
    assert p.graded and p.test == "sign_flip" and p.p_value == pytest.approx(1 / 4096)  # 12 signs, all negative
    (_, declared), = compare_records([rec(str(i), 1.0) for i in range(12)], [rec(str(i), 0.0) for i in range(12)])
    assert not declared.graded and declared.test == "mcnemar_exact"
    # the task's metric changed between the runs: no test
    renamed = [rec(str(i), 0.0, metric="exact_match") for i in range(12)]
    (_, differs), = compare_records([rec(str(i), 1.0) for i in range(12)], renamed)
    assert differs.p_value is None and differs.verdict == "metric differs (accuracy vs exact_match)"


# ---- simulation: level and power of the whole compare -----------------------------------------


def _right_wrong_cell(rng: random.Random, task: str, n: int, p10: float, p01: float) -> tuple[list, list]:
    """n paired samples: P(A right, B wrong) = p10, P(A wrong, B right) = p01, the rest split evenly."""
    a, b = [], []
    for i in range(n):
        u = rng.random()
        if u < p10 + p01:
            x, y = (1.0, 0.0) if u < p10 else (0.0, 1.0)
        else:
            x = y = float(rng.random() < 0.5)
        a.append(rec(str(i), x, task=task))
        b.append(rec(str(i), y, task=task))
    return a, b


def _graded_cell(rng: random.Random, task: str, n: int, shift: float, width: float, share_changed: float = 1.0):
    """Grades in [0.2, 0.8]; B - A ~ Uniform(shift - width, shift + width) on a share of samples, else 0."""
    a, b = [], []
    for i in range(n):
        x = rng.uniform(0.2, 0.8)
        y = x + rng.uniform(shift - width, shift + width) if rng.random() < share_changed else x
        a.append(rec(str(i), x, task=task, graded=True, metric="mean_score"))
        b.append(rec(str(i), y, task=task, graded=True, metric="mean_score"))
    return a, b


def _cells(make, count: int) -> tuple[list, list]:
    records_a, records_b = [], []
    for c in range(count):
        a, b = make(f"cell{c}")
        records_a += a
        records_b += b
    return records_a, records_b


def _share_worse(rows) -> float:
    return sum(p.regression for _, p in rows) / len(rows)


def test_no_true_difference_gives_at_most_alpha_false_regressions():
    """300 cells with no difference (150 right/wrong, 100 graded, 50 graded where only 20% of samples
    change, as with deterministic decoding), uncorrected one-sided tests: each is exact, so the false
    share is at most alpha; allowed 3 binomial SEs above it, sqrt(alpha (1 - alpha) / 300) = 0.0126."""
    rng = random.Random(11)
    a1, b1 = _cells(lambda t: _right_wrong_cell(rng, t, 50, 0.1, 0.1), 150)
    a2, b2 = _cells(lambda t: _graded_cell(rng, "g" + t, 30, 0.0, 0.15), 100)
    a3, b3 = _cells(lambda t: _graded_cell(rng, "z" + t, 30, 0.0, 0.15, share_changed=0.2), 50)
    rows = compare_records(a1 + a2 + a3, b1 + b2 + b3, alpha=ALPHA, correction="none")
    assert len(rows) == 300 and all(p.p_value is not None for _, p in rows)
    assert _share_worse(rows) <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 300)


def test_holm_keeps_the_family_wise_rate_where_no_correction_does_not():
    """200 families of 10 null right/wrong cells. Uncorrected, some cell of a family fails far more often
    than alpha; Holm (and BH, which equals it under no true difference) keep the share of families with
    any false regression within 3 SEs of alpha (SE sqrt(alpha (1 - alpha) / 200) = 0.0154)."""
    rng = random.Random(5)
    families = [_cells(lambda t: _right_wrong_cell(rng, t, 40, 0.15, 0.15), 10) for _ in range(200)]
    tolerance = 3 * math.sqrt(ALPHA * (1 - ALPHA) / 200)
    rate = {method: sum(any(p.regression for _, p in compare_records(a, b, correction=method))
                        for a, b in families) / 200
            for method in ("none", "holm", "bh")}
    assert rate["none"] > ALPHA + tolerance
    assert rate["holm"] <= ALPHA + tolerance and rate["bh"] <= ALPHA + tolerance


def _mcnemar_power(n: int, p10: float, p01: float, alpha: float) -> float:
    """Exact power of the one-sided exact McNemar test: D ~ Bin(n, p10 + p01) discordant pairs, of which
    b ~ Bin(D, p10 / (p10 + p01)) favour A; reject when P[Bin(D, 1/2) >= b] <= alpha."""
    q, r = p10 + p01, p10 / (p10 + p01)
    power = 0.0
    for d in range(n + 1):
        crit = next((k for k in range(d + 1) if sum(math.comb(d, i) for i in range(k, d + 1)) / 2 ** d <= alpha), d + 1)
        reject = sum(math.comb(d, k) * r ** k * (1 - r) ** (d - k) for k in range(crit, d + 1))
        power += math.comb(n, d) * q ** d * (1 - q) ** (n - d) * reject
    return power


def test_a_planted_right_wrong_regression_is_found_at_the_exact_power():
    n, p10, p01, cells = 80, 0.15, 0.05, 300
    expected = _mcnemar_power(n, p10, p01, ALPHA)
    assert 0.5 < expected < 0.9  # a design where power is neither trivial nor certain
    rng = random.Random(2)
    rows = compare_records(*_cells(lambda t: _right_wrong_cell(rng, t, n, p10, p01), cells), correction="none")
    assert abs(_share_worse(rows) - expected) <= 3 * math.sqrt(expected * (1 - expected) / cells)


def test_a_planted_graded_regression_is_found_at_the_t_test_power():
    """B - A ~ Uniform(-0.03 - 0.15, -0.03 + 0.15), n = 30. Reference: the one-sided paired t test's power
    on the same distribution (100,000 vectorised draws, SE 0.0016); the sign-flip test has the same power
    to first order (Hoeffding 1952); on three such designs (n = 30, 40, 60; 3,000 cells each, SE 0.009)
    they differed by at most 0.014. Allowed: 3 SEs of the 200 simulated cells, plus 0.02 for that gap."""
    n, shift, width, cells = 30, -0.03, 0.15, 200
    draws = np.random.default_rng(9).uniform(shift - width, shift + width, (100_000, n))
    t_stat = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
    expected = float(np.mean(t_stat <= -student_t_quantile(1 - ALPHA, n - 1)))
    assert 0.45 < expected < 0.75
    rng = random.Random(4)
    rows = compare_records(*_cells(lambda t: _graded_cell(rng, t, n, shift, width), cells), correction="none")
    assert all(p.test == "sign_flip" for _, p in rows)
    assert abs(_share_worse(rows) - expected) <= 3 * math.sqrt(expected * (1 - expected) / cells) + 0.02


# ---- the command ------------------------------------------------------------------------------


def _write_run(folder: Path, records: list[Record], results: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "samples.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_cli_fails_only_on_a_regression(tmp_path, capsys):
    good = _write_run(tmp_path / "good", [rec(str(i), 1.0) for i in range(10)])
    same = _write_run(tmp_path / "same", [rec(str(i), 1.0) for i in range(10)])
    worse = _write_run(tmp_path / "worse", [rec(str(i), float(i >= 8)) for i in range(10)])
    capsys.readouterr()
    assert main(["compare", str(good), str(same), "--fail-on-regression"]) == 0
    assert "no significant regression" in capsys.readouterr().out
    assert main(["compare", str(good), str(worse)]) == 0  # reported, but only --fail-on-regression fails
    assert main(["compare", str(good), str(worse), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    # 8 samples right in A only: one-sided p = 1/256
    assert "McNemar one-sided p=0.00391 (right in A only 8, in B only 0)" in out
    assert "B worse" in out and "1 significant regression" in out
    assert "Holm (family-wise) across 1 tested cell" in out
    assert main(["compare", str(good), str(worse), "--fail-on-regression", "--alpha", "0.001"]) == 0
    assert main(["compare", str(good), str(tmp_path / "nowhere")]) == 2
    assert main(["compare", str(good), str(worse), "--alpha", "1.5"]) == 2


def test_cli_errors_alone_are_not_a_regression_unless_asked(tmp_path, capsys):
    good = _write_run(tmp_path / "good", [rec(str(i), 1.0) for i in range(10)])
    timeouts = _write_run(tmp_path / "timeouts", [rec(str(i), 1.0, error="timeout" if i < 7 else None)
                                                  for i in range(10)])
    capsys.readouterr()
    assert main(["compare", str(good), str(timeouts), "--fail-on-regression"]) == 0
    out = capsys.readouterr().out
    assert "errors left out: A 0, B 7 timeout" in out and "Errors on shared samples: A 0, B 7" in out
    assert "no significant regression" in out
    assert main(["compare", str(good), str(timeouts), "--fail-on-regression", "--errors-count-as-wrong"]) == 1
    out = capsys.readouterr().out
    assert "errors counted as wrong: A 0, B 7 timeout" in out
    assert "McNemar one-sided p=0.00781 (right in A only 7, in B only 0)" in out


def test_cli_graded_without_results_json_and_the_correction_flag(tmp_path, capsys):
    # older records (graded None), no results.json: fractional scores make the task graded
    a = [rec(str(i), 0.6 + 0.01 * (i % 5), task="caption", graded=None) for i in range(12)]
    a += [rec(str(i), 1.0, task="mcq", graded=None) for i in range(12)]
    b = [rec(str(i), 0.55 + 0.01 * (i % 4), task="caption", graded=None) for i in range(12)]
    b += [rec(str(i), float(i >= 6), task="mcq", graded=None) for i in range(12)]
    run_a, run_b = _write_run(tmp_path / "a", a), _write_run(tmp_path / "b", b)
    capsys.readouterr()
    assert main(["compare", str(run_a), str(run_b), "--fail-on-regression", "--correction", "bh"]) == 1
    out = capsys.readouterr().out
    assert "sign-flip one-sided p=0.000244" in out  # 12 negative differences: 1/4096
    assert "McNemar one-sided p=0.0156 (right in A only 6, in B only 0), bh 0.0156" in out
    assert "Benjamini-Hochberg" in out
    # one graded sample 0.01 worse: no verdict, exit 0
    one_a = _write_run(tmp_path / "one-a", [rec("0", 0.50, graded=True, metric="mean_score")])
    one_b = _write_run(tmp_path / "one-b", [rec("0", 0.49, graded=True, metric="mean_score")])
    assert main(["compare", str(one_a), str(one_b), "--fail-on-regression"]) == 0
    assert "too few samples" in capsys.readouterr().out


def test_cli_older_records_take_the_metric_from_results_json(tmp_path, capsys):
    # scores 0/1 only, but results.json says the task is graded: tested as graded (too few samples here)
    a = _write_run(tmp_path / "a", [rec(str(i), 1.0, graded=None) for i in range(6)],
                   {"results": [{"task": "t", "metric": "mean_score"}]})
    b = _write_run(tmp_path / "b", [rec(str(i), 0.0, graded=None) for i in range(6)])
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--fail-on-regression"]) == 0
    assert "too few samples" in capsys.readouterr().out
