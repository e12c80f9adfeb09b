"""The public audio-visual benchmarks (docs/benchmarks.md): each importer reads an excerpt written here in
the layout the benchmark publishes (field names, nesting, media naming), with clips made by ffmpeg; the
tasks score them with the benchmark's breakdowns, yes/no metrics and shortcut checks."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import fakes
from aurelia_harness.cli import main
from aurelia_harness.config import RunConfig
from aurelia_harness.errors import ConfigError, HarnessError
from aurelia_harness.media import ffmpeg_path
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from avharness_plugins.tasks.benchmarks import breakdown_report, bucket_label, yes_no_metrics, yes_or_no
from avharness_plugins.tasks.importers import (import_av_odyssey, import_av_odyssey_rows, import_avhbench,
                                               import_daily_omni, import_jointavbench, import_music_avqa,
                                               import_omnibench, import_omnivideobench, import_worldsense,
                                               strip_letter)
from conftest import ffmpeg
from test_runner import records

ROOT = Path(__file__).resolve().parents[1]


def lines(manifest):
    return [json.loads(l) for l in Path(manifest).read_text().splitlines()]


def run(tmp_path, tasks, data_root, answer="A", settings=None):
    registry = discover(modules=[fakes])
    cfg = RunConfig(models=["scripted-a"], tasks=tasks, strategies=["baseline"], progress=False,
                    output=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=data_root,
                    model_overrides={"scripted-a": {"answer": answer}}, task_settings=settings or {})
    return Runner(cfg, registry, log=lambda m: None).run().results


def row(results, task):
    return next(r for r in results["results"] if r["task"] == task)


def breakdown(tmp_path, task):
    """The run's breakdown row of one task, as `avharness data breakdown` writes it."""
    report = breakdown_report(tmp_path / "out", discover(modules=[fakes]).tasks)
    assert json.loads((tmp_path / "out" / "breakdowns.json").read_text()) == json.loads(json.dumps(report))
    return next(r for r in report["results"] if r["task"] == task)


@pytest.fixture(scope="module")
def media(tmp_path_factory, clips):
    """A PNG image and an MP3 clip besides the session's clips."""
    d = tmp_path_factory.mktemp("more-media")
    ffmpeg("-f", "lavfi", "-i", "color=c=yellow:s=32x32", "-frames:v", "1", str(d / "still.png"))
    ffmpeg("-f", "lavfi", "-i", "sine=f=660:d=1", "-c:a", "libmp3lame", str(d / "tone.mp3"))
    return {"png": d / "still.png", "mp3": d / "tone.mp3", **clips}


def worldsense_source(tmp_path, clips):
    """worldsense_qa.json as published (honglyhly/WorldSense), with videos/VIDEO_ID.mp4 beside it."""
    (tmp_path / "WorldSense" / "videos").mkdir(parents=True)
    for vid in ("kUVSWQFVq5U", "Zb1oyUTEkb8"):
        shutil.copy(clips["av"], tmp_path / "WorldSense" / "videos" / f"{vid}.mp4")
    qa = {
        "kUVSWQFVq5U": {"video_id": "kUVSWQFVq5U", "video_duration": "45s", "duration": "<1min",
                        "domain": "Music", "sub_category": "Covers", "audio_class": ["Music", "Speech"],
                        "video_caption": "a man plays guitar and sings",
                        "task0": {"task_domain": "Recognition", "task_type": "Audio Recognition",
                                  "question": "Which instrument is heard first?",
                                  "candidates": ["A. Guitar", "B. Piano", "C. Drums", "D. Violin"], "answer": "A"},
                        "task1": {"task_domain": "Reasoning", "task_type": "Causal Reasoning",
                                  "question": "Why does the audience clap?",
                                  "candidates": ["A. The song ends", "B. A goal", "C. A joke", "D. A fall"],
                                  "answer": "B"}},
        "Zb1oyUTEkb8": {"video_id": "Zb1oyUTEkb8", "video_duration": "150s", "duration": "2-4min",
                        "domain": "Sports", "sub_category": "Soccer", "audio_class": ["Speech"],
                        "video_caption": "a football match",
                        "task0": {"task_domain": "Understanding", "task_type": "Audio Recognition",
                                  "question": "What does the commentator shout?",
                                  "candidates": ["A. Goal", "B. Foul", "C. Offside", "D. Penalty"], "answer": "A"},
                        "task1": {"task_domain": "Understanding", "task_type": "Object Counting",
                                  "question": "How many players?", "candidates": ["A. 1", "B. 2"], "answer": "E"}},
    }
    src = tmp_path / "WorldSense" / "worldsense_qa.json"
    src.write_text(json.dumps(qa))
    return src


