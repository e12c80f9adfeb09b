"""results.json and summary.md from the journal's records.

Per model x task x strategy: n, the task's metric over the answered samples (unparseable answers count as
wrong / 0) with a 95% interval (Wilson for right/wrong metrics, normal approximation for graded ones),
coverage and errors apart, unparseable answers, mean latency, agent cost, and each strategy's own columns
(`Strategy.summarize`); models that produced nothing are listed as failed; plus the run's config, seed,
harness commit and library versions.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from . import __version__, compare, scoring
from .config import PROJECT_ROOT
from .types import SCHEMA_VERSION, Record


def versions() -> dict:
    out = {"python": platform.python_version(), "avharness": __version__}
    for name in ("torch", "transformers", "numpy"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # pragma: no cover - reported as absent
            out[name] = None
    from .media import ffmpeg_path, ffmpeg_version, pyav_versions

    out["ffmpeg"] = ffmpeg_version()
    out["ffmpeg_path"] = ffmpeg_path()
    out.update(pyav_versions())
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _is_graded(r: Record, graded_tasks: set[str]) -> bool:
    return r.graded if r.graded is not None else r.task in graded_tasks


def aggregate(records: list[Record], graded_tasks: set[str], metrics: dict | None = None) -> list[dict]:
    """One row per model x task x strategy x modality. The score is the mean over answered samples (those
    without an error); errors are counted apart, with the share answered as `coverage`; `value_all` counts
    errors as wrong (0). Unparseable answers count as wrong in both."""
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        groups[(r.model, r.task, r.strategy, r.modality)].append(r)
    rows = []
    for (model, task, strategy, modality), recs in sorted(groups.items()):
        answered = [r for r in recs if not r.error]
        values = [0.0 if r.score is None else float(r.score) for r in answered]
        n, k = len(recs), len(values)
        mean = sum(values) / k if k else 0.0
        graded = _is_graded(recs[0], graded_tasks)
        lo, hi = scoring.mean_interval(values) if graded else scoring.wilson_interval(sum(values), k)
        latencies = [r.seconds for r in answered]
        by_cat: dict[str, list[float]] = defaultdict(list)
        for r, v in zip(answered, values):
            if r.category:
                by_cat[r.category].append(v)
        error_kinds: dict[str, int] = defaultdict(int)
        for r in recs:
            if r.error:
                error_kinds[r.error.get("type", "error")] += 1
        metric = recs[0].metric or (metrics or {}).get(task) or ("mean_score" if graded else "accuracy")
        rows.append({
            "model": model, "task": task, "strategy": strategy, "modality": modality, "n": n, "answered": k,
            "coverage": k / n if n else 0.0, "metric": metric, "graded": graded, "value": mean, "ci95": [lo, hi],
            "value_all": sum(values) / n if n else 0.0,
            "errors": n - k, "error_types": dict(error_kinds),
            "unparseable": sum(1 for r in answered if r.unparseable),
            "audio_missing": sum(1 for r in recs if r.audio_missing),
            "mean_seconds": sum(latencies) / len(latencies) if latencies else None,
            "by_category": {c: {"n": len(v), "value": sum(v) / len(v)} for c, v in sorted(by_cat.items())},
            "model_hash": recs[0].model_hash, "strategy_hash": recs[0].strategy_hash,
        })
        rows[-1]["time_per_sample"] = time_per_sample(recs)
        agents = agent_cost(recs)
        if agents:
            rows[-1]["agents"] = agents
    return rows


def agent_cost(recs: list[Record]) -> dict | None:
    """Per sample: calls, tokens and seconds of every role but the target's (agents, judges)."""
    roles = sorted({role for r in recs for role in r.usage if role != "target"})
    if not roles:
        return None
    n = len(recs)
    per_role = {}
    for role in roles:
        uses = [r.usage.get(role, {}) for r in recs]
        per_role[role] = {k: sum(u.get(k, 0) for u in uses) / n
                          for k in ("calls", "input_tokens", "output_tokens", "seconds")}
    return {"calls_per_sample": sum(v["calls"] for v in per_role.values()), "per_role": per_role}


def time_per_sample(recs: list[Record]) -> dict:
    """Where a sample's seconds went, averaged: media decoding, input preparation, generation per role and
    scoring (judge generation counts under its role too). With prefetch, decoding and preparation overlap
    the model's generation, so the parts add up to more than the wall time."""
    n = len(recs) or 1
    roles = sorted({role for r in recs for role in r.usage})
    return {"decode": sum(u.get("decode_seconds", 0.0) for r in recs for u in r.usage.values()) / n,
            "prepare": sum(u.get("prepare_seconds", 0.0) for r in recs for u in r.usage.values()) / n,
            "generate": {role: sum(r.usage.get(role, {}).get("seconds", 0.0) for r in recs) / n for role in roles},
            "score": sum(r.score_seconds for r in recs) / n,
            "wall": sum(r.seconds for r in recs) / n}


