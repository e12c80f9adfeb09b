"""Do picture, sound and their timing reach the model? avsynth-omni on AVSynth seed 0, four ways.

    nice .venv/bin/python benchmarks/bench_signal.py [--per-task 50] [--model avsynth-omni] [--out runs/signal]

Runs the baseline strategy through the CLI (`avharness run`) on the evaluation set (AVSynth seed 0,
`--set data.avsynth.per_task=N`):

- `av`: as shipped (frames + the video's own soundtrack, interleaved in time);
- `video`, `audio`: the modality ablations (`--modality video|audio`);
- `shifted`: a benchmark-only copy of the dataset whose soundtracks are delayed by `--shift` seconds
  against the frames (ffmpeg `adelay`, cut back to the clip's length; frames untouched; WAV inputs and
  silent videos copied as they are), run with `--data-root`.

Prints per task: score with its 95% interval (Wilson for right/wrong, normal for keyword recall), the
chance level, and for each perturbation the paired difference from `av` on the same samples (mean of
B - A, its 95% paired t interval, and the two-sided exact McNemar / sign-flip p of
aurelia_harness.compare) and whether the perturbed score's interval covers chance. Writes signal.json
under --out. The last line is

    signal: av=... video_only=... audio_only=... shifted=... chance=...

(mean accuracy over the five answer tasks: count, compositional, geo, sync, dance).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness.compare import pair, paired_t_interval
from aurelia_harness.config import default_cache_dir
from aurelia_harness.journal import Journal
from aurelia_harness.media.ffmpeg_bin import ffmpeg_path
from aurelia_harness.scoring import keyword_recall, mean_interval, wilson_interval
from aurelia_harness.tasks import read_manifest
from plugins.tasks import avsynth

ANSWER_TASKS = ("count", "compositional", "geo", "sync", "dance")
TASKS = ANSWER_TASKS + ("caption",)
CONDITIONS = ("av", "video", "audio", "shifted")
# which inputs each task needs: a perturbation that removes one should leave the task at chance
NEEDS = {"count": {"video", "audio", "timing"}, "compositional": {"video", "audio", "timing"},
         "geo": {"video", "audio", "timing"}, "sync": {"video", "audio", "timing"},
         "dance": {"video", "audio"}, "caption": {"video", "audio"}}
REMOVES = {"video": "audio", "audio": "video", "shifted": "timing"}


def run(args, condition: str, out: Path, data_root: Path | None) -> list:
    cmd = [sys.executable, "-m", "aurelia_harness", "run", "--models", args.model, "--tasks",
           ",".join(f"avsynth-{t}" for t in TASKS), "--strategy", "baseline", "--output", str(out),
           "--set", f"data.avsynth.per_task={args.per_task}", "--set", "data.avsynth.seed=0",
           "--no-progress", "--overwrite"]
    if condition in ("video", "audio"):
        cmd += ["--modality", condition]
    if data_root is not None:
        cmd += ["--data-root", str(data_root)]
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"  {condition}: {time.time() - start:.0f} s", file=sys.stderr)
    return Journal(out).read()


def has_audio(path: Path) -> bool:
    probe = subprocess.run([ffmpeg_path(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False)
    return "Audio:" in probe.stderr


def shift_copy(source: Path, target: Path, seconds: float, workers: int = 2) -> Path:
    """A copy of an AVSynth dataset folder with every video's soundtrack delayed by `seconds` (same length)."""
    if (target / ".complete").exists():
        return target
    jobs = []
    for manifest in source.glob("*/manifest.jsonl"):
        folder = target / manifest.parent.name
        (folder / "media").mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest, folder / "manifest.jsonl")
        jobs += [(clip, folder / "media" / clip.name) for clip in (manifest.parent / "media").iterdir()]

    def one(job):
        src, dst = job
        if src.suffix != ".mp4" or not has_audio(src):
            shutil.copy2(src, dst)
            return
        subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                        "-af", f"adelay={int(seconds * 1000)}:all=1", "-t", "6" if "caption" not in src.name else "4",
                        "-c:v", "copy", "-c:a", "aac", "-ar", str(avsynth.RATE), "-ac", "1", str(dst)], check=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, jobs))
    (target / ".complete").write_text("shifted\n")
    return target


def chance(task: str, samples: list) -> tuple[float, str]:
    """A blind guess's expected score: 1/k for an option question; for open answers and captions, the best
    constant answer (the most common count; the most common colour and pitch)."""
    if task == "count":
        top = Counter(s.answer for s in samples).most_common(1)[0][1]
        return top / len(samples), "most common count"
    if task == "caption":
        keys = [s.answer["keywords"] for s in samples]
        colour = Counter(k[0] for k in keys).most_common(1)[0][1] / len(keys)
        pitch = Counter(k[1] for k in keys).most_common(1)[0][1] / len(keys)
        return (colour + pitch) / 2, "most common colour and pitch"
    return sum(1 / len(s.options) for s in samples) / len(samples), "1/options"


def interval(values: list[float], graded: bool) -> tuple[float, float]:
    return mean_interval(values) if graded else wilson_interval(sum(values), len(values))


def scores(records: list, task: str) -> dict[str, float]:
    """Score of every answered sample (an error is no answer: left out, as summary.md does)."""
    return {r.sample_id: float(r.score) for r in records
            if r.task == f"avsynth-{task}" and not r.error and r.score is not None}


def errors(records: list, task: str) -> int:
    return sum(1 for r in records if r.task == f"avsynth-{task}" and r.error)