def test_worldsense_import_reads_the_nested_layout_and_is_idempotent(tmp_path, clips):
    src = worldsense_source(tmp_path, clips)
    out = tmp_path / "data" / "worldsense"
    report = import_worldsense(src, out)
    assert report.written == 3 and len(report.skipped) == 1 and "not an option letter" in report.skipped[0]
    first = lines(report.manifest)[0]
    assert first["options"] == ["Guitar", "Piano", "Drums", "Violin"] and first["answer"] == "A"
    assert first["metadata"]["audio_class"] == ["Music", "Speech"] and first["metadata"]["duration_s"] == 45
    assert (out / first["media"][0]["path"]).resolve() == (src.parent / "videos" / "kUVSWQFVq5U.mp4").resolve()
    again = import_worldsense(src, out)
    assert again.manifest.read_text() == report.manifest.read_text() and len(list((out / "media").iterdir())) == 2


def test_worldsense_breakdowns_follow_the_papers_dimensions(tmp_path, clips):
    import_worldsense(worldsense_source(tmp_path, clips), tmp_path / "data" / "worldsense")
    run(tmp_path, ["worldsense"], tmp_path / "data", answer="A")
    corpus = breakdown(tmp_path, "worldsense")["breakdowns"]
    assert corpus["task_type"]["Audio Recognition"] == {"n": 2, "accuracy": 1.0}
    assert corpus["task_type"]["Causal Reasoning"] == {"n": 1, "accuracy": 0.0}
    # a question with two audio classes counts under each
    assert corpus["audio_class"]["Speech"]["n"] == 3 and corpus["audio_class"]["Music"]["n"] == 2
    assert set(corpus["duration"]) == {"<1min", "2-4min"} and corpus["domain"]["Sports"]["accuracy"] == 1.0


def test_answer_permutation_and_the_shortcut_filter(tmp_path, clips):
    import_worldsense(worldsense_source(tmp_path, clips), tmp_path / "data" / "worldsense")
    run(tmp_path, ["worldsense"], tmp_path / "data", answer="A",
                  settings={"worldsense": {"permutations": 3}})
    ids = {r["sample_id"] for r in records(tmp_path / "out")}
    assert len(ids) == 12 and "worldsense-kUVSWQFVq5U-task0#rot3" in ids
    by_id = {r["sample_id"]: r for r in records(tmp_path / "out")}
    # "A" is right only in the order where the correct option stands first
    assert by_id["worldsense-kUVSWQFVq5U-task0#rot0"]["score"] == 1.0
    assert by_id["worldsense-kUVSWQFVq5U-task0#rot1"]["score"] == 0.0
    assert by_id["worldsense-kUVSWQFVq5U-task1#rot1"]["score"] == 1.0
    check = breakdown(tmp_path, "worldsense")["permutation"]
    assert check["questions"] == 3 and check["orders_per_question"] == 4
    assert check["accuracy_in_every_order"] == 0.0 and check["right_in_every_order"] == []

    drop = tmp_path / "shortcuts.json"
    drop.write_text(json.dumps(["worldsense-kUVSWQFVq5U-task1"]))
    shutil.rmtree(tmp_path / "out")
    results = run(tmp_path, ["worldsense"], tmp_path / "data", settings={"worldsense": {"exclude_ids": str(drop)}})
    assert row(results, "worldsense")["n"] == 2
    with pytest.raises(ConfigError, match="permutations"):
        run(tmp_path, ["worldsense"], tmp_path / "data", settings={"worldsense": {"permutations": -1}})


