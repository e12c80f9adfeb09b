import json
import shutil

import pytest

import fakes
from aurelia_harness import hookimpl
from aurelia_harness.config import RunConfig
from aurelia_harness.errors import OutputConflict, UnknownName
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.tasks import ManifestTask


def write_manifest(folder, clips, lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "media").mkdir(exist_ok=True)
    for name in ("av", "silent", "wav", "empty", "text"):
        shutil.copy(clips[name], folder / "media" / clips[name].name)
    path = folder / "manifest.jsonl"
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return path


def mcq(i, answer="A", media="av.mp4", question="Which colour comes first?", kind="video"):
    return {"id": f"s{i}", "question": question, "options": ["red", "blue"], "answer": answer,
            "media": [{"kind": kind, "path": f"media/{media}"}], "category": "order"}


class TaskPlugin:
    def __init__(self, manifest, name="t-mcq", form="mcq"):
        self.task = ManifestTask({"name": name, "answer_form": form, "data": {"manifest": str(manifest)}})

    @hookimpl
    def register_tasks(self, register):
        register(self.task)


def make(tmp_path, manifest, **overrides):
    registry = discover(modules=[fakes, TaskPlugin(manifest)])
    cfg = RunConfig(models=["scripted-a"], tasks=["t-mcq"], strategies=["baseline"], output=tmp_path / "out",
                    progress=False, cache_dir=tmp_path / "cache")
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg, registry


def records(out):
    return [json.loads(l) for f in sorted(out.glob("samples*.jsonl")) for l in f.read_text().splitlines() if l]


def test_run_scores_journals_and_reports(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0, "A"), mcq(1, "B"), mcq(2, "A"), mcq(3, "A")])
    cfg, registry = make(tmp_path, manifest)
    result = Runner(cfg, registry, log=lambda m: None).run()
    recs = records(cfg.output)
    assert len(recs) == 4 and {r["sample_id"] for r in recs} == {"s0", "s1", "s2", "s3"}
    assert all(r["schema_version"] == 1 and r["parsed"] == "A" for r in recs)
    row = result.results["results"][0]
    assert (row["n"], row["value"], row["errors"], row["unparseable"]) == (4, 0.75, 0, 0)
    assert row["ci95"][0] < 0.75 < row["ci95"][1]
    assert row["by_category"] == {"order": {"n": 4, "value": 0.75}}
    saved = json.loads((cfg.output / "results.json").read_text())
    assert saved["schema_version"] == 1 and saved["run"]["seed"] == 0
    assert {"python", "torch", "transformers", "ffmpeg"} <= set(saved["run"]["versions"])
    assert "| scripted-a | t-mcq | baseline | 4 |" in (cfg.output / "summary.md").read_text()


def test_bad_media_and_failing_model_become_per_sample_errors(tmp_path, clips):
    lines = [mcq(0), mcq(1, media="does-not-exist.mp4"), mcq(2, media="empty.mp4"), mcq(3, media="notes.mp4"),
             mcq(4, media="tone.wav"), mcq(5, question="RAISE please"), mcq(6, media="silent.mp4"), mcq(7)]
    manifest = write_manifest(tmp_path / "data", clips, lines)
    cfg, registry = make(tmp_path, manifest)
    result = Runner(cfg, registry, log=lambda m: None).run()
    by_id = {r["sample_id"]: r for r in records(cfg.output)}
    assert len(by_id) == 8
    assert by_id["s1"]["error"]["type"] == "media_missing"
    assert by_id["s2"]["error"]["type"] == "media_empty"
    assert by_id["s3"]["error"]["type"] == "not_media"
    assert by_id["s4"]["error"]["type"] == "no_video_stream"
    assert by_id["s5"]["error"]["type"] == "RuntimeError" and "scripted failure" in by_id["s5"]["error"]["message"]
    assert by_id["s6"]["error"] is None and "no audio track" in by_id["s6"]["notes"][0]
    assert by_id["s0"]["score"] == 1.0 and by_id["s7"]["score"] == 1.0
    row = result.results["results"][0]
    assert row["errors"] == 5 and row["value"] == 1.0  # over the 3 answered samples
    assert row["coverage"] == pytest.approx(3 / 8) and row["value_all"] == pytest.approx(3 / 8)


def test_resume_finishes_the_rest_without_duplicates(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(6)])
    cfg, registry = make(tmp_path, manifest, limit=2)
    Runner(cfg, registry, log=lambda m: None).run()
    assert len(records(cfg.output)) == 2
    before = fakes.ScriptedAdapter.calls
    cfg.limit = None
    Runner(cfg, registry, log=lambda m: None).run()
    recs = records(cfg.output)
    assert len(recs) == 6 and len({r["key"] for r in recs}) == 6
    assert fakes.ScriptedAdapter.calls - before == 4
    Runner(cfg, registry, log=lambda m: None).run()
    assert fakes.ScriptedAdapter.calls - before == 4 and len(records(cfg.output)) == 6


