import json
from pathlib import Path

import pytest

from aurelia_harness.cli import main
from aurelia_harness.config import load_config
from aurelia_harness.errors import ConfigError

FAKES = str(Path(__file__).with_name("fakes.py"))


def test_malformed_harness_toml_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "harness.toml"
    bad.write_text('[run]\nmodels = ["tiny-omni"]\nlimit = = 3\n')
    assert main(["list", "models", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "line 3" in err


def test_unknown_run_key_is_refused(tmp_path):
    cfg = tmp_path / "harness.toml"
    cfg.write_text("[run]\nmodel = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(cfg)


def test_flags_override_the_file(tmp_path):
    cfg = tmp_path / "harness.toml"
    cfg.write_text("[run]\nlimit = 3\nconcurrency = 2\n[strategy.cot]\nmax_new_tokens = 99\n")
    config = load_config(cfg, {"limit": 5, "models": None})
    assert (config.limit, config.concurrency, config.strategy_settings["cot"]["max_new_tokens"]) == (5, 2, 99)


def test_run_is_the_default_command_and_errors_are_counted_not_fatal(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["--plugin", FAKES, "--models", "scripted-a", "--strategy", "baseline", "--tasks", "avsynth-sync",
                 "--output", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| scripted-a | avsynth-sync | baseline | 4 |" in printed and "results.json" in printed
    assert json.loads((out / "results.json").read_text())["results"][0]["n"] == 4


def test_unknown_model_exits_2_with_a_suggestion(tmp_path, capsys):
    assert main(["--models", "tiny-omnii", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'tiny-omnii'" in err and "Did you mean: tiny-omni" in err


def test_fail_on_error_exit_status(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.jsonl").write_text(json.dumps({"id": "x", "question": "q", "options": ["a", "b"],
                                                     "answer": "A", "media": [{"kind": "video", "path": "gone.mp4"}]}) + "\n")
    plugin = tmp_path / "task_plugin.py"
    plugin.write_text(
        "from aurelia_harness import hookimpl\nfrom aurelia_harness.tasks import ManifestTask\n"
        "@hookimpl\ndef register_tasks(register):\n"
        f"    register(ManifestTask({{'name': 'one', 'answer_form': 'mcq', 'data': {{'manifest': r'{data / 'manifest.jsonl'}'}}}}))\n")
    args = ["--plugin", FAKES, "--plugin", str(plugin), "--models", "scripted-a", "--tasks", "one",
            "--strategy", "baseline", "--no-progress"]
    assert main(args + ["--output", str(tmp_path / "a")]) == 0
    assert main(args + ["--output", str(tmp_path / "b"), "--fail-on-error"]) == 1
    assert "media_missing" in capsys.readouterr().err


def test_list_plugins_and_doctor(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-omni" in out and "pipeline check, not a real model" in out
    assert main(["list", "tasks"]) == 0
    assert "avsynth-dance" in capsys.readouterr().out
    assert main(["list", "strategies"]) == 0
    assert "cot" in capsys.readouterr().out
    assert main(["plugins"]) == 0
    assert "qwen-omni: ok" in capsys.readouterr().out
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "[ok] ffmpeg:" in out and "[ok] torch:" in out and "[ok] GPU:" in out


def test_data_synth(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "syn"), "--per-task", "1", "--categories", "sync,geo"]) == 0
    assert (tmp_path / "syn" / "sync" / "manifest.jsonl").exists()
    assert main(["data", "synth", "--out", str(tmp_path / "x"), "--categories", "nope"]) == 2


def test_set_overrides_any_harness_toml_key(tmp_path):
    from aurelia_harness.config import load_config

    cfg = tmp_path / "harness.toml"
    cfg.write_text("[strategy.aurelia]\nthreshold = 6\nreasoner = 'tiny-omni'\n")
    config = load_config(cfg, {}, ["strategy.aurelia.threshold=8", "strategy.aurelia.reasoner=qwen2.5-omni-7b",
                                   "model.tiny-omni.media.frames=4", "run.limit=3"])
    assert config.strategy_settings["aurelia"] == {"threshold": 8, "reasoner": "qwen2.5-omni-7b"}
    assert config.model_overrides["tiny-omni"] == {"media": {"frames": 4}} and config.limit == 3
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(cfg, {}, ["threshold"])


def test_set_on_the_command_line_reaches_the_strategy(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--plugin", FAKES, "--models", "scripted-a", "--tasks", "avsynth-sync", "--strategy", "baseline",
                 "--limit", "1", "--output", str(out), "--no-progress",
                 "--set", "strategy.baseline.max_new_tokens=7"]) == 0
    rec = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert main(["--plugin", FAKES, "--models", "scripted-a", "--tasks", "avsynth-sync", "--strategy", "baseline",
                 "--limit", "1", "--output", str(out), "--no-progress",
                 "--set", "strategy.baseline.max_new_tokens=9"]) == 2  # other settings, same folder: refused
    assert "strategy settings" in capsys.readouterr().err and rec["strategy"] == "baseline"


def _tiny_task(tmp_path: Path, clips: dict, n: int = 2) -> Path:
    """A task definition file of n one-video multiple-choice samples, loadable with --plugin."""
    import shutil

    data = tmp_path / "data"
    (data / "media").mkdir(parents=True, exist_ok=True)
    shutil.copy(clips["av"], data / "media" / "av.mp4")
    (data / "manifest.jsonl").write_text("".join(json.dumps(
        {"id": f"q{i}", "question": "Which colour comes first?", "options": ["red", "blue"], "answer": "A",
         "media": [{"kind": "video", "path": "media/av.mp4"}]}) + "\n" for i in range(n)))
    task = tmp_path / "tiny-task.toml"
    task.write_text(f'name = "tiny"\nanswer_form = "mcq"\n[data]\nmanifest = "{data / "manifest.jsonl"}"\n')
    return task


def test_plugin_goes_before_or_after_the_command_and_a_task_toml_is_a_plugin(tmp_path, clips, capsys):
    task = _tiny_task(tmp_path, clips)
    assert main(["--plugin", FAKES, "list", "strategies"]) == 0
    before = capsys.readouterr().out
    assert main(["list", "strategies", "--plugin", FAKES]) == 0
    assert capsys.readouterr().out == before and "baseline" in before
    assert main(["list", "tasks", "--plugin", str(task)]) == 0
    assert any(line.startswith("tiny ") for line in capsys.readouterr().out.splitlines())
    assert main(["--plugin", FAKES, "--plugin", str(task), "--models", "scripted-a", "--tasks", "tiny",
                 "--strategy", "baseline", "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert rows[0]["task"] == "tiny" and rows[0]["value"] == 1.0


def test_unknown_settings_exit_2_naming_the_known_ones(tmp_path, clips, capsys):
    task = _tiny_task(tmp_path, clips)
    common = ["--plugin", FAKES, "--plugin", str(task), "--models", "scripted-a", "--tasks", "tiny", "--output",
              str(tmp_path / "out"), "--no-progress"]
    assert main(common + ["--strategy", "baseline", "--set", "strategy.baseline.max_tokens=5"]) == 2
    assert "unknown setting(s) max_tokens in [strategy.baseline]; known: max_new_tokens, system" in capsys.readouterr().err
    assert main(common + ["--strategy", "baseline", "--set", "task.tiny.manifesto=x"]) == 2
    assert "task 'tiny': unknown setting(s) manifesto" in capsys.readouterr().err
    assert main(common + ["--strategy", "baseline", "--set", "task.no-such-task.manifest=x"]) == 2
    assert "[task.no-such-task]" in capsys.readouterr().err
    assert not (tmp_path / "out" / "samples.jsonl").exists()  # nothing ran


def test_a_run_whose_only_model_cannot_load_exits_non_zero_with_one_line(tmp_path, clips, capsys):
    task = _tiny_task(tmp_path, clips)
    code = main(["--plugin", FAKES, "--plugin", str(task), "--models", "broken", "--tasks", "tiny", "--strategy",
                 "baseline", "--output", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 3
    lines = [line for line in captured.err.splitlines() if line.startswith("avharness: no model could run")]
    assert len(lines) == 1 and "broken: could not load" in lines[0] and "weights not found" in lines[0]
    assert "Files:" not in captured.out


def test_a_model_whose_every_sample_errored_is_reported_failed_not_as_zeros(tmp_path, clips, capsys):
    """An unreachable server: every record is an error. The report lists the model as failed with its error
    (named once), not as rows of 0.0 with "McNemar p=1" pairings, and the exit status says so."""
    task = _tiny_task(tmp_path, clips)
    card = tmp_path / "down.toml"
    card.write_text('name = "down"\nadapter = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
                    'max_retries = 0\ntimeout = 2\n')
    out = tmp_path / "out"
    code = main(["--plugin", FAKES, "--plugin", str(task), "--plugin", str(card), "--models", "down,scripted-a",
                 "--tasks", "tiny", "--strategy", "baseline,cot", "--output", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 3 and "1 model(s) produced nothing: down" in captured.err
    results = json.loads((out / "results.json").read_text())
    assert [f["model"] for f in results["failed_models"]] == ["down"]
    assert {r["model"] for r in results["results"]} == {"scripted-a"}
    assert all(c["model"] == "scripted-a" for c in results["comparisons"])
    summary = (out / "summary.md").read_text()
    assert "**down failed**: every sample errored" in summary
    record = next(json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()
                  if json.loads(line)["model"] == "down")
    assert record["error"]["message"].count("down") == 1 and "down: down" not in record["error"]["message"]


def test_a_broken_installed_plugin_names_its_distribution(tmp_path):
    import subprocess
    import sys

    project = tmp_path / "avharness-broken"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "avharness-broken"\nversion = "0.3.0"\n'
        '[project.entry-points.avharness]\nbroken = "avharness_broken"\n'
        '[tool.setuptools]\npy-modules = ["avharness_broken"]\n')
    (project / "avharness_broken.py").write_text("import no_such_dependency_anywhere\n")
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(project)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run([sys.executable, "-m", "aurelia_harness", "plugins"], capture_output=True, text=True,
                             env=env)
    assert "broken: FAILED at import" in listing.stdout
    assert "(from the distribution avharness-broken: `pip uninstall avharness-broken` removes it)" in listing.stdout
    assert "qwen-omni: ok" in listing.stdout  # everything else still loads