def test_daily_omni_import_uses_the_per_video_folders(tmp_path, clips):
    for vid in ("G_VTkkb34gw", "bswbQtOPk6E"):
        (tmp_path / "Videos" / vid).mkdir(parents=True)
        shutil.copy(clips["av"], tmp_path / "Videos" / vid / f"{vid}_video.mp4")
    src = tmp_path / "qa.json"
    src.write_text(json.dumps([
        {"Question": "What happens when the bell rings?", "Choice": ["A. He sits", "B. He runs", "C. He sings",
                                                                      "D. He waves"],
         "Answer": "B", "video_id": "G_VTkkb34gw", "Type": "AV Event Alignment", "video_category": "Education",
         "video_duration": "30s"},
        {"Question": "Which sound comes first?", "Choice": ["Bell", "Dog", "Car", "Rain"], "Answer": "A",
         "video_id": "bswbQtOPk6E", "Type": "Event Sequence", "video_category": "Sports", "video_duration": "60s"},
        {"Question": "Broken", "Choice": ["x", "y"], "Answer": "", "video_id": "bswbQtOPk6E"},
    ]))
    report = import_daily_omni(src, tmp_path / "data" / "daily-omni")
    assert report.written == 2 and len(report.skipped) == 1 and not report.missing_media
    first, second = lines(report.manifest)
    assert first["options"][1] == "He runs" and second["options"] == ["Bell", "Dog", "Car", "Rain"]
    run(tmp_path, ["daily-omni"], tmp_path / "data", answer="B")
    corpus = breakdown(tmp_path, "daily-omni")["breakdowns"]
    assert corpus["video_duration"] == {"30s": {"n": 1, "accuracy": 1.0}, "60s": {"n": 1, "accuracy": 0.0}}
    assert corpus["type"]["AV Event Alignment"]["accuracy"] == 1.0


def test_av_odyssey_rows_write_inline_media_in_tag_order(tmp_path, media):
    rows = [("av_odyssey_part1.parquet[0]", {
        "question_id": "od-17", "question_type_id": 3, "subfield": "Timbre", "task_name": "Instrument Recognition",
        "data_type": "image", "question": "Which image shows the instrument in [audio1]? [img1] [img2]",
        "options": ["A. [img1]", "B. [img2]", "C. neither", "D. both"], "answer": "A",
        "image_1": media["png"].read_bytes(), "image_2": {"bytes": media["png"].read_bytes(), "path": None},
        "image_3": None, "image_4": None, "audio_1": media["wav"].read_bytes(), "audio_2": None,
        "audio_3": None, "audio_4": None, "video_1": None}),
        ("av_odyssey_part1.parquet[1]", {
            "question_id": "od-18", "question_type_id": 20, "subfield": "Time", "data_type": "video",
            "question": "When does [audio1] start in [video1]?", "options": ["A. 0 s", "B. 1 s", "C. 2 s", "D. 3 s"],
            "answer": "C", "audio_1": media["wav"].read_bytes(), "video_1": None})]
    report = import_av_odyssey_rows(rows, tmp_path / "data" / "av-odyssey")
    assert report.written == 1 and "no media bytes for [video1]" in report.skipped[0]
    line = lines(report.manifest)[0]
    assert [m["kind"] for m in line["media"]] == ["audio", "image", "image"]
    assert line["media"][0]["path"].endswith(".wav") and line["media"][1]["path"].endswith(".png")
    assert line["question"] == "Which image shows the instrument in (audio 1)? (image 1) (image 2)"
    assert line["options"][0] == "[img1]" and line["metadata"]["subfield"] == "Timbre"
    run(tmp_path, ["av-odyssey"], tmp_path / "data")
    assert breakdown(tmp_path, "av-odyssey")["breakdowns"]["subfield"] == {"Timbre": {"n": 1, "accuracy": 1.0}}
    (tmp_path / "no-shards").mkdir()
    with pytest.raises(HarnessError, match="no av_odyssey_part"):
        import_av_odyssey(tmp_path / "no-shards", tmp_path / "x")


