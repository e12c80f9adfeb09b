"""config.py: harness.toml + --set + flags -> RunConfig, and plugins' own tables."""

import pytest

from aurelia_harness.config import apply_settings, load_config
from aurelia_harness.errors import ConfigError


def test_set_values_are_toml_and_plain_text_is_a_string(tmp_path):
    data = apply_settings({}, ["strategy.vote.k=5", "model.x.media={frames = 4}", "task.t.manifest=/a b/c.jsonl",
                               "run.require_audio=true"])
    assert data == {"strategy": {"vote": {"k": 5}}, "model": {"x": {"media": {"frames": 4}}},
                    "task": {"t": {"manifest": "/a b/c.jsonl"}}, "run": {"require_audio": True}}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_settings({}, ["strategy.vote.k"])
    with pytest.raises(ConfigError, match="'k' is not a table"):
        apply_settings({"strategy": {"k": 1}}, ["strategy.k.x=1"])


def test_tables_reach_plugins_and_task_settings_are_kept_for_the_tasks(tmp_path):
    path = tmp_path / "harness.toml"
    path.write_text('[run]\nmodels = "a, b"\nreference = "cot"\n[data]\nroot = "~/d"\n[data.avsynth]\nper_task = 9\n'
                    '[task.tones]\ntolerance = 0.1\n')
    cfg = load_config(path, {"tasks": ["tones"]}, ["data.avsynth.seed=3"])
    assert cfg.models == ["a", "b"] and cfg.tasks == ["tones"] and cfg.reference == "cot"
    assert cfg.table("data", "avsynth") == {"per_task": 9, "seed": 3} and cfg.table("data", "nothing") == {}
    assert cfg.task_settings == {"tones": {"tolerance": 0.1}} and str(cfg.data_root).endswith("/d")
    assert cfg.to_json()["tables"]["data"]["avsynth"] == {"per_task": 9, "seed": 3}  # results.json keeps them


def test_bad_values_are_refused_with_the_key(tmp_path):
    path = tmp_path / "harness.toml"
    path.write_text("[run]\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match="concurrency"):
        load_config(path)
    path.write_text('[run]\nmodality = "smell"\n')
    with pytest.raises(ConfigError, match="modality must be one of av, video, audio, text"):
        load_config(path)
    path.write_text("[run]\nrequire_audio = true\n")
    assert load_config(path).require_audio is True