def failed_models(records: list[Record], model_problems: list) -> list[dict]:
    """Models that produced nothing to score: every record an error, not all of them the data's (an
    unreachable server, say), or the model could not load. Their rows would read as 0.0 accuracy; they are
    reported as failures instead."""
    from .media.errors import media_error_kinds

    data_kinds = media_error_kinds()
    by_model: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_model[r.model].append(r)
    out = []
    for model, recs in sorted(by_model.items()):
        if recs and all(r.error for r in recs) and any(r.error.get("type") not in data_kinds for r in recs):
            kinds: dict[tuple, int] = defaultdict(int)
            for r in recs:
                kinds[(r.error.get("type", "error"), r.error.get("message", ""))] += 1
            (kind, message), count = max(kinds.items(), key=lambda kv: kv[1])
            out.append({"model": model, "samples": len(recs), "type": kind, "message": message,
                        "reason": f"every sample errored ({count} of {len(recs)}: {kind})"})
    loaded = {m["model"] for m in out}
    for p in model_problems:
        if "role" not in p and p["model"] not in by_model and p["model"] not in loaded:
            out.append({"model": p["model"], "samples": 0, "type": p["type"], "message": p["message"],
                        "reason": "could not load"})
    return out


def write(config, plan, records: list[Record], model_problems: list, registry, elapsed: float = 0.0,
          agent_cards: list | None = None) -> dict:
    graded = {t.name for t in registry.tasks.values() if getattr(t, "is_graded", False)}
    failed = failed_models(records, model_problems)
    failed_names = {f["model"] for f in failed}
    scored = [r for r in records if r.model not in failed_names]
    rows = aggregate(scored, graded, {n: t.metric for n, t in registry.tasks.items()})
    cards = {name: registry.cards[name] for name in {r["model"] for r in rows} if name in registry.cards}
    cards.update({c.name: c for c in plan.cards})  # as run: with this run's [model.NAME] overrides
    cards.update({c.name: c for c in agent_cards or []})
    by_id = {name: {s.id: s for s in samples} for name, samples in plan.samples.items()}
    strategies = {s.name: s for s in plan.strategies}
    for row in rows:
        task = registry.tasks.get(row["task"])
        cell = [r for r in scored if (r.model, r.task, r.strategy, r.modality) ==
                (row["model"], row["task"], row["strategy"], row["modality"])]
        if task is not None and row["task"] in by_id:
            pairs = [(r.prediction or "", by_id[row["task"]][r.sample_id]) for r in cell
                     if r.sample_id in by_id[row["task"]]]
            corpus = task.corpus_metrics(pairs)
            if corpus:
                row["corpus"] = corpus
        strategy = strategies.get(row["strategy"])
        own = strategy.summarize(cell) if strategy is not None else None
        if own:
            row["strategy_summary"] = own
        paper = paper_figure(cards.get(row["model"]), task, row["strategy"])
        if paper is None and row["strategy"] == config.reference:
            paper = published_reference(task, row["model"])
        if paper is not None:
            row["paper"] = paper
    comparisons = []
    reference = config.reference
    for p in compare.within_run(scored, graded, reference):
        entry = p.to_json()
        row = next((r for r in rows if (r["model"], r["task"], r["strategy"], r["modality"]) ==
                    (p.model, p.task, p.b, p.modality)), None)
        calls = (row or {}).get("agents", {}).get("calls_per_sample")
        if calls:
            entry["gain_per_agent_call"] = p.diff / calls
        paper = _paper_gain(cards.get(p.model), registry.tasks.get(p.task), p.b, reference)
        if paper is not None:
            entry["paper_relative_gain"] = paper
        comparisons.append(entry)
    pipeline = sorted(n for n, c in cards.items() if c.pipeline_check and n not in failed_names)
    # what a model's numbers mean where its card limits them (e.g. trained on AVSynth: meaningful there only)
    scopes = {n: str(c.get("scope")) for n, c in sorted(cards.items()) if c.get("scope") and n not in failed_names}
    results = {
        "schema_version": SCHEMA_VERSION,
        "results": rows,
        "comparisons": comparisons,
        "pipeline_checks": pipeline,
        "model_scopes": scopes,
        "failed_models": failed,
        "model_problems": model_problems,
        "skipped_models": plan.skipped_models,
        "data_problems": [str(p) for p in plan.problems],
        "run": {"config": config.to_json(), "seed": config.seed, "commit": git_commit(),
                "versions": versions(), "seconds": round(elapsed, 3)},
    }
    out = Path(config.output)
    _atomic_write(out / "results.json", json.dumps(results, indent=2, default=str) + "\n")
    _atomic_write(out / "summary.md", summary_markdown(results, cards))
    return results