def omnibench_source(tmp_path, media):
    (tmp_path / "OmniBench" / "dataset").mkdir(parents=True)
    for kind, name, clip in (("audio", "2_009_four_people.mp3", "mp3"), ("image", "2_009_four_people.png", "png"),
                             ("audio", "6-002.mp4.mp3", "mp3"), ("image", "6-002.png", "png")):
        (tmp_path / "OmniBench" / "mm_data" / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(media[clip], tmp_path / "OmniBench" / "mm_data" / kind / name)
    rows = [{"task type": "Action and Activity", "audio type": "speech", "question": "What are the men doing?",
             "audio content": "A: Four letters. B: Ring!", "image content": "Two people on a couch.",
             "audio_path": "2_009_four_people.mp3", "image_path": "2_009_four_people.png", "index": 0,
             "answer": "Playing a crossword.", "options": ["Taking notes.", "Reading.", "Playing a crossword.",
                                                          "Sleeping."]},
            {"task type": "Plot Inference", "audio type": "sound event", "question": "What is happening?",
             "audio content": "A stomach growls.", "image content": "Four cartoon characters.",
             "audio_path": "6-002.mp4.mp3", "image_path": "6-002.png", "index": 1,
             "answer": "He is hungry.", "options": ["He is hungry.", "He is ill.", "He is late.", "He is cold."]},
            {"task type": "Plot Inference", "audio type": "music", "question": "Lost answer", "index": 2,
             "audio_path": "x.mp3", "image_path": "x.png", "answer": "none of these", "options": ["a", "b", "c", "d"]}]
    src = tmp_path / "OmniBench" / "dataset" / "batch-5_1142_20240817.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return src


def test_omnibench_import_and_its_textual_substitution(tmp_path, media):
    report = import_omnibench(omnibench_source(tmp_path, media), tmp_path / "data" / "omnibench")
    assert report.written == 2 and "not one of the options" in report.skipped[0] and not report.missing_media
    first = lines(report.manifest)[0]
    assert first["answer"] == "C" and [m["kind"] for m in first["media"]] == ["image", "audio"]
    run(tmp_path, ["omnibench"], tmp_path / "data", answer="A")
    corpus = breakdown(tmp_path, "omnibench")["breakdowns"]
    assert corpus["audio_type"] == {"sound event": {"n": 1, "accuracy": 1.0}, "speech": {"n": 1, "accuracy": 0.0}}

    registry = discover(modules=[fakes])
    task = registry.tasks["omnibench"]
    task.configure({"context": "image_caption"})
    samples = task.load(RunConfig(data_root=tmp_path / "data")).samples
    assert [m.kind for m in samples[0].media] == ["audio"]
    assert "Image content: Two people on a couch." in samples[0].question
    with pytest.raises(ConfigError, match="context"):
        task.configure({"context": "subtitles"})


def test_yes_no_parsing_and_hallucination_metrics():
    assert yes_or_no("Yes, the man is visible.") == "yes" and yes_or_no("Answer: no") == "no"
    assert yes_or_no("I think the answer is yes") == "yes" and yes_or_no("maybe") is None
    assert yes_or_no("It could be yes, or it could be no.") is None
    assert yes_or_no("Yes, there is no dog.") == "yes"
    # 2 yes-gold, 2 no-gold; said yes, yes, yes, unreadable: tp 2, fp 1, fn 0
    m = yes_no_metrics([("yes", "yes"), ("yes", "yes"), ("yes", "no"), (None, "no")])
    assert m["accuracy"] == 0.5 and m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert m["f1"] == pytest.approx(0.8) and m["yes_share"] == 0.75


def test_avhbench_import_splits_judgements_and_captions(tmp_path, clips):
    root = tmp_path / "AVHBench_v0"
    (root / "json").mkdir(parents=True)
    (root / "video").mkdir()
    shutil.copy(clips["av"], root / "video" / "00191.mp4")
    shutil.copy(clips["av"], root / "video" / "00191_swap.mp4")
    (root / "json" / "00191.json").write_text(json.dumps([
        {"video_id": "00191", "task": "Video-driven Audio Hallucination",
         "text": "Is the sleeping man making sound in the audio?", "label": "Yes"},
        {"video_id": "00191", "task": "Video-driven Audio Hallucination",
         "text": "Is the couch making sound in the audio?", "label": "No"},
        {"video_id": "00191", "task": "Audio-driven Video Hallucination",
         "text": "Is the sleeping man visible in the video?", "label": "Yes"},
        {"video_id": "00191", "task": "AV Matching", "text": "Are the contexts of audio and visual content matching?",
         "label": "Maybe"},
        {"video_id": "00191", "task": "AV Captioning", "text": "Describe what you see and hear in a single sentence.",
         "label": "A young man is laying in bed while a person snores."},
    ]))
    (root / "json" / "00191_swap.json").write_text(json.dumps([
        {"video_id": "00191", "task": "AV Matching", "text": "Are the contexts of audio and visual content matching?",
         "label": "No"}]))
    report = import_avhbench(root, tmp_path / "data" / "avhbench")
    assert report.written == 5 and "neither Yes nor No" in report.skipped[0]
    judgements = lines(report.manifest)
    assert {j["answer"] for j in judgements} == {"yes", "no"}
    assert judgements[-1]["media"][0]["path"] == "media/00191_swap.mp4"
    captions = lines(report.also[0])
    assert captions[0]["answer"] == {"references": ["A young man is laying in bed while a person snores."]}

    results = run(tmp_path, ["avhbench", "avhbench-caption"], tmp_path / "data", answer="Yes")
    hallucination = breakdown(tmp_path, "avhbench")["hallucination"]
    audio = hallucination["Video-driven Audio Hallucination"]
    assert audio == {"n": 2, "accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                     "yes_share": 1.0}
    assert hallucination["AV Matching"]["accuracy"] == 0.0
    assert {"bleu4", "rouge_l", "cider_d"} <= set(row(results, "avhbench-caption")["corpus"])


def test_omnivideobench_import_keeps_reasoning_and_buckets_duration(tmp_path, clips):
    (tmp_path / "videos").mkdir()
    shutil.copy(clips["av"], tmp_path / "videos" / "video_1.mp4")
    src = tmp_path / "data.json"
    src.write_text(json.dumps([{"video": "video_1", "video_type": "Vlog", "duration": "03:28", "questions": [
        {"question": "How many electric vehicles were on the left?", "question_type": "counting",
         "audio_type": "Speech",
         "reasoning_steps": [{"modality": "audio", "evidence": "At 0:35 they discuss camping.",
                              "inference": "Look then."},
                             {"modality": "vision", "evidence": "Two vehicles on the left.", "inference": "2."}],
         "answer": "2", "options": ["A.0", "B.1", "C.2", "D.3"], "correct_option": "C"},
        {"question": "No letter", "options": ["A.x", "B.y", "C.z", "D.w"], "correct_option": "Q"}]}]))
    report = import_omnivideobench(src, tmp_path / "data" / "omnivideobench", videos=tmp_path / "videos")
    assert report.written == 1 and len(report.skipped) == 1
    line = lines(report.manifest)[0]
    assert line["options"] == ["0", "1", "2", "3"] and line["answer"] == "C"
    assert line["metadata"]["duration_s"] == 208 and line["reasoning"].startswith("1. [audio] At 0:35")
    run(tmp_path, ["omnivideobench"], tmp_path / "data", answer="C")
    assert breakdown(tmp_path, "omnivideobench")["breakdowns"]["duration"] == {"60-300s": {"n": 1, "accuracy": 1.0}}
    assert [bucket_label(s, [60, 300, 600]) for s in (30, 60, 61, 601)] == ["<=60s", "<=60s", "60-300s", ">600s"]


def seconds(path):
    out = subprocess.run([ffmpeg_path(), "-hide_banner", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    h, m, s = out.rsplit("time=", 1)[1].split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_jointavbench_cuts_segments_and_groups_tasks(tmp_path, clips):
    (tmp_path / "videos").mkdir()
    shutil.copy(clips["av"], tmp_path / "videos" / "-CEDoGn0w1s.mp4")  # a full download, cut per question
    shutil.copy(clips["av"], tmp_path / "videos" / "abc_task12_3.mp4")  # a ready clip named by qid
    base = {"explanation": "The broom is only mentioned.", "video_url": "https://www.youtube.com/watch?v=x"}
    src = tmp_path / "jointavbench.json"
    src.write_text(json.dumps([
        {**base, "qid": "-CEDoGn0w1s_task1_0", "video_name": "-CEDoGn0w1s", "task": "STL",
         "question": "Which object is only mentioned?", "correct_answer": "The broom",
         "options": ["The shovel", "The keys", "The hat", "The broom"], "segment_timestamp": [0.5, 2.0]},
        {**base, "qid": "abc_task12_3", "video_name": "abc", "task": "PLOT", "question": "Why?",
         "correct_answer": "Rain", "options": ["Rain", "Sun", "Wind", "Snow"], "segment_timestamp": [10, 70]},
        {**base, "qid": "zz_task2_1", "video_name": "zz", "task": "SPK", "question": "Who?",
         "correct_answer": "Nobody", "options": ["Al", "Bo", "Cy", "Di"], "segment_timestamp": [0, 1]},
    ]))
    out = tmp_path / "data" / "jointavbench"
    report = import_jointavbench(src, out, videos=tmp_path / "videos")
    assert report.written == 2 and "correct_answer" in report.skipped[0]
    cut, ready = lines(report.manifest)
    assert cut["answer"] == "D" and cut["metadata"]["task_id"] == "task1" and cut["metadata"]["duration_s"] == 1.5
    assert abs(seconds(out / cut["media"][0]["path"]) - 1.5) < 0.2
    assert (out / ready["media"][0]["path"]).resolve() == (tmp_path / "videos" / "abc_task12_3.mp4").resolve()
    run(tmp_path, ["jointavbench"], tmp_path / "data", answer="A")
    corpus = breakdown(tmp_path, "jointavbench")["breakdowns"]
    assert corpus["scene_span"] == {"multi": {"n": 1, "accuracy": 1.0}, "single": {"n": 1, "accuracy": 0.0}}
    assert corpus["audio_type"]["sound_event"]["n"] == 1 and corpus["audio_type"]["speech"]["n"] == 1


def test_music_avqa_test_set_per_question_type(tmp_path, clips):
    (tmp_path / "videos").mkdir()
    shutil.copy(clips["av"], tmp_path / "videos" / "00000001.mp4")
    src = tmp_path / "avqa-test.json"
    src.write_text(json.dumps([
        {"video_id": "00000001", "question_id": 1, "type": "[\"Audio\", \"Counting\"]",
         "question_content": "How many instruments are sounding?", "templ_values": "[]", "question_deleted": 0,
         "anser": "two"},
        {"video_id": "00000001", "question_id": 2, "type": "[\"Audio-Visual\", \"Temporal\"]",
         "question_content": "Which <Object> sounds first?", "templ_values": "[\"guitar\"]", "question_deleted": 0,
         "anser": "left"},
    ]))
    import_music_avqa(src, tmp_path / "data" / "music-avqa", videos=tmp_path / "videos")
    run(tmp_path, ["music-avqa"], tmp_path / "data", answer="2")
    corpus = breakdown(tmp_path, "music-avqa")["breakdowns"]
    assert corpus["modality_type"] == {"Audio": {"n": 1, "accuracy": 1.0}, "Audio-Visual": {"n": 1, "accuracy": 0.0}}
    assert set(corpus["question_type"]) == {"Audio / Counting", "Audio-Visual / Temporal"}


def test_omni_group_runs_what_is_present_and_names_what_is_not(tmp_path, clips, capsys):
    src = worldsense_source(tmp_path, clips)
    assert main(["data", "import", "worldsense", str(src), "--out", str(tmp_path / "data" / "worldsense")]) == 0
    assert "3 samples written, 1 skipped" in capsys.readouterr().out
    results = run(tmp_path, ["omni"], tmp_path / "data")
    assert [r["task"] for r in results["results"]] == ["worldsense"]
    absent = {p.split(":")[0] for p in results["data_problems"] if "not present" in p}
    assert absent == {"daily-omni", "av-odyssey", "omnibench", "avhbench", "avhbench-caption", "omnivideobench",
                      "jointavbench", "avut", "music-avqa"}
    assert any("data import daily-omni" in p for p in results["data_problems"])
    capsys.readouterr()
    assert main(["data", "breakdown", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "scripted-a worldsense baseline [av]: n=3 accuracy=66.7%" in printed
    assert "task_type: Audio Recognition 100.0% (n=2), Causal Reasoning 0.0% (n=1)" in printed


def test_reference_numbers_name_known_model_cards():
    registry = discover(modules=[fakes])
    omni = [registry.tasks[n] for n in registry.task_groups()["omni"]]
    tables = {t.name: t.definition.get("reference", {}) for t in omni}
    assert {n for n, table in tables.items() if table} == {"worldsense", "daily-omni", "omnibench", "avhbench"}
    for name, table in tables.items():
        for card, figures in table.items():
            assert card in registry.cards, f"{name}: no model card {card}"
            numbers = [v for k, v in figures.items() if k != "source"]
            assert figures["source"] and numbers and all(0 < v <= 100 for v in numbers)


def test_strip_letter_only_strips_the_options_own_letter():
    assert strip_letter("A. Guitar", 0) == "Guitar" and strip_letter("(B) Piano", 1) == "Piano"
    assert strip_letter("A.0", 0) == "0" and strip_letter("B. wrong place", 0) == "B. wrong place"
    assert strip_letter("A dog barks", 0) == "A dog barks"
