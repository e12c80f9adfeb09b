"""AVReasonBench's tasks: importers from the source formats, metrics, validation, paper reference, modality
ablation and judge scoring. Source excerpts are written here in each dataset's published layout."""

import json
import shutil
from pathlib import Path

import pytest

import agents
import fakes
from aurelia_harness import caption_metrics
from aurelia_harness.cli import main
from aurelia_harness.config import RunConfig
from avharness_plugins.tasks.importers import fill_template, import_aurelia, import_avsd, import_music_avqa, import_valor
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.tasks import ManifestTask
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart, restrict_modality
from aurelia_harness.validate import validate
from test_runner import TaskPlugin, mcq, records, write_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def videos(tmp_path, clips):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clips["av"], folder / "00000001.mp4")
    shutil.copy(clips["silent"], folder / "QH5KB.mp4")
    shutil.copy(clips["webm"], folder / "abc123.webm")
    return folder


def lines(manifest):
    return [json.loads(l) for l in Path(manifest).read_text().splitlines()]


def test_music_avqa_import_fills_templates_and_skips_deleted(tmp_path, videos):
    src = tmp_path / "avqa-test.json"
    src.write_text(json.dumps([
        {"video_id": "00000001", "question_id": 7, "type": "[\"Audio-Visual\", \"Existential\"]",
         "question_content": "Is the <Object> in the video always playing?", "templ_values": "[\"cello\"]",
         "question_deleted": 0, "anser": "yes"},
        {"video_id": "00000001", "question_id": 8, "type": "[\"Audio\", \"Counting\"]",
         "question_content": "How many instruments are sounding in the video?", "templ_values": "[]",
         "question_deleted": 0, "anser": "two"},
        {"video_id": "00000002", "question_id": 9, "type": "[]", "question_content": "Where is the <FL> <Object>?",
         "templ_values": "[\"first\", \"piano\"]", "question_deleted": 1, "anser": "left"},
        {"video_id": "00000003", "question_id": 10, "question_content": "Is there a voiceover?", "templ_values": "[]"},
    ]))
    report = import_music_avqa(src, tmp_path / "data" / "av-qa-music", videos=videos)
    assert report.written == 2 and len(report.skipped) == 2
    assert any("question_deleted" in s for s in report.skipped) and any("anser" in s for s in report.skipped)
    first, second = lines(report.manifest)
    assert first["question"] == "Is the cello in the video always playing?" and first["answer"] == "yes"
    assert first["metadata"]["question_type"] == "Audio-Visual / Existential"
    assert (report.manifest.parent / first["media"][0]["path"]).exists()
    assert fill_template("Where is the <FL> <Object>?", ["first", "piano"]) == "Where is the first piano?"

    # and it runs as the av-qa-music task, scored with normalisation ("2" vs "two")
    registry = discover(modules=[fakes])
    cfg = RunConfig(models=["scripted-a"], tasks=["av-qa-music"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path / "data",
                    model_overrides={"scripted-a": {"answer": "2"}})
    result = Runner(cfg, registry, log=lambda m: None).run()
    by_id = {r["sample_id"]: r for r in records(cfg.output)}
    assert by_id["music-avqa-8"]["score"] == 1.0 and by_id["music-avqa-7"]["score"] == 0.0
    assert result.results["results"][0]["by_category"]["Musical Performances"]["n"] == 2


def test_avsd_import_one_sample_per_turn_with_history(tmp_path, videos):
    src = tmp_path / "avsd_test.json"
    src.write_text(json.dumps({"dialogs": [{"image_id": "QH5KB", "caption": "a man cooks", "summary": "cooking",
                                            "dialog": [{"question": "is there sound?", "answer": "no sound at all"},
                                                       {"question": "what does he hold?", "answer": "a pan"},
                                                       {"question": "", "answer": "x"}]},
                                           {"image_id": "NOPE"}]}))
    report = import_avsd(src, tmp_path / "avsd", videos=videos, history=1)
    assert report.written == 2 and len(report.skipped) == 2
    a, b = lines(report.manifest)
    assert a["id"] == "avsd-QH5KB-0" and a["question"] == "is there sound?"
    assert "Q: is there sound?\nA: no sound at all" in b["question"] and b["question"].endswith("what does he hold?")


def test_valor_import_merges_references_and_finds_trimmed_videos(tmp_path, videos):
    src = tmp_path / "desc_test.json"
    src.write_text(json.dumps([{"video_id": "abc123_30_40", "desc": "A man plays a guitar while a crowd cheers."},
                               {"video_id": "abc123_30_40", "desc": ["Guitar music with people clapping."]},
                               {"video_id": "zzz_0_10", "desc": "Rain falls on a roof."}, {"desc": "no id"}]))
    report = import_valor(src, tmp_path / "valor", videos=videos)
    assert report.written == 2 and len(report.skipped) == 1 and len(report.missing_media) == 1
    first = lines(report.manifest)[0]
    assert first["answer"]["references"] == ["A man plays a guitar while a crowd cheers.",
                                             "Guitar music with people clapping."]
    assert (report.manifest.parent / first["media"][0]["path"]).resolve().name == "abc123.webm"


def test_aurelia_generation_output_import(tmp_path, clips):
    src = tmp_path / "aurelia_out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"query": "Which flag?", "video_path": str(clips["av"]), "audio_path": str(clips["wav"]),
         "reasoning_steps": ["look at the flag", "listen for the anthem"], "answer": "B", "options": ["Chile", "Peru"]},
        {"query": "No answer here", "video_path": str(clips["av"]), "audio_path": str(clips["av"]),
         "reasoning_steps": "1. look"}]))
    report = import_aurelia(src, tmp_path / "aur", copy=True)
    assert report.written == 1 and "no answer field" in report.skipped[0]
    line = lines(report.manifest)[0]
    assert [m["kind"] for m in line["media"]] == ["video", "audio"]
    assert line["reasoning"] == "1. look at the flag\n2. listen for the anthem" and line["options"] == ["Chile", "Peru"]
    assert not (report.manifest.parent / line["media"][0]["path"]).is_symlink()  # --copy