def keyword_split(records: list, samples: list) -> dict[str, float]:
    """Caption recall of the colour word and of the pitch word apart (what each modality carries)."""
    truth = {s.id: s.answer["keywords"] for s in samples}
    rows = [(r.prediction or "", truth[r.sample_id]) for r in records if r.task == "avsynth-caption"]
    return {"colour": sum(keyword_recall(p, [k[0]]) for p, k in rows) / len(rows),
            "pitch": sum(keyword_recall(p, [k[1]]) for p, k in rows) / len(rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="avsynth-omni")
    parser.add_argument("--per-task", type=int, default=50)
    parser.add_argument("--shift", type=float, default=2.25, help="seconds the soundtrack is delayed in `shifted`")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "signal")
    args = parser.parse_args()

    data = avsynth.dataset_dir(default_cache_dir() / "data", args.per_task, 0)
    manifests = avsynth.generate(data, args.per_task, 0)
    samples = {t: read_manifest(manifests[t], f"avsynth-{t}").samples for t in TASKS}
    shifted_root = args.out / f"shifted-{args.shift:g}s"
    shift_copy(data, shifted_root / data.name, args.shift)
    records = {c: run(args, c, args.out / c, shifted_root if c == "shifted" else None) for c in CONDITIONS}

    result = {"model": args.model, "per_task": args.per_task, "seed": 0, "shift_seconds": args.shift, "tasks": {}}
    print(f"\n## {args.model} on AVSynth seed 0, {args.per_task} samples per task, baseline strategy\n")
    print("| task | metric | chance | av | video only | audio only | shifted |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for task in TASKS:
        graded = task == "caption"
        level, how = chance(task, samples[task])
        row = {"chance": level, "chance_rule": how, "metric": "keyword_recall" if graded else "accuracy"}
        cells = []
        for condition in CONDITIONS:
            values, failed = list(scores(records[condition], task).values()), errors(records[condition], task)
            if not values:  # no request could be made (audio-only of a silent video): only a guess is left
                row[condition] = {"n": 0, "errors": failed, "score": level, "ci": None, "covers_chance": None,
                                  "no_answers": True}
                cells.append(f"no input ({failed} errors): chance")
                continue
            lo, hi = interval(values, graded)
            mean = sum(values) / len(values)
            row[condition] = {"n": len(values), "errors": failed, "score": mean, "ci": [lo, hi],
                              "covers_chance": lo <= level <= hi}
            cells.append(f"{mean:.2f} ({lo:.2f}-{hi:.2f})" + (f" [{failed} errors]" if failed else ""))
        result["tasks"][task] = row
        print(f"| {task} | {row['metric']} | {level:.2f} | " + " | ".join(cells) + " |")

    print("\nPaired with av (B - A on the same samples; 95% paired t interval; two-sided exact test):\n")
    print("| task | perturbation | needs it | diff | 95% CI | p | perturbed CI covers chance |")
    print("|---|---|---|---:|---|---:|---|")
    for task in TASKS:
        row = result["tasks"][task]
        for condition in ("video", "audio", "shifted"):
            needed = REMOVES[condition] in NEEDS[task]
            a, b = scores(records["av"], task), scores(records[condition], task)
            shared = sorted(set(a) & set(b))
            if not shared:
                print(f"| {task} | {condition} | {'yes' if needed else 'no'} | - | - | - | no answers to pair |")
                continue
            diffs = [b[i] - a[i] for i in shared]
            paired = pair(args.model, task, "av", [r for r in records["av"] if r.task == f"avsynth-{task}"],
                          condition, [r for r in records[condition] if r.task == f"avsynth-{task}"],
                          graded=task == "caption", alternative="two-sided")
            ci = paired_t_interval(diffs)
            row[condition].update({"diff": sum(diffs) / len(diffs), "diff_ci": list(ci) if ci else None,
                                   "p_value": paired.p_value if paired else None, "needs_removed": needed})
            ci_text = f"{ci[0]:+.2f} to {ci[1]:+.2f}" if ci else "-"
            p_text = f"{paired.p_value:.2g}" if paired and paired.p_value is not None else "-"
            covers = ("yes" if row[condition]["covers_chance"] else "no") if needed else "-"
            if task == "caption" and needed:  # one of its two keywords stays: see the keyword table
                covers = "half the keywords (below)"
            print(f"| {task} | {condition} | {'yes' if needed else 'no'} | {row[condition]['diff']:+.2f} | "
                  f"{ci_text} | {p_text} | {covers} |")

    split = {c: keyword_split(records[c], samples["caption"]) for c in CONDITIONS}
    result["caption_keywords"] = split
    print("\nCaption keywords apart (recall of the colour word / the pitch word):\n")
    print("| | " + " | ".join(CONDITIONS) + " |\n|---|" + "---:|" * len(CONDITIONS))
    for word in ("colour", "pitch"):
        print(f"| {word} | " + " | ".join(f"{split[c][word]:.2f}" for c in CONDITIONS) + " |")

    means = {c: sum(result["tasks"][t][c]["score"] for t in ANSWER_TASKS) / len(ANSWER_TASKS) for c in CONDITIONS}
    level = sum(result["tasks"][t]["chance"] for t in ANSWER_TASKS) / len(ANSWER_TASKS)
    result["mean_over_answer_tasks"] = {**means, "chance": level}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "signal.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\nScores are over answered samples. A cell with no answers (every request failed) counts at its "
          "chance level in the means below.")
    print(f"\nsignal: av={means['av']:.3f} video_only={means['video']:.3f} audio_only={means['audio']:.3f} "
          f"shifted={means['shifted']:.3f} chance={level:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
