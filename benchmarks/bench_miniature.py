"""AURELIA's claim in miniature: does reasoning from trained agents, given as text, help a weaker target?

    nice .venv/bin/python benchmarks/bench_miniature.py [--per-task 50] [--iterations 1,3,5] [--out runs/miniature]

Everything runs through the CLI (`avharness run`) on the evaluation set, AVSynth seed 0 (`--per-task` per
task), with avsynth-agent in every agent role (reasoner, summarizer, evaluator; it sees every frame,
`max_keyframes = 60`) and two targets: avsynth-omni as shipped (never shown a reasoning block in training)
and avsynth-reader (weaker: 2 frames a second, less data; trained to read a block). Conditions:

- `baseline` for both targets;
- `aurelia` with `max_iterations` T for each T in --iterations (early stopping at the threshold, as the
  paper): the agents' reasoning is distilled once per T (`avharness distill`, out/reasoning-T.jsonl; kept,
  and resumed by a later invocation), then both targets run with `--reasoning` that file (no agent call is
  repeated), with `target_receives = steps_and_answers` and with `steps`;
- the critic's score over iterations: a distill run with `early_stop = false` and T = max(--iterations),
  so every sample is scored at every iteration (with --skip-trajectory: read from the largest T's
  early-stopping loops instead); with it, the agent's own final answer per iteration.

Paired tests are the two-sided exact McNemar of aurelia_harness.compare over the five answer tasks' samples
pooled (count, compositional, geo, sync, dance; caption keyword recall is reported beside). Agent calls per
sample count every reasoner, summarizer and evaluator call, re-asks included, from reasoning.jsonl. Writes
miniature.json under --out. The last line is, for avsynth-reader with steps_and_answers at the largest T:

    miniature: target=... baseline=... aurelia=... p=... agent_calls_per_sample=...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness.compare import mcnemar_exact  # noqa: E402
from aurelia_harness.config import default_cache_dir  # noqa: E402
from aurelia_harness.journal import Journal  # noqa: E402
from aurelia_harness.scoring import wilson_interval  # noqa: E402
from aurelia_harness.tasks import read_manifest  # noqa: E402
from plugins.tasks import avsynth  # noqa: E402

ANSWER_TASKS = ("count", "compositional", "geo", "sync", "dance")
TASKS = ANSWER_TASKS + ("caption",)
TARGETS = ("avsynth-omni", "avsynth-reader")
AGENT = "avsynth-agent"


def cli(args, out: Path, strategy: str, settings: dict, extra: list[str] = (), command: str = "run") -> float:
    cmd = [sys.executable, "-m", "aurelia_harness", command, "--tasks", ",".join(f"avsynth-{t}" for t in TASKS),
           "--set", f"data.avsynth.per_task={args.per_task}", "--set", "data.avsynth.seed=0", "--no-progress"]
    if command == "run":
        cmd += ["--models", ",".join(TARGETS), "--strategy", strategy, "--output", str(out), "--overwrite",
                "--batch-size", "8", "--concurrency", "16"]
    else:
        cmd += ["--strategy", strategy, "--out", str(out), "--concurrency", "16", "--set", "run.batch_size=8"]
    for key, value in settings.items():
        cmd += ["--set", f"strategy.{strategy}.{key}={value}"]
    start = time.time()
    for assignment in args.assignments:
        cmd += ["--set", assignment]
    subprocess.run(cmd + list(extra), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.time() - start
    print(f"  {out.name}: {seconds:.0f} s", file=sys.stderr)
    return seconds


def agents(**more) -> dict:
    return {"reasoner": AGENT, "summarizer": AGENT, "evaluator": AGENT, "max_keyframes": 60, **more}


def scores(records: list, model: str, strategy: str) -> dict[tuple, float]:
    return {(r.task, r.sample_id): float(r.score) for r in records
            if r.model == model and r.strategy == strategy and not r.error and r.score is not None}


def summary(cells: dict[tuple, float]) -> dict:
    """Per task: accuracy (or keyword recall) and n; the mean over the five answer tasks."""
    out = {}
    for task in TASKS:
        values = [v for (t, _), v in cells.items() if t == f"avsynth-{task}"]
        out[task] = {"n": len(values), "score": sum(values) / len(values) if values else None}
        if values and task != "caption":
            out[task]["ci"] = list(wilson_interval(sum(values), len(values)))
    answered = [out[t]["score"] for t in ANSWER_TASKS if out[t]["score"] is not None]
    out["mean"] = sum(answered) / len(answered) if answered else None
    return out


def paired(a: dict[tuple, float], b: dict[tuple, float]) -> dict:
    """B against A on the answer-task samples both answered: discordant counts and the exact McNemar p."""
    shared = [k for k in a if k in b and k[0] != "avsynth-caption"]
    worse = sum(1 for k in shared if a[k] > b[k])
    better = sum(1 for k in shared if b[k] > a[k])
    return {"n": len(shared), "b_better": better, "b_worse": worse,
            "diff": (sum(b[k] - a[k] for k in shared) / len(shared)) if shared else None,
            "p": mcnemar_exact(worse, better)}


def reasoning_records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def agent_cost(records: list[dict]) -> dict:
    calls = [sum(len(it.get("calls", [])) for it in r["iterations"]) for r in records]
    iterations = [len(r["iterations"]) for r in records]
    return {"samples": len(records), "agent_calls_per_sample": sum(calls) / max(1, len(calls)),
            "iterations_per_sample": sum(iterations) / max(1, len(iterations)),
            "reached_threshold": sum(bool(r.get("reached_threshold")) for r in records) / max(1, len(records))}


def agent_accuracy(records: list[dict], truth: dict[tuple, str], iteration: int | None = None) -> float | None:
    """Share of answer-task samples whose chosen (or `iteration`'s) final answer is the truth."""
    right = []
    for r in records:
        key = (r["task"], r["sample_id"])
        if key not in truth:
            continue
        its = r["iterations"]
        final = r.get("final_answer", "") if iteration is None else (its[iteration]["final_answer"] if iteration < len(its) else None)
        if final is None:
            continue
        right.append(str(final).strip().rstrip(".").upper() == str(truth[key]).upper())
    return sum(right) / len(right) if right else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-task", type=int, default=50)
    parser.add_argument("--iterations", default="1,3,5", help="values of T (max_iterations), comma separated")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "miniature")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every run (e.g. model.avsynth-agent.checkpoint=PATH to try other weights)")
    parser.add_argument("--distill-only", action="store_true",
                        help="only the agents' work (reasoning files), e.g. while a target is still training")
    parser.add_argument("--skip-trajectory", action="store_true", help="leave out the early_stop = false run: the score by iteration is then "
                        "read from the largest T's early-stopping loops")
    args = parser.parse_args()
    values = [int(t) for t in args.iterations.split(",")]
    data = avsynth.dataset_dir(default_cache_dir() / "data", args.per_task, 0)
    manifests = avsynth.generate(data, args.per_task, 0)
    truth = {(f"avsynth-{t}", s.id): s.answer for t in ANSWER_TASKS
             for s in read_manifest(manifests[t], f"avsynth-{t}").samples}
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    top = max(values)
    for t in values:  # the agents' work once per T (resumable: a later invocation only adds what is missing)
        path = args.out / f"reasoning-T{t}.jsonl"
        seconds[path.name] = cli(args, path, "aurelia", agents(max_iterations=t), command="distill")
    if not args.skip_trajectory:  # every sample scored at every iteration
        path = args.out / f"trajectory-T{top}.jsonl"
        seconds[path.name] = cli(args, path, "aurelia", agents(max_iterations=top, early_stop="false"), command="distill")
    if args.distill_only:
        return 0
    seconds["baseline"] = cli(args, args.out / "baseline", "baseline", {})
    base_records = Journal(args.out / "baseline").read()
    result = {"per_task": args.per_task, "seed": 0, "agent": AGENT, "targets": list(TARGETS), "runs": {}}
    base = {m: scores(base_records, m, "baseline") for m in TARGETS}
    result["baseline"] = {m: summary(base[m]) for m in TARGETS}
    for t in values:
        # both target runs reuse the distilled reasoning: no agent call is repeated
        reasoning = args.out / f"reasoning-T{t}.jsonl"
        folders = {}
        for receives in ("steps_and_answers", "steps"):
            folders[receives] = args.out / f"aurelia-T{t}-{receives}"
            seconds[folders[receives].name] = cli(args, folders[receives], "aurelia",
                                                  agents(max_iterations=t, target_receives=receives),
                                                  ["--reasoning", str(reasoning)])
        loops = reasoning_records(reasoning)
        for receives, folder in folders.items():
            records = Journal(folder).read()
            for m in TARGETS:
                got = scores(records, m, "aurelia")
                result["runs"][f"{m}/T{t}/{receives}"] = {"target": m, "T": t, "receives": receives,
                                                          **summary(got), "vs_baseline": paired(base[m], got)}
        result["runs"][f"agents/T{t}"] = {**agent_cost(loops), "agent_final_answer_accuracy": agent_accuracy(loops, truth)}
    # the critic's score by iteration: from the early_stop = false run, or (--skip-trajectory) from the largest
    # T's early-stopping loops, where only samples still below the threshold go on
    result["trajectory_source"] = (f"reasoning-T{top}.jsonl (early stop)" if args.skip_trajectory
                                   else f"trajectory-T{top}.jsonl (early_stop = false)")
    loops = reasoning_records(args.out / (f"reasoning-T{top}.jsonl" if args.skip_trajectory
                                          else f"trajectory-T{top}.jsonl"))
    rows = []
    for i in range(top):
        scored = [r["iterations"][i]["score"] for r in loops if i < len(r["iterations"])
                  and r["iterations"][i]["score"] is not None]
        rows.append({"iteration": i + 1, "scored": len(scored),
                     "mean_score": sum(scored) / len(scored) if scored else None,
                     "at_threshold": sum(s >= 6 for s in scored) / len(scored) if scored else None,
                     "agent_final_answer_accuracy": agent_accuracy(loops, truth, i)})
    result["trajectory"] = rows
    result["seconds"] = seconds
    (args.out / "miniature.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n## AURELIA in miniature: AVSynth seed 0, {args.per_task} per task; agents {AGENT}\n")
    print("| target | condition | count | compositional | geo | sync | dance | mean (5) | caption recall | "
          "vs baseline: better/worse | p |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    def row(m, label, s, vs=None):
        cells = " | ".join("-" if s[t]["score"] is None else f"{s[t]['score']:.2f}" for t in ANSWER_TASKS)
        cap = "-" if s["caption"]["score"] is None else f"{s['caption']['score']:.2f}"
        extra = f" | {vs['b_better']}/{vs['b_worse']} | {vs['p']:.2g}" if vs else " | | "
        print(f"| {m} | {label} | {cells} | {s['mean']:.3f} | {cap}{extra} |")
    for m in TARGETS:
        row(m, "baseline", result["baseline"][m])
        for t in values:
            for receives in ("steps_and_answers", "steps"):
                r = result["runs"][f"{m}/T{t}/{receives}"]
                row(m, f"aurelia T={t} {receives}", r, r["vs_baseline"])
    print("\n| T | agent calls / sample | iterations / sample | reached threshold | agent's final answer right |")
    print("|---:|---:|---:|---:|---:|")
    for t in values:
        a = result["runs"][f"agents/T{t}"]
        acc = a["agent_final_answer_accuracy"]
        print(f"| {t} | {a['agent_calls_per_sample']:.2f} | {a['iterations_per_sample']:.2f} | "
              f"{a['reached_threshold']:.2f} | {'-' if acc is None else f'{acc:.2f}'} |")
    if "trajectory" in result:
        print(f"\nThe critic's score by iteration ({result['trajectory_source']}):\n")
        print("| iteration | scored | mean score | at threshold (>= 6) | agent's final answer right |")
        print("|---:|---:|---:|---:|---:|")
        for r in result["trajectory"]:
            acc = r["agent_final_answer_accuracy"]
            fmt = lambda v: "-" if v is None else f"{v:.2f}"
            print(f"| {r['iteration']} | {r['scored']} | {fmt(r['mean_score'])} | {fmt(r['at_threshold'])} | "
                  f"{fmt(acc)} |")
    top = max(values)
    head = result["runs"][f"avsynth-reader/T{top}/steps_and_answers"]
    print(f"\nminiature: target=avsynth-reader baseline={result['baseline']['avsynth-reader']['mean']:.3f} "
          f"aurelia={head['mean']:.3f} p={head['vs_baseline']['p']:.2g} "
          f"agent_calls_per_sample={result['runs'][f'agents/T{top}']['agent_calls_per_sample']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
