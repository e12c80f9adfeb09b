"""The `avharness` command: a thin layer over the library (runner, plugins, synth, media).

`avharness --models X --strategy Y` runs (run is the default command); also `run`, `list`, `plugins`,
`doctor`, `data`, `distill`, `compare` and `env`. `--plugin`, `--config` and `--set` may stand before or after
the command. Exit status: 0 when the run completed (per-sample errors are counted, not fatal), 1 with
--fail-on-error and errors, 2 for a problem with the command or configuration, 3 when a model produced
nothing (it could not load, or every one of its samples errored) or no model could run at all, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import FailedOnError, HarnessError

COMMANDS = ("run", "list", "plugins", "doctor", "data", "distill", "compare", "env", "report", "view")
EXIT_MODEL_FAILED = 3
_COMMON = ("--plugin", "--config", "--set")  # options every command takes, wherever they stand


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="harness.toml to read (default: ./harness.toml, else the project's)")
    p.add_argument("--set", dest="assignments", action="append", metavar="KEY=VALUE",
                   help="override a harness.toml setting by its dotted key, e.g. strategy.aurelia.threshold=7 "
                        "or model.qwen2.5-omni-7b.device_map=auto (repeatable)")
    p.add_argument("--plugin", dest="plugins", action="append", metavar="PATH_OR_MODULE",
                   help="load a plugin from a module name, .py file or package folder (repeatable)")


def _pull_common(argv: list[str]) -> tuple[list[str], list[str]]:
    """Move the common options (--plugin, --config, --set) out of argv, wherever they stand, so that
    `avharness --plugin P list strategies` and `avharness list strategies --plugin P` mean the same."""
    rest, common, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in _COMMON and "=" in arg:
            common.append(arg)
        elif arg in _COMMON and i + 1 < len(argv):
            common += [arg, argv[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return rest, common


def build_parser(data_tools: dict | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avharness", description="Evaluate audio-visual LLMs, with and "
                                     "without AURELIA. `avharness --models X --strategy Y` runs.")
    parser.add_argument("--version", action="version", version=f"avharness {__version__}")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="evaluate models x tasks x strategies (the default command)")
    _add_common(run)
    run.add_argument("--models", type=_csv, help="model card names, comma separated, or 'all'")
    run.add_argument("--tasks", type=_csv, help="task names or groups (e.g. avsynth), comma separated, or 'all'")
    run.add_argument("--strategy", "--strategies", dest="strategies", type=_csv,
                     help="strategy names, comma separated (baseline, cot, ...)")
    run.add_argument("--output", type=Path, help="output folder (journal, results.json, summary.md)")
    run.add_argument("--limit", type=int, help="first N samples of each task")
    run.add_argument("--sample-ids", type=_csv, help="only these sample ids, comma separated")
    run.add_argument("--seed", type=int)
    run.add_argument("--concurrency", type=int, help="samples in flight at once")
    run.add_argument("--batch-size", type=int, help="most requests handed to a local adapter at once")
    run.add_argument("--prefetch", type=int, help="requests per local model whose media are decoded and inputs "
                                                  "prepared ahead of it (default: 2 x batch size; 0: none)")
    run.add_argument("--fail-on-error", action="store_true", default=None,
                     help="exit 1 on the first per-sample error instead of counting it")
    run.add_argument("--require-audio", action="store_true", default=None,
                     help="an audio-visual sample whose target received no audio is an error (default: a note)")
    run.add_argument("--overwrite", action="store_true", default=None,
                     help="discard earlier records in --output made with other settings")
    run.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    run.add_argument("--cache-dir", type=Path, help="decoded-media and generated-data cache")
    run.add_argument("--data-root", type=Path, help="folder that task data paths are relative to")
    run.add_argument("--trust-remote-code", action="store_true", default=None,
                     help="let model cards that ask for it (trust_remote_code = true) run code from the hub")
    run.add_argument("--modality", choices=["av", "video", "audio", "text"],
                     help="modality ablation: keep only these inputs in every request (text = the question alone)")
    run.add_argument("--reasoning", dest="reasoning_file", type=Path,
                     help="reasoning file from `avharness distill`: agent work found there is not recomputed")

    distill = sub.add_parser("distill", help="run only a strategy's agent work (AURELIA's loop) and write it as a "
                             "dataset")
    _add_common(distill)
    distill.add_argument("--tasks", type=_csv, help="task names or groups, comma separated")
    distill.add_argument("--out", type=Path, required=True, help="JSON Lines file to write (appended; resumable)")
    distill.add_argument("--strategy", help="the strategy whose agent work to run (default: the one registered "
                                            "strategy that declares agent work)")
    distill.add_argument("--limit", type=int)
    distill.add_argument("--sample-ids", type=_csv)
    distill.add_argument("--concurrency", type=int)
    distill.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    distill.add_argument("--cache-dir", type=Path)
    distill.add_argument("--data-root", type=Path)

    compare = sub.add_parser("compare", help="paired comparison of two run folders on their shared samples")
    _add_common(compare)
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    compare.add_argument("--alpha", type=float, default=0.05,
                         help="significance level of every test, after the correction (default 0.05)")
    compare.add_argument("--correction", choices=["holm", "bh", "none"], default="holm",
                         help="across the model x task x strategy cells: holm (family-wise error, the default), "
                              "bh (Benjamini-Hochberg false discovery rate) or none")
    compare.add_argument("--errors-count-as-wrong", action="store_true",
                         help="score samples with an error (timeout, crash, abstention) as wrong instead of "
                              "leaving them out of the pairing")
    compare.add_argument("--fail-on-regression", action="store_true",
                         help="exit 1 when B is significantly worse than A, after the correction, for any "
                              "model x task x strategy")

    report = sub.add_parser("report", help="one self-contained HTML page for run folders: results, plots and a "
                            "sample browser with media and traces (docs/report.md)")
    _add_common(report)
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders (several: side by side)")
    report.add_argument("--out", type=Path, help="HTML file to write (default: report.html in the first run folder)")
    report.add_argument("--data", action="append", metavar="TASK=MANIFEST",
                        help="where a task's samples are, when the run's own config no longer finds them (repeatable)")

    view = sub.add_parser("view", help="serve a run folder's report on localhost, refreshing while the run goes on")
    _add_common(view)
    view.add_argument("run", type=Path, metavar="RUN")
    view.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1: this machine only)")
    view.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    view.add_argument("--refresh", type=float, default=5.0, help="seconds between the page's checks for new records")
    view.add_argument("--data", action="append", metavar="TASK=MANIFEST",
                      help="where a task's samples are, when the run's own config no longer finds them (repeatable)")

    lst = sub.add_parser("list", help="list registered models, tasks or strategies")
    _add_common(lst)
    lst.add_argument("what", choices=["models", "tasks", "strategies"])
    lst.add_argument("--recipe", metavar="CARD",
                     help="with `models`: the card's recipe (each setting, its value and its source; its presets), "
                          "after any --set model.CARD... overrides")

    plugins = sub.add_parser("plugins", help="plugins loaded, what each registered, and any that failed")
    _add_common(plugins)

    doctor = sub.add_parser("doctor", help="check ffmpeg, torch, transformers, GPU and plugins")
    _add_common(doctor)

    env = sub.add_parser("env", help="per-model Python environments (cards with an [environment] table)")
    env_sub = env.add_subparsers(dest="env_command", required=True)
    env_list = env_sub.add_parser("list", help="each card's environment and whether it is ready")
    _add_common(env_list)
    env_create = env_sub.add_parser("create", help="make a card's environment: a venv with its pinned requirements")
    _add_common(env_create)
    env_create.add_argument("card", nargs="?", help="model card name")
    env_create.add_argument("--paper", action="store_true",
                            help="every AURELIA paper model that has an adapter and an environment to make "
                                 "(model_cards/paper/; each shared environment once)")
    env_create.add_argument("--python", help="interpreter to base it on (default: the card's python_version "
                                             "from PATH, else this one)")
    env_create.add_argument("--force", action="store_true", help="rebuild it even if it is ready")
    env_create.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    for name, tool in sorted((data_tools or {}).items()):  # registered by plugins (the tasks plugin: synth, import)
        tool.add_arguments(data_sub.add_parser(name, help=getattr(tool, "help", "")))
    val = data_sub.add_parser("validate", help="check a manifest against its media before a long run")
    _add_common(val)
    val.add_argument("path", type=Path, help="a dataset folder (with manifest.jsonl) or a manifest file")
    val.add_argument("--task", help="also check the task's shape (options count, media per sample)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv, common = _pull_common(list(sys.argv[1:] if argv is None else argv))
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    try:
        tools = _data_tools(common) if argv[0] == "data" else None
        args = build_parser(tools).parse_args(argv if argv[0] == "data" else argv + common)
        if argv[0] == "data":
            args.plugins, args.config, args.assignments = _common_values(common)
            args.tools = tools
    except HarnessError as exc:
        print(f"avharness: error: {exc}", file=sys.stderr)
        return 2
    try:
        return {"run": cmd_run, "list": cmd_list, "plugins": cmd_plugins, "doctor": cmd_doctor,
                "data": cmd_data, "distill": cmd_distill, "compare": cmd_compare, "env": cmd_env,
                "report": cmd_report, "view": cmd_view}[args.command](args)
    except FailedOnError as exc:
        print(f"avharness: stopped: {exc}", file=sys.stderr)
        return 1
    except HarnessError as exc:
        print(f"avharness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avharness: interrupted", file=sys.stderr)
        return 130


def _common_values(common: list[str]) -> tuple[list[str], Path | None, list[str]]:
    parser = argparse.ArgumentParser(add_help=False)
    _add_common(parser)
    ns = parser.parse_args(common)
    return ns.plugins or [], ns.config, ns.assignments or []


def _data_tools(common: list[str]) -> dict:
    """`avharness data NAME` commands come from plugins: discover them before parsing."""
    from .config import load_config
    from .plugins import discover

    plugins, config_path, assignments = _common_values(common)
    config = load_config(config_path, {"plugins": plugins}, assignments)
    registry = discover(config.plugins)
    _report_plugin_problems(registry)
    return registry.data_tools


def _report_plugin_problems(registry) -> None:
    for problem in registry.problems:
        print(f"avharness: plugin {problem.plugin} failed ({problem.stage}): {problem.error}", file=sys.stderr)


def _registry(args):
    from .config import load_config
    from .plugins import discover

    config = load_config(getattr(args, "config", None), {"plugins": getattr(args, "plugins", None)},
                         getattr(args, "assignments", None))
    registry = discover(config.plugins)
    _report_plugin_problems(registry)
    return config, registry


def cmd_run(args) -> int:
    from .config import load_config
    from .plugins import discover
    from .report import summary_markdown
    from .runner import Runner

    flags = {k: getattr(args, k) for k in ("models", "tasks", "strategies", "output", "limit", "sample_ids",
                                           "seed", "concurrency", "batch_size", "prefetch", "fail_on_error", "require_audio",
                                           "overwrite", "progress", "cache_dir", "data_root", "plugins", "reasoning_file",
                                           "modality", "trust_remote_code")}
    config = load_config(args.config, flags, args.assignments)
    registry = discover(config.plugins)
    _report_plugin_problems(registry)
    _seed(config.seed)
    result = Runner(config, registry).run()
    if result.interrupted:
        return 130
    if not result.results:  # a data-parallel rank other than 0: rank 0 reports
        return 0
    results = result.results
    failed = results.get("failed_models", [])
    if not results["results"]:
        why = "; ".join(f"{f['model']}: {f['reason']} ({f['type']}: {f['message']})" for f in failed) or \
            "; ".join(results.get("skipped_models", [])) or "the plan held no samples (see the data lines above)"
        print(f"avharness: no model could run: {why}", file=sys.stderr)
        return EXIT_MODEL_FAILED
    cards = {n: registry.cards[n] for n in {r["model"] for r in results["results"]} if n in registry.cards}
    print(summary_markdown(results, cards))
    journals = ", ".join(str(p) for p in sorted(Path(config.output).glob("samples*.jsonl")))
    print(f"Files: {journals} (one record per sample), {config.output}/results.json, {config.output}/summary.md")
    errors = sum(r["errors"] for r in results["results"])
    if config.fail_on_error and (errors or result.model_problems):
        return 1
    if failed:
        print(f"avharness: {len(failed)} model(s) produced nothing: " +
              "; ".join(f"{f['model']} ({f['reason']})" for f in failed), file=sys.stderr)
        return EXIT_MODEL_FAILED
    return 0


def _seed(seed: int) -> None:
    import random

    random.seed(seed)
    try:
        import numpy as np
        import torch

        torch.manual_seed(seed)
        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass


def cmd_distill(args) -> int:
    from .config import load_config
    from .plugins import discover
    from .runner import distill

    flags = {k: getattr(args, k) for k in ("tasks", "limit", "sample_ids", "concurrency", "progress", "cache_dir",
                                           "data_root", "plugins")}
    config = load_config(args.config, flags, args.assignments)
    registry = discover(config.plugins)
    _report_plugin_problems(registry)
    name = args.strategy
    if name is None:
        agentic = sorted(n for n, cls in registry.strategies.items() if cls.has_agent_work())
        if len(agentic) != 1:
            raise HarnessError(f"name the strategy with --strategy: {', '.join(agentic) or 'none'} declare agent work")
        name = agentic[0]
    counts = distill(config, registry, args.out, name)
    print(f"{args.out}: {counts['written']} written, {counts['already']} already there, {counts['errors']} failed "
          f"(of {counts['samples']} samples)")
    if counts.get("interrupted"):
        return 130
    return 0


def cmd_compare(args) -> int:
    from .compare import MIN_GRADED_N, compare_runs, format_comparison

    if not 0 < args.alpha < 1:
        raise HarnessError(f"--alpha must lie between 0 and 1, not {args.alpha}")
    rows = compare_runs(args.run_a, args.run_b, args.alpha, args.correction, args.errors_count_as_wrong)
    if not rows:
        print("the two runs share no model x task x strategy")
        return 2 if args.fail_on_regression else 0  # a guard that compared nothing has not passed
    print(format_comparison(rows))
    tested = sum(p.p_value is not None for _, p in rows)
    correction = {"holm": "Holm (family-wise)", "bh": "Benjamini-Hochberg (false discovery rate)",
                  "none": "no correction"}[args.correction]
    print(f"\nA = {args.run_a}, B = {args.run_b}. One-sided tests of \"B worse than A\" at alpha {args.alpha}, "
          f"{correction} across {tested} tested cell(s). Right/wrong metrics: exact McNemar; graded metrics: "
          f"paired sign-flip test (no verdict below {MIN_GRADED_N} pairs). See docs/compare.md.")
    errors_a = sum(sum(p.errors_a.values()) for _, p in rows)
    errors_b = sum(sum(p.errors_b.values()) for _, p in rows)
    if errors_a or errors_b:
        how = ("counted as wrong answers (--errors-count-as-wrong)" if args.errors_count_as_wrong
               else "left out of the pairing, not counted as wrong (--errors-count-as-wrong counts them)")
        print(f"Errors on shared samples: A {errors_a}, B {errors_b}; {how}.")
    worse = [(s, p) for s, p in rows if p.regression]
    if worse:
        print(f"{len(worse)} significant regression(s): " + ", ".join(f"{p.model} x {p.task} x {s}" for s, p in worse))
        return 1 if args.fail_on_regression else 0
    print("no significant regression")
    return 0


def _sample_finder(args):
    """Samples for the report: --data hints, else each run's own config (results.json), with --plugin added;
    --config and --set stand in for a run that has no results.json yet."""
    from .config import load_config
    from .html_report import SampleFinder, parse_data_hints

    hints = parse_data_hints(args.data)
    default = load_config(args.config, {"plugins": args.plugins}, args.assignments)
    return lambda: SampleFinder(hints, plugins=args.plugins or [], default_config=default)


def cmd_report(args) -> int:
    from .html_report import write_report

    out = args.out or args.runs[0] / "report.html"
    data = write_report(args.runs, out, _sample_finder(args)())
    records = sum(r.records for r in data.runs)
    print(f"{out}: {records} record(s) of {len(data.runs)} run(s), {out.stat().st_size / 1e6:.1f} MB")
    for source in data.sources:
        if source.missing:
            print(f"avharness: {source.task}: {source.missing} sample(s) without their question: {source.how}",
                  file=sys.stderr)
    return 0


def cmd_view(args) -> int:
    from .viewer import serve

    try:
        serve(args.run, args.host, args.port, _sample_finder(args), args.refresh)
    except OSError as exc:
        raise HarnessError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def cmd_list(args) -> int:
    config, registry = _registry(args)
    if args.what == "models" and args.recipe:
        from .cards import recipe_lines

        if args.recipe not in registry.cards:
            print(f"avharness: no model card {args.recipe!r} (avharness list models shows them)", file=sys.stderr)
            return 2
        card = registry.card(args.recipe).with_overrides(config.model_overrides.get(args.recipe, {}))
        adapter = registry.adapters.get(card.adapter)
        print("\n".join(recipe_lines(card, getattr(adapter, "media_defaults", None))))
        return 0
    if args.what == "models":
        from .runner import environment_ready

        for name, card in sorted(registry.cards.items()):
            status = "ready" if card.adapter in registry.adapters else f"needs adapter ({card.adapter})"
            if status == "ready" and card.get("environment") and not environment_ready(card):
                status = "needs env"  # avharness env create NAME
            flag = "  [pipeline check, not a real model]" if card.pipeline_check else ""
            if card.get("scope"):
                flag += f"  [{card.get('scope')}]"
            print(f"{name:28} {card.adapter:18} {status:14} {card.checkpoint}{flag}")
    elif args.what == "tasks":
        for name, task in sorted(registry.tasks.items()):
            print(f"{name:26} {task.answer_form:8} {task.metric:15} {getattr(task, 'title', '')}")
        for group, members in sorted(registry.task_groups().items()):
            print(f"{group:26} (group: {', '.join(members)})")
    else:
        for name, cls in sorted(registry.strategies.items()):
            print(f"{name:14} {cls.description()}")
    return 0


def cmd_plugins(args) -> int:
    _, registry = _registry(args)
    by_plugin: dict[str, list[str]] = {}
    for (kind, name), plugin in sorted(registry.origin.items()):
        by_plugin.setdefault(plugin, []).append(f"{kind} {name}")
    for plugin in registry.loaded:
        print(f"{plugin}: ok")
        for line in by_plugin.get(plugin, []):
            print(f"    {line}")
    for problem in registry.problems:
        print(f"{problem.plugin}: FAILED at {problem.stage}: {problem.error}")
    return 0


def cmd_doctor(args) -> int:
    from .doctor import checks

    config, registry = _registry(args)
    failed = 0
    for ok, name, detail in checks(config, registry):
        failed += not ok
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return 1 if failed else 0


def cmd_env(args) -> int:
    from . import environments

    _, registry = _registry(args)
    if args.env_command == "create":
        if bool(args.card) == bool(args.paper):
            raise HarnessError("env create: name one card, or --paper for every runnable paper model")
        if args.card:
            environments.create(registry.card(args.card), python=args.python, force=args.force, dry_run=args.dry_run)
            return 0
        return _create_paper_environments(registry, args)
    cards = [c for _, c in sorted(registry.cards.items()) if c.get("environment")]
    for card in cards:
        print(f"{card.name:28} {environments.status(card)}")
    if not cards:
        print("no card asks for its own environment")
    return 0


def _create_paper_environments(registry, args) -> int:
    """`env create --paper`: each paper card with an installed adapter and a named environment, one
    environment once; a failure is reported and the others are still made (exit 1 if any failed)."""
    from . import environments

    made, failed = {}, []
    for name, card in sorted(registry.cards.items()):
        if not card.get("paper.model"):
            continue
        environment = card.get("environment.name")
        if card.adapter not in registry.adapters or not environment:
            why = "no adapter" if card.adapter not in registry.adapters else "no environment to make"
            print(f"{name}: skipped ({why})")
            continue
        if environment in made:
            print(f"{name}: shares the environment {environment!r} with {made[environment]}")
            continue
        made[environment] = name
        try:
            environments.create(card, python=args.python, force=args.force, dry_run=args.dry_run)
        except HarnessError as exc:
            failed.append(name)
            print(f"{name}: failed: {exc}", file=sys.stderr)
    if failed:
        print(f"avharness: {len(failed)} paper environment(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_data(args) -> int:
    if args.data_command == "validate":
        from .validate import validate

        task = None
        if args.task:
            _, registry = _registry(args)
            task = registry.task(args.task)
        report = validate(args.path, task)
        print(report.text())
        return 1 if report.problems else 0
    return args.tools[args.data_command].run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
