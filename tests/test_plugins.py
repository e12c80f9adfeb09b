import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fakes
from aurelia_harness import hookimpl
from aurelia_harness.plugins import discover

ROOT = Path(__file__).resolve().parents[1]


def test_first_party_plugins_register_through_the_entry_point_group():
    registry = discover()
    assert {"qwen-omni"} <= set(registry.adapters)
    assert {"baseline", "cot"} <= set(registry.strategies)
    assert "tiny-omni" in registry.cards and registry.cards["tiny-omni"].pipeline_check
    assert {f"avsynth-{c}" for c in ("count", "caption", "compositional", "geo", "sync", "dance")} <= set(registry.tasks)
    assert registry.task_groups()["avsynth"] == sorted(n for n in registry.tasks if n.startswith("avsynth-"))
    assert registry.origin[("adapter", "qwen-omni")] == "qwen-omni"
    assert not registry.problems


def test_plugins_registered_directly_as_objects():
    registry = discover(entry_points=False, modules=[fakes])
    assert set(registry.adapters) == {"scripted", "broken-load", "frame-hungry"}
    assert {"scripted-a", "scripted-b", "broken", "orphan", "hungry", "remote-code"} == set(registry.cards)


def test_a_broken_plugin_is_reported_and_the_rest_still_work(tmp_path):
    bad_import = tmp_path / "bad_import.py"
    bad_import.write_text("import no_such_module_anywhere\n")
    bad_hook = tmp_path / "bad_hook.py"
    bad_hook.write_text(textwrap.dedent("""
        from aurelia_harness import hookimpl

        @hookimpl
        def register_strategies(register):
            raise ValueError("this plugin is broken on purpose")
    """))
    registry = discover([str(bad_import), str(bad_hook), "no.such.module"], modules=[fakes])
    problems = {p.plugin: p for p in registry.problems}
    assert "ModuleNotFoundError" in problems[str(bad_import)].error
    assert problems[str(bad_hook)].stage == "register_strategies"
    assert "broken on purpose" in problems[str(bad_hook)].error
    assert "no.such.module" in problems
    assert "scripted" in registry.adapters and "baseline" in registry.strategies


class _Half:
    """One hook works, one raises: the working one still counts."""

    @hookimpl
    def register_model_adapters(self, register):
        raise RuntimeError("adapters broke")

    @hookimpl
    def register_strategies(self, register):
        from aurelia_harness.strategy import Strategy

        register("noop", Strategy)


def test_one_failing_hook_does_not_hide_the_others():
    registry = discover(entry_points=False, modules=[_Half()])
    assert "noop" in registry.strategies
    assert registry.problems[0].stage == "register_model_adapters"