def test_torn_last_line_is_redone_once(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(3)])
    cfg, registry = make(tmp_path, manifest)
    Runner(cfg, registry, log=lambda m: None).run()
    journal = cfg.output / "samples.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed mid-write
    Runner(cfg, registry, log=lambda m: None).run()
    text = journal.read_text()
    assert text.endswith("\n")
    recs = [json.loads(l) for l in text.splitlines()]  # every line is whole JSON again
    assert sorted(r["sample_id"] for r in recs) == ["s0", "s1", "s2"]


def test_other_settings_in_the_same_folder_are_refused_then_overwritten(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(2)])
    cfg, registry = make(tmp_path, manifest)
    Runner(cfg, registry, log=lambda m: None).run()
    cfg.model_overrides = {"scripted-a": {"answer": "B"}}
    with pytest.raises(OutputConflict) as exc:
        Runner(cfg, registry, log=lambda m: None).run()
    message = str(exc.value)
    assert "scripted-a x t-mcq x baseline" in message and "model card" in message and "--overwrite" in message
    cfg.strategy_settings = {"baseline": {"max_new_tokens": 8}}
    with pytest.raises(OutputConflict, match="strategy settings"):
        Runner(cfg, registry, log=lambda m: None).run()
    cfg.overwrite = True
    result = Runner(cfg, registry, log=lambda m: None).run()
    assert [r["parsed"] for r in records(cfg.output)] == ["B", "B"]
    assert result.results["results"][0]["value"] == 0.0


def test_adding_models_and_strategies_to_a_folder_is_allowed(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(2)])
    cfg, registry = make(tmp_path, manifest)
    Runner(cfg, registry, log=lambda m: None).run()
    cfg.models, cfg.strategies = ["scripted-a", "scripted-b"], ["baseline", "cot"]
    result = Runner(cfg, registry, log=lambda m: None).run()
    combos = {(r["model"], r["strategy"]) for r in result.results["results"]}
    assert combos == {("scripted-a", "baseline"), ("scripted-a", "cot"), ("scripted-b", "baseline"),
                      ("scripted-b", "cot")}
    assert len(records(cfg.output)) == 8


def test_a_model_that_cannot_load_is_reported_once_and_others_run(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(3)])
    cfg, registry = make(tmp_path, manifest, models=["broken", "orphan", "scripted-a"])
    logs = []
    result = Runner(cfg, registry, log=logs.append).run()
    assert sum("broken could not load" in m for m in logs) == 1
    assert any("orphan" in m and "needs adapter" in m for m in logs)
    assert result.results["model_problems"][0]["model"] == "broken"
    assert "weights not found" in result.results["model_problems"][0]["message"]
    assert [r["model"] for r in result.results["results"]] == ["scripted-a"]


def test_unknown_names_suggest_the_closest(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0)])
    for field, value, needle in [("models", ["scripted-x"], "scripted-a"), ("tasks", ["t-mqc"], "t-mcq"),
                                 ("strategies", ["basline"], "baseline")]:
        cfg, registry = make(tmp_path, manifest, **{field: value})
        with pytest.raises(UnknownName) as exc:
            Runner(cfg, registry, log=lambda m: None).run()
        suggestion = str(exc.value).split("Known")[0]
        assert "Did you mean:" in suggestion and needle in suggestion


def test_bad_manifest_lines_are_skipped_with_line_numbers(tmp_path, clips):
    lines = [mcq(0), "{not json", {"id": "s9", "options": ["a", "b"], "answer": "A"}, mcq(0),
             {**mcq(2), "answer": "C"}, {**mcq(3), "media": [{"kind": "video", "path": "../../../outside-the-root.mp4"}]},
             mcq(4)]
    manifest = write_manifest(tmp_path / "data", clips, lines)
    with open(manifest, "ab") as fh:
        fh.write(b'{"id": "s5", "question": "caf\xe9", "answer": "A", "options": ["x", "y"]}\n')
    cfg, registry = make(tmp_path, manifest)
    result = Runner(cfg, registry, log=lambda m: None).run()
    problems = result.results["data_problems"]
    assert any("manifest.jsonl:2" in p and "not valid JSON" in p for p in problems)
    assert any("manifest.jsonl:3" in p and "question" in p for p in problems)
    assert any("manifest.jsonl:4" in p and "duplicate id 's0'" in p for p in problems)
    assert any("manifest.jsonl:5" in p and "not one of the option letters" in p for p in problems)
    assert any("manifest.jsonl:6" in p and "leaves the dataset folder" in p for p in problems)
    assert any("manifest.jsonl:8" in p and "UTF-8" in p for p in problems)
    assert sorted(r["sample_id"] for r in records(cfg.output)) == ["s0", "s4"]