def paper_figure(card, task, strategy: str) -> float | None:
    """The published score (0..1) for this model, task column and strategy: the card's
    [paper.results.COLUMN] table holds one number (percent) per strategy name."""
    column = getattr(task, "definition", {}).get("paper_column") if task is not None else None
    cell = card.get(f"paper.results.{column}") if card is not None and column else None
    if not isinstance(cell, dict) or not isinstance(cell.get(strategy), (int, float)):
        return None
    return cell[strategy] / 100


def published_reference(task, model: str) -> float | None:
    """A benchmark's own published overall score for this model (the task's [reference."CARD"] table, in
    percent), shown beside the measured score of the reference strategy."""
    table = getattr(task, "definition", {}).get("reference", {}) if task is not None else {}
    value = (table.get(model) or {}).get("overall")
    return value / 100 if isinstance(value, (int, float)) else None


def _paper_gain(card, task, strategy: str, reference: str) -> float | None:
    """The published relative gain of `strategy` over the reference strategy for this model and task, where
    the card carries both numbers ([paper.results.COLUMN]) and the task names its paper column."""
    ours, theirs = paper_figure(card, task, strategy), paper_figure(card, task, reference)
    if ours is None or not theirs or strategy == reference:
        return None
    return (ours - theirs) / theirs


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if pct else f"{value:.2f}"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _paired_test(c: dict) -> str:
    """One comparison entry's test, p-value and adjusted p-value (or why it has none)."""
    if c["p_value"] is None:
        return c["note"]
    text = (f"McNemar p={c['p_value']:.3g}" if c["test"] == "mcnemar_exact"
            else f"sign-flip p={c['p_value']:.3g}")
    if c.get("ci"):
        text += f", {100 * c['ci_level']:.0f}% CI {100 * c['ci'][0]:+.1f}..{100 * c['ci'][1]:+.1f}"
    if c["correction"] != "none":
        text += f", adjusted {c['p_adjusted']:.3g}"
    return text


