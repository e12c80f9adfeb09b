"""The report's plots, drawn with matplotlib (Agg, no display) as SVG images inlined as data URIs.

An SVG inside an <img> is inert (no script in it runs, nothing it names is fetched), and its text is drawn
as glyph outlines (svg.fonttype "path"), so model, task and category names never reach the page as markup.
Each plot is a dict: id, title, caption (what it shows and how it was computed), uri.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict

MAX_BARS = 120  # rows of one chart; more are cut, and the caption says so


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _uri(fig) -> str:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "avharness"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


LABEL_CHARS = 48  # longer axis labels are cut: the table has them whole


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _label(row: dict, run: str | None) -> str:
    text = f"{row['model']} · {row['strategy']}"
    if row.get("modality", "av") != "av":
        text += f" [{row['modality']}]"
    return _short(f"{text} ({run})" if run else text)


def _rows(data) -> list[tuple[str | None, dict]]:
    many = len(data.runs) > 1
    return [(run.label if many else None, r) for run in data.runs for r in run.results.get("results", [])]


def accuracy_plot(data) -> dict | None:
    """Per task, one line per model (and run, and modality) with each strategy's score as a dot with its
    interval, side by side: a quarter of a million records of 19 models x 3 strategies still fit."""
    by_task: dict[str, dict] = defaultdict(dict)
    for run, r in _rows(data):
        line = (r["model"], r.get("modality", "av"), run or "")
        by_task[r["task"]].setdefault(line, {})[r["strategy"]] = r
    if not by_task:
        return None
    tasks = sorted(by_task)
    strategies = sorted({s for lines in by_task.values() for v in lines.values() for s in v})
    heights = [min(len(by_task[t]), MAX_BARS) for t in tasks]
    fig = _figure(9, 0.9 * len(tasks) + 0.1 * (len(strategies) + 1) * sum(heights) + 0.6)
    axes = fig.subplots(len(tasks), 1, squeeze=False, height_ratios=[h + 2 for h in heights])[:, 0]
    cut = False
    step = 0.8 / max(len(strategies), 1)
    for ax, task in zip(axes, tasks):
        lines = sorted(by_task[task])[:MAX_BARS]
        cut |= len(by_task[task]) > MAX_BARS
        for k, strategy in enumerate(strategies):
            points = [(i + (k - (len(strategies) - 1) / 2) * step, by_task[task][line][strategy])
                      for i, line in enumerate(lines) if strategy in by_task[task][line]]
            if not points:
                continue
            ys = [y for y, _ in points]
            xs = [100 * r["value"] for _, r in points]
            err = [[100 * (r["value"] - r["ci95"][0]) for _, r in points],
                   [100 * (r["ci95"][1] - r["value"]) for _, r in points]]
            ax.errorbar(xs, ys, xerr=err, fmt="o", ms=4, color=f"C{k % 10}", elinewidth=1, capsize=2,
                        label=strategy)
            paper = [(y, 100 * r["paper"]) for y, r in points if isinstance(r.get("paper"), (int, float))]
            if paper:
                ax.scatter([p for _, p in paper], [y for y, _ in paper], marker="D", s=22, zorder=3,
                           facecolors="none", edgecolors=f"C{k % 10}")
        labels = [_short(" · ".join(x for x in (model, "" if modality == "av" else f"[{modality}]", run) if x))
                  for model, modality, run in lines]
        ax.set_yticks(range(len(lines)), labels, fontsize=7)
        ax.set_ylim(len(lines) - 0.5, -0.5)
        ax.set_xlim(0, 100)
        metric = next(iter(by_task[task][lines[0]].values())).get("metric", "")
        ax.set_title(f"{task} ({metric})", fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=7, title="strategy", title_fontsize=7, loc="best")
    axes[-1].set_xlabel("score (%)")
    caption = ("Each dot is a model x strategy's score over the samples answered, with its 95% interval (Wilson "
               "for right/wrong metrics, normal approximation for graded ones); hollow diamonds: the paper's figure.")
    if cut:
        caption += f" Only the first {MAX_BARS} models of a task are drawn."
    return {"id": "accuracy", "title": "Score per task", "caption": caption, "uri": _uri(fig)}


VERDICT_COLORS = {"better": "#2a9d3f", "worse": "#c0392b", "none": "#7f8c8d"}


def _verdict_kind(verdict: str) -> str:
    if verdict.endswith("better"):
        return "better"
    if verdict.endswith("worse"):
        return "worse"
    return "none"


def paired_plot(data) -> dict | None:
    many = len(data.runs) > 1
    entries = [(run.label if many else None, c) for run in data.runs for c in run.results.get("comparisons", [])]
    entries = [(run, c) for run, c in entries if isinstance(c.get("diff"), (int, float))][:MAX_BARS]
    if not entries:
        return None
    fig = _figure(8, 0.24 * len(entries) + 1.2)
    ax = fig.subplots()
    for y, (run, c) in enumerate(entries):
        kind = _verdict_kind(c.get("verdict") or "")
        tested = c.get("p_value") is not None
        x = 100 * c["diff"]
        if c.get("ci"):
            ax.plot([100 * c["ci"][0], 100 * c["ci"][1]], [y, y], color=VERDICT_COLORS[kind], lw=1.5)
        ax.scatter([x], [y], s=30, zorder=3, color=VERDICT_COLORS[kind] if tested else "white",
                   edgecolors=VERDICT_COLORS[kind])
    ax.axvline(0, color="#333", lw=0.8)
    labels = [_short(f"{c['model']} · {c['task']} · {c['b']}" + (f" ({run})" if run else "")) for run, c in entries]
    ax.set_yticks(range(len(entries)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("strategy − baseline (percentage points)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", color=VERDICT_COLORS[k], label=label) for k, label in
               (("better", "significantly better"), ("worse", "significantly worse"),
                ("none", "no significant difference"))]
    handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor="#7f8c8d",
                          label="no test (too few pairs)"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.grid(axis="x", alpha=0.3)
    return {"id": "paired", "title": "Paired differences against baseline",
            "caption": "Each strategy's score minus baseline's on the same samples, coloured by its test's verdict "
                       "(exact McNemar for right/wrong metrics, sign-flip for graded ones, two-sided, alpha 0.05 "
                       "after the correction); bars: the paired t interval, where the test gives one.",
            "uri": _uri(fig)}


def modality_plot(data) -> dict | None:
    rows = _rows(data)
    order = ["av", "video", "audio", "text"]
    modalities = sorted({r.get("modality", "av") for _, r in rows},
                        key=lambda m: (order.index(m) if m in order else len(order), m))
    if len(modalities) < 2:
        return None
    cells: dict[tuple, dict] = defaultdict(dict)
    for run, r in rows:
        cells[(r["model"], r["task"], r["strategy"])][r.get("modality", "av")] = r
    keys = sorted(k for k, v in cells.items() if len(v) > 1)[:MAX_BARS // len(modalities)]
    if not keys:
        return None
    fig = _figure(8, 0.2 * len(keys) * len(modalities) + 1.4)
    ax = fig.subplots()
    width = 0.8 / len(modalities)
    for j, modality in enumerate(modalities):
        ys = [i + j * width for i in range(len(keys))]
        values = [100 * cells[k][modality]["value"] if modality in cells[k] else 0 for k in keys]
        lo = [100 * (cells[k][modality]["value"] - cells[k][modality]["ci95"][0]) if modality in cells[k] else 0
              for k in keys]
        hi = [100 * (cells[k][modality]["ci95"][1] - cells[k][modality]["value"]) if modality in cells[k] else 0
              for k in keys]
        ax.barh(ys, values, height=width, xerr=[lo, hi], label=modality, color=f"C{j}", capsize=2, ecolor="#333")
    ax.set_yticks([i + 0.4 - width / 2 for i in range(len(keys))], [_short(" · ".join(k)) for k in keys], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (%)")
    ax.legend(fontsize=7, title="inputs", title_fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return {"id": "modality", "title": "Modality ablation",
            "caption": "The same model, task and strategy given audio and video (av), frames only (video), the "
                       "soundtrack only (audio) or the question alone (text); 95% intervals as in the table.",
            "uri": _uri(fig)}


def cost_plot(data) -> dict | None:
    points = []
    for i, run in enumerate(data.runs):
        for c in run.results.get("comparisons", []):
            cost = data.costs.get((i, c["model"], c["task"], c["b"], c.get("modality", "av")))
            if cost and isinstance(c.get("diff"), (int, float)):
                points.append((cost, 100 * c["diff"], c, run.label if len(data.runs) > 1 else None))
    if not points:
        return None
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    strategies = sorted({c["b"] for _, _, c, _ in points})
    for k, strategy in enumerate(strategies):
        mine = [(x, y, c) for x, y, c, _ in points if c["b"] == strategy]
        ax.scatter([x for x, _, _ in mine], [y for _, y, _ in mine], label=strategy, color=f"C{k}",
                   edgecolors=[VERDICT_COLORS[_verdict_kind(c.get("verdict") or "")] for _, _, c in mine],
                   linewidths=1.5, s=40, zorder=3)
    if len(points) <= 40:
        for x, y, c, run in points:
            ax.annotate(_short(f"{c['model']} · {c['task']}" + (f" ({run})" if run else "")), (x, y), fontsize=6,
                        xytext=(4, 3), textcoords="offset points")
    ax.axhline(0, color="#333", lw=0.8)
    ax.set_xlabel("agent calls per sample")
    ax.set_ylabel("gain over baseline (percentage points)")
    ax.legend(fontsize=7, title="strategy", title_fontsize=7)
    ax.grid(alpha=0.3)
    return {"id": "cost", "title": "Agent cost against gain",
            "caption": "Mean agent calls per sample (reasoning reused from another model or a distill file counted "
                       "at what it cost where it was computed) against the gain over baseline on the same samples; "
                       "the outline is the verdict's colour.", "uri": _uri(fig)}


def critic_plot(data) -> dict | None:
    by_line: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    thresholds = set()
    for loop in data.loops:
        label = (loop["task"], loop["strategy"], data.runs[loop["run"]].label if len(data.runs) > 1 else None)
        if loop.get("threshold") is not None:
            thresholds.add(loop["threshold"])
        for t, score in enumerate(loop["scores"], start=1):
            if isinstance(score, (int, float)):
                by_line[label][t].append(float(score))
    if not by_line:
        return None
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    for k, (label, per_t) in enumerate(sorted(by_line.items(), key=lambda kv: tuple(str(x) for x in kv[0]))[:10]):
        ts = sorted(per_t)
        means = [sum(per_t[t]) / len(per_t[t]) for t in ts]
        name = _short(" · ".join(x for x in label if x))
        ax.plot(ts, means, marker="o", color=f"C{k}", label=name)
        for t, mean in zip(ts, means):
            ax.annotate(f"n={len(per_t[t])}", (t, mean), fontsize=6, xytext=(3, -9), textcoords="offset points")
    for threshold in sorted(thresholds):
        ax.axhline(threshold, ls="--", color="#555", lw=0.8)
        ax.annotate(f"threshold {threshold}", (1, threshold), fontsize=7, xytext=(2, 3), textcoords="offset points")
    ax.set_xlabel("iteration")
    ax.set_ylabel("critic's score (1-10), mean")
    ax.set_ylim(0, 10.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return {"id": "critic", "title": "The critic's score over iterations",
            "caption": "Mean evaluator score at each iteration of the AURELIA loops (each loop once, however many "
                       "models reused it; n: loops scored at that iteration; with early stopping, loops that reached "
                       "the threshold stop, so later iterations hold the harder samples).", "uri": _uri(fig)}


def category_plot(data) -> dict | None:
    rows = [(run, r) for run, r in _rows(data) if r.get("by_category")]
    if not rows:
        return None
    by_task: dict[str, list] = defaultdict(list)
    for run, r in rows:
        by_task[r["task"]].append((run, r))
    tasks = sorted(by_task)
    sizes, budget = [], 2 * MAX_BARS  # rows over every task: past that, later rows are cut (the caption says)
    for task in tasks:
        cats = sorted({c for _, r in by_task[task] for c in r["by_category"]})
        sizes.append((max(1, min(len(by_task[task]), budget)), cats))
        budget = max(0, budget - len(by_task[task]))
    cut = sum(len(by_task[t]) for t in tasks) > sum(n for n, _ in sizes)
    fig = _figure(min(6 + 0.6 * max(len(c) for _, c in sizes), 16), 0.9 * len(tasks) + 0.24 * sum(n for n, _ in sizes) + 1)
    axes = fig.subplots(len(tasks), 1, squeeze=False, height_ratios=[n + 2 for n, _ in sizes])[:, 0]
    import numpy as np

    for ax, task, (n, cats) in zip(axes, tasks, sizes):
        entries = by_task[task][:n]
        grid = np.full((len(entries), len(cats)), np.nan)
        for i, (_, r) in enumerate(entries):
            for j, c in enumerate(cats):
                if c in r["by_category"]:
                    grid[i, j] = 100 * r["by_category"][c]["value"]
        image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for i in range(len(entries)):
            for j in range(len(cats)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="white" if grid[i, j] < 60 else "black")
        ax.set_yticks(range(len(entries)), [_label(r, run) for run, r in entries], fontsize=7)
        ax.set_xticks(range(len(cats)), [_short(c) for c in cats], fontsize=7, rotation=30, ha="right")
        ax.set_title(task, fontsize=9, loc="left")
    fig.colorbar(image, ax=list(axes), shrink=0.6, label="score (%)")
    return {"id": "categories", "title": "Per category",
            "caption": "Score over the samples answered in each category of each task." +
                       (f" Only the first {2 * MAX_BARS} rows are drawn." if cut else ""), "uri": _uri(fig)}


def make_plots(data) -> list[dict]:
    plots = []
    for make in (accuracy_plot, paired_plot, modality_plot, cost_plot, critic_plot, category_plot):
        plot = make(data)
        if plot is not None:
            plots.append(plot)
    return plots