def doc_files(project: str) -> dict[str, str]:
    """The files of one example distribution in docs/plugins.md: each code block labelled `PROJECT/path`."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    found = re.findall(r"`" + re.escape(project) + r"/([^`]+)`:\n\n```\w+\n(.*?)```", text, re.S)
    assert found, f"docs/plugins.md has no files of {project}"
    return dict(found)


def install_from_doc(project: str, tmp_path: Path, target: Path) -> None:
    """Write an example distribution from docs/plugins.md into a folder and pip-install it into `target`."""
    folder = tmp_path / project
    for relative, body in doc_files(project).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(body)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(folder)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr


def _env(extra_path: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return env


CLI = [sys.executable, "-m", "aurelia_harness"]


def test_documented_adapter_plugin_installs_and_runs(tmp_path):
    """Build the adapter example of docs/plugins.md as a distribution, pip-install it, and run it on AVSynth."""
    target = tmp_path / "site"
    install_from_doc("avharness-signal", tmp_path, target)
    assert list(target.glob("avharness_signal-*.dist-info/entry_points.txt"))
    listing = subprocess.run(CLI + ["plugins"], capture_output=True, text=True, env=_env(target))
    assert "signal: ok" in listing.stdout and "adapter signal-describer" in listing.stdout

    out = tmp_path / "run"
    run = subprocess.run(CLI + ["--models", "signal-describer", "--tasks", "avsynth-caption", "--strategy",
                                "baseline", "--output", str(out), "--no-progress"],
                         capture_output=True, text=True, env=_env(target))
    assert run.returncode == 0, run.stderr
    results = json.loads((out / "results.json").read_text())
    row = results["results"][0]
    assert row["model"] == "signal-describer" and row["errors"] == 0
    assert row["value"] >= 0.75  # it names colour and pitch: the AVSynth captions' keywords
    record = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert record["plugins"]["adapter"].startswith("avharness-signal 0.1.0+")  # version + its files' hashes

    # the same version reinstalled with changed code is a changed plugin: the resume check names it
    source = tmp_path / "avharness-signal" / "avharness_signal.py"
    source.write_text(source.read_text().replace("There is nothing to describe.", "Nothing to describe."))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--upgrade", "--target", str(target), str(tmp_path / "avharness-signal")],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    rerun = subprocess.run(CLI + ["--models", "signal-describer", "--tasks", "avsynth-caption", "--strategy",
                                  "baseline", "--output", str(out), "--no-progress"],
                           capture_output=True, text=True, env=_env(target))
    assert rerun.returncode == 2 and "adapter plugin (avharness-signal 0.1.0+" in rerun.stderr


def test_documented_task_and_strategy_plugins_install_and_run(tmp_path):
    """The task example (data shipped in the package, a custom graded metric, a setting) and the strategy
    example (several calls, a setting, usage, its own summary column), installed from docs/plugins.md."""
    target = tmp_path / "site"
    for project in ("avharness-signal", "avharness-tones", "avharness-vote"):
        install_from_doc(project, tmp_path, target)
    env = _env(target)
    listing = subprocess.run(CLI + ["list", "strategies"], capture_output=True, text=True, env=env)
    assert re.search(r"^vote +Ask the target in several phrasings", listing.stdout, re.M)

    out = tmp_path / "run"
    run = subprocess.run(CLI + ["--models", "signal-describer", "--tasks", "tones", "--strategy", "baseline,vote",
                                "--set", "strategy.vote.k=2", "--output", str(out), "--no-progress",
                                "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    rows = {r["strategy"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert rows["baseline"]["metric"] == "pitch_closeness" and rows["baseline"]["graded"]
    assert rows["baseline"]["n"] == 3 and rows["baseline"]["value"] > 0.95  # the FFT names each tone
    assert rows["vote"]["strategy_summary"] == {"mean_agreement": 1.0}
    assert "mean agreement" in (out / "summary.md").read_text()
    votes = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["usage"]["target"]["calls"] == 2 for r in votes if r["strategy"] == "vote")

    bad = subprocess.run(CLI + ["--models", "signal-describer", "--tasks", "tones", "--strategy", "vote",
                                "--set", "strategy.vote.kk=2", "--output", str(tmp_path / "bad"), "--no-progress"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown setting(s) kk in [strategy.vote]; known: k, max_new_tokens" in bad.stderr
    tolerance = subprocess.run(CLI + ["--models", "signal-describer", "--tasks", "tones", "--strategy", "baseline",
                                      "--set", "task.tones.tolerence=0.1", "--output", str(tmp_path / "t")],
                               capture_output=True, text=True, env=env)
    assert tolerance.returncode == 2 and "known: tolerance" in tolerance.stderr


def test_plugin_flag_loads_a_file_without_installing(tmp_path):
    path = tmp_path / "avharness_signal.py"
    path.write_text(doc_files("avharness-signal")["avharness_signal.py"])
    for args in (["list", "models", "--plugin", str(path)], ["--plugin", str(path), "list", "models"]):
        listing = subprocess.run(CLI + args, capture_output=True, text=True, env=_env())
        assert listing.returncode == 0, listing.stderr
        line = next(l for l in listing.stdout.splitlines() if l.startswith("signal-describer"))
        assert "ready" in line


def test_an_uncached_hub_checkpoint_fails_fast_offline(monkeypatch):
    import time

    from aurelia_harness.hub import CheckpointUnavailable, ensure_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointUnavailable, match="not in the local cache"):
        ensure_reachable("Qwen/Qwen2.5-Omni-7B")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(CheckpointUnavailable, match="cannot be reached"):
        ensure_reachable("Qwen/Qwen2.5-Omni-7B", timeout=2)
    assert time.perf_counter() - start < 3
    ensure_reachable(str(ROOT))  # a local folder is always fine