def _paired_left_out(c: dict) -> str:
    """Samples an entry did not pair: errors per side and type (e.g. the strategy's below_threshold
    abstentions), and samples only one side holds."""
    parts = []
    for side, counts in ((c["a"], c["errors_a"]), (c["b"], c["errors_b"])):
        if counts:
            parts.append(f"{side}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
    if c["n_a_only"] or c["n_b_only"]:
        parts.append(f"not shared: {c['n_a_only']} / {c['n_b_only']}")
    return "; ".join(parts) or "-"


def summary_markdown(results: dict, cards: dict | None = None) -> str:
    lines = ["# avharness summary", ""]
    for f in results.get("failed_models", []):
        lines.append(f"**{f['model']} failed**: {f['reason']} — {f['type']}: {f['message']}")
    if results.get("failed_models"):
        lines.append("")
    lines += ["| model | task | strategy | n | metric | score | 95% CI | paper | coverage | errors | unparseable | "
              "s/sample |", "|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results["results"]:
        lo, hi = r["ci95"]
        label = r["strategy"] if r.get("modality", "av") == "av" else f"{r['strategy']} [{r['modality']} only]"
        coverage = f"{100 * r.get('coverage', 1.0):.0f}%"
        lines.append(f"| {r['model']} | {r['task']} | {label} | {r['n']} | {r['metric']} | "
                     f"{_fmt(r['value'])} | {_fmt(lo)}-{_fmt(hi)} | {_fmt(r.get('paper'))} | {coverage} | "
                     f"{r['errors']} | {r['unparseable']} | {_fmt(r['mean_seconds'], pct=False)} |")
    corpus_rows = [r for r in results["results"] if r.get("corpus", {}).get("bleu4") is not None]
    if corpus_rows:
        lines += ["", "Caption metrics (corpus level):", "", "| model | task | strategy | BLEU-4 | ROUGE-L | CIDEr-D | METEOR |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for r in corpus_rows:
            c = r["corpus"]
            met = f"{100 * c['meteor']:.1f}" if c.get("meteor") is not None else "n/a"
            lines.append(f"| {r['model']} | {r['task']} | {r['strategy']} | {100 * c['bleu4']:.1f} | "
                         f"{100 * c['rouge_l']:.1f} | {c['cider_d']:.3f} | {met} |")
    timed = [r for r in results["results"] if r.get("time_per_sample")]
    if timed:
        lines += ["", "Where time goes (seconds per sample; decoding and preparation overlap generation when "
                  "prefetched):", "", "| model | task | strategy | decode | prepare inputs | generate per role | "
                  "score | wall |", "|---|---|---|---:|---:|---|---:|---:|"]
        for r in timed:
            t = r["time_per_sample"]
            generate = ", ".join(f"{k} {v:.2f}" for k, v in t["generate"].items()) or "-"
            lines.append(f"| {r['model']} | {r['task']} | {r['strategy']} | {t['decode']:.3f} | {t['prepare']:.3f} | "
                         f"{generate} | {t['score']:.3f} | {t['wall']:.2f} |")
    agent_rows = [r for r in results["results"] if r.get("agents")]
    if agent_rows:
        lines += ["", "Agent cost per sample (calls made in this run):", "",
                  "| model | task | strategy | agent calls | tokens in/out per role | seconds per role |",
                  "|---|---|---|---:|---|---|"]
        for r in agent_rows:
            a = r["agents"]
            tokens = ", ".join(f"{k} {v['input_tokens']:.0f}/{v['output_tokens']:.0f}" for k, v in a["per_role"].items())
            secs = ", ".join(f"{k} {v['seconds']:.2f}" for k, v in a["per_role"].items())
            lines.append(f"| {r['model']} | {r['task']} | {r['strategy']} | {a['calls_per_sample']:.1f} | {tokens} | "
                         f"{secs} |")
    by_strategy: dict[str, list] = defaultdict(list)
    for r in results["results"]:
        if r.get("strategy_summary"):
            by_strategy[r["strategy"]].append(r)
    for strategy, rows in sorted(by_strategy.items()):  # each strategy's own columns (Strategy.summarize)
        columns = list(dict.fromkeys(c for r in rows for c in r["strategy_summary"]))
        lines += ["", f"{strategy}:", "", "| model | task | " + " | ".join(c.replace("_", " ") for c in columns) + " |",
                  "|---|---|" + "---:|" * len(columns)]
        for r in rows:
            own = r["strategy_summary"]
            lines.append(f"| {r['model']} | {r['task']} | " + " | ".join(_cell(own.get(c, "-")) for c in columns) + " |")
    if results.get("comparisons"):
        first = results["comparisons"][0]
        correction = {"holm": "Holm-adjusted", "bh": "Benjamini-Hochberg-adjusted"}.get(first.get("correction"),
                                                                                      "not adjusted")
        lines += ["", f"Paired with baseline (same samples; two-sided tests at alpha {first.get('alpha', 0.05)}, "
                  f"p-values {correction} across these rows; samples with an error on either side left out, "
                  "see docs/compare.md):", "",
                  "| model | task | strategy | n | baseline | strategy | difference | relative | test | verdict | "
                  "left out | per agent call | paper's relative gain |",
                  "|---|---|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|"]
        for c in results["comparisons"]:
            rel = f"{100 * c['relative_gain']:+.0f}%" if c["relative_gain"] is not None else "-"
            per_call = f"{100 * c['gain_per_agent_call']:+.2f}" if c.get("gain_per_agent_call") is not None else "-"
            paper = f"{100 * c['paper_relative_gain']:+.0f}%" if c.get("paper_relative_gain") is not None else "-"
            lines.append(f"| {c['model']} | {c['task']} | {c['b']} | {c['n']} | {100 * c['value_a']:.1f} | "
                         f"{100 * c['value_b']:.1f} | {100 * c['diff']:+.1f} | {rel} | {_paired_test(c)} | "
                         f"{c['verdict']} | {_paired_left_out(c)} | {per_call} | {paper} |")
    notes = []
    for name in results.get("pipeline_checks", []):
        notes.append(f"- **{name} is a pipeline check, not a real model**: a real architecture with tiny "
                     "random weights. Its scores show that the pipeline runs end to end, nothing about a model.")
    for name, scope in results.get("model_scopes", {}).items():
        notes.append(f"- **{name}: {scope}** (its card's scope): its scores say nothing about other data.")
    for p in results.get("model_problems", []):
        if "role" in p:  # a target that could not load is listed as failed above
            notes.append(f"- {p['role']} model {p['model']} could not load: {p['type']}: {p['message']}")
    for line in results.get("skipped_models", []):
        notes.append(f"- skipped {line}")
    for r in results["results"]:
        if r.get("audio_missing"):
            notes.append(f"- **{r['audio_missing']} sample(s) of {r['task']} ({r['strategy']}) reached {r['model']} with "
                         "no audio**, although it hears and the task is audio-visual (see the records' media "
                         "receipts; --require-audio makes this an error)")
    if results.get("data_problems"):
        notes.append(f"- {len(results['data_problems'])} data problem(s) (lines skipped); see results.json")
    if notes:
        lines += ["", "Notes:", *notes]
    lines += ["", "Scores are percentages over the samples answered (coverage: their share; errors are counted apart, "
              "results.json's value_all counts them as wrong); unparseable answers count as wrong. \"paper\": the "
              "AURELIA paper's figure for the same model, task column and strategy, where the model card carries it.", ""]
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for everyone who can read the folder
    os.replace(tmp, path)