def test_cli_import_and_validate(tmp_path, videos, capsys):
    src = tmp_path / "avqa.json"
    src.write_text(json.dumps([{"video_id": "00000001", "question_id": 1, "question_content": "Is it loud?",
                                "templ_values": "[]", "anser": "yes"},
                               {"video_id": "09999999", "question_id": 2, "question_content": "Is it quiet?",
                                "templ_values": "[]", "anser": "no"}]))
    assert main(["data", "import", "music-avqa", str(src), "--out", str(tmp_path / "ds"), "--videos", str(videos)]) == 0
    assert "2 samples written" in capsys.readouterr().out
    assert main(["data", "validate", str(tmp_path / "ds")]) == 1  # one video is missing
    out = capsys.readouterr().out
    assert "music-avqa-2: media_missing" in out and "2 samples, 2 media files" in out


def test_validate_reports_every_kind_of_problem(tmp_path, clips):
    rows = [mcq(0), mcq(0), {**mcq(1), "answer": "D"}, mcq(2, media="does-not-exist.mp4"), mcq(3, media="empty.mp4"),
            mcq(4, media="tone.wav"), {**mcq(5), "options": ["a", "b", "c"]}, mcq(6, media="silent.mp4")]
    manifest = write_manifest(tmp_path / "ds", clips, rows)
    task = ManifestTask({"name": "three", "answer_form": "mcq", "options_count": 3, "data": {"manifest": str(manifest)}})
    report = validate(tmp_path / "ds", task)
    text = "\n".join(report.problems)
    assert "duplicate id 's0'" in text and "not one of the option letters" in text
    assert "2 options where this task has 3" in text  # the task's shape
    report = validate(tmp_path / "ds")
    text = "\n".join(report.problems)
    for needle in ("s2: media_missing", "s3: media_empty", "s4: no_video_stream"):
        assert needle in text
    assert report.videos_without_audio == 1 and report.samples == 6


