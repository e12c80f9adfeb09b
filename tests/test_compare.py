from pathlib import Path

import pytest

from aurelia_harness.cli import main
from aurelia_harness.compare import mcnemar_exact, paired_bootstrap

FAKES = str(Path(__file__).with_name("fakes.py"))


def test_exact_mcnemar():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(5, 5) == 1.0


def test_paired_bootstrap():
    assert paired_bootstrap([0.0] * 20) == (0.0, 0.0)
    lo, hi = paired_bootstrap([0.2, 0.3, 0.25, 0.1, 0.4] * 4)
    assert 0 < lo < 0.25 < hi < 0.4


def _run(out: Path, model: str) -> None:
    config = out.parent / "harness.toml"
    config.write_text("[data.avsynth]\nper_task = 8\n")
    code = main(["--config", str(config), "--plugin", FAKES, "--models", model, "--tasks", "avsynth-geo,avsynth-sync",
                 "--strategy", "baseline", "--output", str(out), "--no-progress"])
    assert code == 0


def test_compare_runs_and_fail_on_regression(tmp_path, capsys, monkeypatch):
    # with the task rewritten so that "A" is always right, scripted-a is perfect and scripted-b always wrong
    from aurelia_harness.tasks import Task

    monkeypatch.setattr(Task, "score", lambda self, sample, text: __import__("aurelia_harness.types", fromlist=["Score"])
                        .Score(float(text.strip() == "A"), text.strip()))
    _run(tmp_path / "good", "scripted-a")
    _run(tmp_path / "bad", "scripted-a")
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "good"), str(tmp_path / "bad"), "--fail-on-regression"]) == 0
    assert "no significant regression" in capsys.readouterr().out
    # the same model name in another folder, now answering B
    _run(tmp_path / "b-run", "scripted-b")
    for f in (tmp_path / "b-run").glob("samples*.jsonl"):
        f.write_text(f.read_text().replace('"scripted-b"', '"scripted-a"'))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "good"), str(tmp_path / "b-run")]) == 0
    assert main(["compare", str(tmp_path / "good"), str(tmp_path / "b-run"), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "B worse" in out and "significant regression" in out and "McNemar p=0.0078" in out
    assert main(["compare", str(tmp_path / "good"), str(tmp_path / "nowhere")]) == 2
