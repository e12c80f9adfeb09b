"""The first-party tasks: every task defined in the project's tasks/ folder (one TOML file per task), AVSynth
(generated on first use, configured in harness.toml's [data.avsynth]), the public benchmarks
(docs/benchmarks.md), and the data tools `avharness data synth`, `avharness data import` and
`avharness data breakdown`."""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.config import PROJECT_ROOT, read_toml
from aurelia_harness.errors import HarnessError
from aurelia_harness.strategy import check_settings
from aurelia_harness.tasks import ManifestTask

TASKS_DIR = PROJECT_ROOT / "tasks"
AVSYNTH_DEFAULTS = {"per_task": 4, "seed": 0}  # [data.avsynth]: samples per category, generator seed


class AVSynthTask(ManifestTask):
    """One AVSynth category; its manifest is generated with ffmpeg under the data root (default: the cache)
    the first time it is needed, and reused after."""

    def manifest_path(self, config) -> Path:
        from .avsynth import dataset_dir, generate

        table = config.table("data", "avsynth")
        opts = check_settings("data", "avsynth", AVSYNTH_DEFAULTS, table)
        per_task, seed = int(opts["per_task"]), int(opts["seed"])
        subset = self.definition["data"]["subset"]
        root = dataset_dir(config.data_root or config.cache_dir / "data", per_task, seed)
        return generate(root, per_task, seed, [subset])[subset]


@hookimpl
def register_tasks(register):
    from .benchmarks import KINDS

    for path in sorted(TASKS_DIR.glob("*.toml")):
        definition = read_toml(path)
        if definition.get("data", {}).get("source") == "avsynth":
            cls = AVSynthTask
        elif "benchmark" in definition:  # a public benchmark (docs/benchmarks.md): its breakdowns and checks
            kind = definition["benchmark"].get("kind", "benchmark")
            if kind not in KINDS:
                raise HarnessError(f"{path}: [benchmark] kind must be one of {', '.join(KINDS)}, not {kind!r}")
            cls = KINDS[kind]
        else:
            cls = ManifestTask
        register(cls(definition, str(path)))


class SynthTool:
    help = "generate the AVSynth offline benchmark with ffmpeg"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--per-task", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--categories", type=lambda v: [c.strip() for c in v.split(",") if c.strip()])

    def run(self, args) -> int:
        from .avsynth import CATEGORIES, generate

        categories = args.categories or list(CATEGORIES)
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise HarnessError(f"unknown AVSynth categories: {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(CATEGORIES)}")
        for category, path in generate(args.out, args.per_task, args.seed, categories).items():
            print(f"{category:14} {path}")
        return 0


class ImportTool:
    help = "convert a dataset's published annotations (music-avqa, worldsense, daily-omni, ...) to a manifest"

    def add_arguments(self, parser) -> None:
        from .importers import FORMATS

        parser.add_argument("format", choices=sorted(FORMATS))
        parser.add_argument("src", type=Path, help="the source annotation file (or folder, where the benchmark "
                                                       "publishes one: avhbench, av-odyssey)")
        parser.add_argument("--out", type=Path, required=True, help="dataset folder to write (manifest.jsonl + media/)")
        parser.add_argument("--videos", type=Path, help="folder holding the source media (default: where the "
                                                        "benchmark's layout puts it beside SRC)")
        parser.add_argument("--copy", action="store_true", help="copy media into OUT/media instead of linking")
        parser.add_argument("--history", type=int, default=0, help="avsd: earlier dialog turns to include")

    def run(self, args) -> int:
        from .importers import FORMATS

        report = FORMATS[args.format](args.src, args.out, videos=args.videos, copy=args.copy, history=args.history)
        manifests = ", ".join(str(m) for m in [report.manifest, *report.also])
        print(f"{manifests}: {report.written} samples written, {len(report.skipped)} skipped, "
              f"{len(report.missing_media)} media file(s) not found")
        for line in report.skipped[:20]:
            print(f"  skipped {line}")
        if report.missing_media:
            print(f"  missing media, e.g. {report.missing_media[0]} (run `avharness data validate {args.out}`)")
        return 0


class BreakdownTool:
    help = "a finished run's public-benchmark breakdowns (per task, category, duration; shortcut checks)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("run", type=Path, help="the run's output folder (results.json, samples*.jsonl)")
        parser.add_argument("--data-root", type=Path, help="where the manifests are (default: the run's)")

    def run(self, args) -> int:
        from aurelia_harness.plugins import discover

        from .benchmarks import breakdown_report

        report = breakdown_report(args.run, discover().tasks, args.data_root)
        for row in report["results"]:
            print(f"{row['model']} {row['task']} {row['strategy']} [{row['modality']}]: n={row['n']} "
                  f"accuracy={100 * row['accuracy']:.1f}%" + "".join(
                      f"; {field}: " + ", ".join(f"{k} {100 * v['accuracy']:.1f}% (n={v['n']})"
                                                 for k, v in cells.items())
                      for field, cells in row["breakdowns"].items()))
        print(f"written {args.run / 'breakdowns.json'}")
        return 0


@hookimpl
def register_data_tools(register):
    register("synth", SynthTool())
    register("import", ImportTool())
    register("breakdown", BreakdownTool())