def test_empty_task_is_a_message_and_the_rest_runs(tmp_path, clips):
    good = write_manifest(tmp_path / "good", clips, [mcq(0)])
    empty = tmp_path / "empty" / "manifest.jsonl"
    empty.parent.mkdir()
    empty.write_text("\n")
    registry = discover(modules=[fakes, TaskPlugin(good), TaskPlugin(empty, name="t-empty")])
    cfg = RunConfig(models=["scripted-a"], tasks=["t-mcq", "t-empty"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache")
    result = Runner(cfg, registry, log=lambda m: None).run()
    assert any("t-empty" in p and "no samples" in p for p in result.results["data_problems"])
    assert [r["task"] for r in result.results["results"]] == ["t-mcq"]


def test_tasks_all_means_avreasonbench_and_missing_data_is_explained(tmp_path):
    registry = discover(modules=[fakes])
    cfg = RunConfig(models=["scripted-a"], tasks=["all"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path / "nothing-here")
    result = Runner(cfg, registry, log=lambda m: None).run()
    problems = result.results["data_problems"]
    names = {"av-qa-music", "av-qa-avsd", "av-captioning", "av-compositional", "av-geoiq", "av-meme", "dm-match"}
    assert {p.split(":")[0] for p in problems} == names
    assert all("data import" in p for p in problems) and result.results["results"] == []


def test_caption_metrics():
    refs = [["a man is playing a guitar on stage", "a person plays guitar while people clap"],
            ["a dog barks in a yard", "a small dog is barking outside"]]
    assert caption_metrics.bleu4(["a man is playing a guitar on stage"], [refs[0]]) == pytest.approx(1.0)
    assert caption_metrics.bleu4(["the cat"], [refs[1]]) == 0.0
    assert caption_metrics.rouge_l("a man is playing a guitar on stage", refs[0]) == pytest.approx(1.0)
    better = caption_metrics.cider_d(["a man plays a guitar on stage", "a dog is barking outside"], refs)
    worse = caption_metrics.cider_d(["trees sway gently", "soup boils slowly"], refs)
    assert sum(better) > sum(worse) == 0.0
    scores = caption_metrics.corpus_scores(["a man is playing a guitar", "a small dog is barking"], refs)
    assert 0 < scores["bleu4"] < 1 and 0 < scores["rouge_l"] < 1 and scores["n"] == 2
    assert scores["meteor"] is None or 0 <= scores["meteor"] <= 1


def test_av_captioning_scores_rouge_per_sample_and_corpus_metrics_in_results(tmp_path, clips):
    rows = [{"id": f"c{i}", "question": "Describe it.", "answer": {"references": [f"a red screen with tone {i}"]},
             "media": [{"kind": "video", "path": "media/av.mp4"}]} for i in range(3)]
    write_manifest(tmp_path / "data" / "av-captioning", clips, rows)
    registry = discover(modules=[fakes])
    cfg = RunConfig(models=["scripted-a"], tasks=["av-captioning"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path / "data",
                    model_overrides={"scripted-a": {"answer": "a red screen with a tone"}})
    result = Runner(cfg, registry, log=lambda m: None).run()
    row = result.results["results"][0]
    assert row["metric"] == "rouge_l" and row["graded"] and 0.5 < row["value"] < 1
    assert set(row["corpus"]) >= {"bleu4", "rouge_l", "cider_d", "meteor"}
    assert "Caption metrics (corpus level)" in (cfg.output / "summary.md").read_text()


def test_judge_model_scores_captions_and_its_rationale_is_kept(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [
        {"id": "c0", "question": "Describe it.", "answer": {"references": ["a red then blue screen, a tone"]},
         "media": [{"kind": "video", "path": "media/av.mp4"}]}])
    task = ManifestTask({"name": "judged", "answer_form": "caption", "metric": "rouge_l", "judge": "judge-s",
                         "judge_rubric": "prompts/caption-judge-v1.txt", "data": {"manifest": str(manifest)}},
                        str(ROOT / "tasks" / "judged.toml"))

    class Plugin:
        @staticmethod
        def register_tasks(register):
            register(task)

    from aurelia_harness import hookimpl

    Plugin.register_tasks = hookimpl(Plugin.register_tasks)
    registry = discover(modules=[agents, Plugin])
    cfg = RunConfig(models=["target-1"], tasks=["judged"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache")
    agents.AgentScript.reset()
    Runner(cfg, registry, log=lambda m: None).run()
    rec = records(cfg.output)[0]
    judge = next(t for t in rec["trace"] if t["step"] == "score")["judge"]
    assert rec["score"] == pytest.approx(0.8) and judge["rationale"] == "names the colour and the tone"
    assert rec["usage"]["judge"]["calls"] == 1
    judge_prompt = [t for n, t in agents.AgentScript.seen if n == "judge-s"][0]
    assert "a red then blue screen, a tone" in judge_prompt and "Caption to grade" in judge_prompt


def test_paper_figure_beside_the_measured_one(tmp_path, clips):
    write_manifest(tmp_path / "data" / "av-compositional", clips,
                   [{**mcq(i), "options": ["red", "blue", "green"]} for i in range(2)])
    registry = discover(modules=[fakes])
    cfg = RunConfig(models=["scripted-a"], tasks=["av-compositional"], strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path / "data",
                    model_overrides={"scripted-a": {"paper": {"results": {"av_compositional": {"baseline": 24.1}}}}})
    result = Runner(cfg, registry, log=lambda m: None).run()
    assert result.results["results"][0]["paper"] == pytest.approx(0.241)
    assert "| 24.1 |" in (cfg.output / "summary.md").read_text()


def test_paper_cards_carry_the_papers_numbers_and_say_what_runs_them():
    registry = discover()
    card = registry.card("pandagpt-13b")
    assert card.get("paper.results.av_geoiq") == {"baseline": 12.5, "baseline_x": 17.2, "aurelia": 25.0}
    assert card.adapter in registry.adapters and card.get("environment")  # the authors' code, in its own env
    assert registry.card("bay-cat-7b").adapter not in registry.adapters  # no public weights
    paper_cards = [c for c in registry.cards.values() if c.get("paper.model")]
    assert len(paper_cards) == 19
    # each says where its weights are (a hub id, an API model, or in words, e.g. "no public weights found")
    assert all(c.checkpoint or c.get("weights") for c in paper_cards)
    assert registry.card("onellm-7b").checkpoint == "csuhan/OneLLM-7B"
    assert "Dropbox" in registry.card("macaw-llm-7b").get("weights")


def test_paper_cards_are_what_the_generator_makes_from_the_results_table(tmp_path):
    import subprocess
    import sys

    from conftest import SHARED

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "scripts" / "make_paper_cards.py"),
                    str(SHARED / "data" / "paper_results.csv"), str(tmp_path)], check=True, capture_output=True)
    made = {p.name: p.read_text() for p in tmp_path.glob("*.toml")}
    kept = {p.name: p.read_text() for p in (root / "model_cards" / "paper").glob("*.toml")}
    assert made == kept, "model_cards/paper/ is out of date: rerun scripts/make_paper_cards.py"


def test_restrict_modality():
    req = Request((Message("user", (VideoPart(Path("v.mp4")), AudioPart(Path("a.wav")), TextPart("q"))),))
    kinds = lambda r: [(p.type, getattr(p, "with_audio", None)) for p in r.messages[0].parts]
    assert kinds(restrict_modality(req, "av")) == [("video", True), ("audio", None), ("text", None)]
    assert kinds(restrict_modality(req, "video")) == [("video", False), ("text", None)]
    assert kinds(restrict_modality(req, "audio")) == [("audio", None), ("audio", None), ("text", None)]
    assert kinds(restrict_modality(req, "text")) == [("text", None)]
    # audio only: a silent video has nothing to hear and is left out; one that cannot be probed is kept
    assert kinds(restrict_modality(req, "audio", lambda path: False)) == [("audio", None), ("text", None)]
    def unreadable(path):
        raise OSError("corrupt")
    assert kinds(restrict_modality(req, "audio", unreadable)) == [("audio", None), ("audio", None), ("text", None)]


def test_modality_ablation_runs_and_records_say_which(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0), mcq(1, media="silent.mp4")])
    registry = discover(modules=[fakes, TaskPlugin(manifest)])
    for modality in ("av", "video", "audio", "text"):
        fakes.ScriptedAdapter.parts_seen = []
        cfg = RunConfig(models=["scripted-a"], tasks=["t-mcq"], strategies=["baseline"], progress=False,
                        output=tmp_path / "out", cache_dir=tmp_path / "cache", modality=modality, concurrency=1)
        Runner(cfg, registry, log=lambda m: None).run()
        seen = fakes.ScriptedAdapter.parts_seen
        if modality == "video":
            assert all(p[0] == "video-silent" for p in seen)
        if modality == "audio":
            assert sorted(seen) == [["audio", "text"], ["text"]]  # the soundtrack alone; a silent clip adds nothing
        if modality == "text":
            assert all(p == ["text"] for p in seen)
    recs = records(tmp_path / "out")
    assert sorted({r["modality"] for r in recs}) == ["audio", "av", "text", "video"] and len(recs) == 8
    audio_silent = next(r for r in recs if r["modality"] == "audio" and r["sample_id"] == "s1")
    assert audio_silent["error"] is None  # a silent video has nothing to hear: the question goes alone, noted
    assert any("1 silent video(s) left out" in note for note in audio_silent["notes"])
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "baseline [text only]" in summary and "baseline [video only]" in summary