def test_interrupt_keeps_the_journal_and_a_rerun_completes(tmp_path, clips, monkeypatch):
    import os
    import signal
    import time

    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(6)])
    cfg, registry = make(tmp_path, manifest, concurrency=1, batch_size=1)
    real = fakes.ScriptedAdapter.generate_batch
    seen = []

    def interrupting(self, requests):
        seen.append(1)
        if len(seen) == 3:
            # What Ctrl-C does: a real SIGINT wakes the main thread even where it waits in C (interrupt_main
            # only sets a flag, and on a loaded machine the other samples could finish before it was seen).
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        return real(self, requests)

    monkeypatch.setattr(fakes.ScriptedAdapter, "generate_batch", interrupting)
    # A process started in the background by a non-interactive shell inherits SIGINT ignored; Ctrl-C's handler
    # is what is under test, so install it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = Runner(cfg, registry, log=lambda m: None).run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.interrupted
    partial = records(cfg.output)
    assert 2 <= len(partial) < 6
    monkeypatch.setattr(fakes.ScriptedAdapter, "generate_batch", real)
    Runner(cfg, registry, log=lambda m: None).run()
    recs = records(cfg.output)
    assert len(recs) == 6 and len({r["key"] for r in recs}) == 6


def test_fail_on_error_stops_with_an_error(tmp_path, clips):
    from aurelia_harness.errors import FailedOnError

    manifest = write_manifest(tmp_path / "data", clips, [mcq(0), mcq(1, media="empty.mp4"), mcq(2)])
    cfg, registry = make(tmp_path, manifest, fail_on_error=True, concurrency=1)
    with pytest.raises(FailedOnError, match="fail-on-error"):
        Runner(cfg, registry, log=lambda m: None).run()


def test_out_of_memory_retries_the_sample_with_fewer_frames(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0)])
    cfg, registry = make(tmp_path, manifest, models=["hungry"], concurrency=1, batch_size=1)
    fakes.FrameHungry.tried = []
    Runner(cfg, registry, log=lambda m: None).run()
    recs = {r["sample_id"]: r for r in records(cfg.output)}
    assert recs["s0"]["error"] is None and recs["s0"]["score"] == 1.0
    assert "retried with 4 frames" in recs["s0"]["notes"][-1]
    assert fakes.FrameHungry.tried == [16, 8, 4]


def test_remote_code_runs_only_when_allowed(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0)])
    cfg, registry = make(tmp_path, manifest, models=["remote-code"])
    logs = []
    result = Runner(cfg, registry, log=logs.append).run()
    assert any("asks to run code from the hub" in m and "--trust-remote-code" in m for m in logs)
    assert result.results["results"] == []
    cfg.remote_code_allowed = ["remote-code"]
    assert Runner(cfg, registry, log=lambda m: None).run().results["results"][0]["n"] == 1
    cfg.remote_code_allowed, cfg.trust_remote_code, cfg.output = [], True, tmp_path / "out2"
    assert Runner(cfg, registry, log=lambda m: None).run().results["results"][0]["n"] == 1


def test_a_soundtrack_that_stops_reaching_the_model_is_flagged_and_can_be_an_error(tmp_path):
    """tiny-omni (real Qwen2.5-Omni classes) reports what it received; with the soundtrack switched off by
    configuration, the audio-visual sample is flagged, and --require-audio makes it that sample's error."""
    from aurelia_harness.plugins import discover

    registry = discover()
    base = dict(models=["tiny-omni"], tasks=["avsynth-count"], strategies=["baseline"], limit=1, progress=False,
                cache_dir=tmp_path / "cache")
    heard = Runner(RunConfig(**base, output=tmp_path / "a"), registry, log=lambda m: None).run()
    record = records(tmp_path / "a")[0]
    receipt = record["media"][0]
    assert receipt["role"] == "target" and receipt["audio"][0]["seconds"] > 5 and receipt["tokens"]["audio"] > 0
    assert receipt["video"][0]["frames"] == 8 and not record["audio_missing"]
    assert heard.results["results"][0]["audio_missing"] == 0

    deaf = {"tiny-omni": {"media": {"audio_in_video": False}}}
    flagged = Runner(RunConfig(**base, output=tmp_path / "b", model_overrides=deaf), registry, log=lambda m: None).run()
    record = records(tmp_path / "b")[0]
    assert record["audio_missing"] and record["error"] is None and record["media"][0]["audio"] == []
    assert any(n.startswith("audio_missing:") for n in record["notes"])
    assert flagged.results["results"][0]["audio_missing"] == 1
    assert "reached tiny-omni with no audio" in (tmp_path / "b" / "summary.md").read_text()

    Runner(RunConfig(**base, output=tmp_path / "c", model_overrides=deaf, require_audio=True), registry,
           log=lambda m: None).run()
    assert records(tmp_path / "c")[0]["error"]["type"] == "audio_missing"
