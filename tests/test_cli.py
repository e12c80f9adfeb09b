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
