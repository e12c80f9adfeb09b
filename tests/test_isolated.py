"""Models in their own environment: MiniCPM-o 2.6's adapter runs a worker process that loads a remote-code
checkpoint through transformers (trust_remote_code, from a local folder) and calls its documented chat API.
The worker here uses this interpreter; `environment.python` points it at any other."""

import json
import os
import sys
from pathlib import Path

import pytest

from aurelia_harness import environments
from aurelia_harness.cards import ModelCard, card_from_dict
from aurelia_harness.cli import main
from aurelia_harness.errors import HarnessError
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.types import AudioPart, ImagePart, Message, Request, TextPart, VideoPart

from remote_code import write_fake_omni_checkpoint

GOLDEN = Path(__file__).parent / "golden"
REGISTRY = discover()


def fake_card(checkpoint, **environment) -> ModelCard:
    return card_from_dict({
        "name": "fake-minicpm-o", "adapter": "minicpm-o", "checkpoint": str(checkpoint), "trust_remote_code": True,
        "dtype": "float32", "media": {"fps": 1, "frames": 8, "max_pixels": 4096, "audio_rate": 16000},
        "worker": {"max_slice_nums": 1, "use_image_id": False},
        "environment": {"python": sys.executable, "request_timeout_s": 30, "max_restarts": 3, **environment}})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    os.environ["HF_MODULES_CACHE"] = str(tmp_path_factory.mktemp("hf_modules"))  # the worker inherits it
    return write_fake_omni_checkpoint(tmp_path_factory.mktemp("fake-omni"))


@pytest.fixture(scope="module")
def adapter(checkpoint, tmp_path_factory):
    card = fake_card(checkpoint)
    model = REGISTRY.adapter("minicpm-o")(card, MediaStore(tmp_path_factory.mktemp("media")), "cpu")
    model.load()
    yield model
    model.close()


def ask(*parts, tokens=8):
    return Request((Message("user", tuple(parts)),), max_new_tokens=tokens)


def seen(reply):
    assert reply.error is None, reply.error
    return json.loads(reply.text)


def test_worker_loads_remote_code_in_another_process_and_gets_omni_units(adapter, clips):
    assert adapter.worker_info["transformers"] and adapter.worker_info["python"]
    reply = adapter.generate([ask(VideoPart(clips["av"]), TextPart("Which colour comes first?"))])[0]
    got = seen(reply)
    assert got["pid"] != os.getpid()
    # the receipt: what the worker was handed (frames with their times, the soundtrack)
    assert reply.media["video"][0]["frames"] == 4 and len(reply.media["video"][0]["timestamps"]) == 4
    assert [(a["soundtrack"], a["rate"]) for a in reply.media["audio"]] == [(True, 16000)]
    assert reply.media["audio"][0]["seconds"] == pytest.approx(4, abs=0.1)
    # 4 s at one unit per second: "<unit>", a frame and its second of soundtrack, four times
    assert got["omni_input"] is True and got["use_tts_template"] is False and got["generate_audio"] is False
    assert got["units"] == 4 and len(got["images"]) == 4
    assert got["audio_seconds"] == pytest.approx([1.0] * 4, abs=0.03)
    assert got["roles"] == ["user", "user"] and got["texts"][0].startswith("<omni system prompt omni en>")
    assert got["texts"][-1] == "Which colour comes first?"
    assert got["init_flags"] == [True, True, False] and got["sampling"] is False and got["max_slice_nums"] == 1


def test_a_silent_video_is_frames_and_clips_and_images_pass_through(adapter, clips, tmp_path):
    reply = adapter.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    got = seen(reply)
    assert got["omni_input"] is False and got["units"] == 0 and len(got["images"]) == 3
    assert "silent.mp4 has no audio track: fed frames only" in reply.notes and reply.media["audio"] == []
    from PIL import Image

    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), "red").save(picture)
    both = adapter.generate([ask(ImagePart(picture), AudioPart(clips["wav"]), TextPart("q"))])[0]
    got = seen(both)
    assert got["images"] == [[40, 30]] and got["audio_seconds"] == pytest.approx([2.0], abs=0.01)
    assert both.media["images"] == 1 and [a["soundtrack"] for a in both.media["audio"]] == [False]
    muted = seen(adapter.generate([ask(VideoPart(clips["av"], with_audio=False), TextPart("q"))])[0])
    assert muted["omni_input"] is False and muted["audio_seconds"] == []


def test_prompt_golden_snapshot(adapter, clips):
    request = ask(VideoPart(clips["av"]), AudioPart(clips["wav"]),
                  TextPart("Which comes first?\nA. red\nB. blue\nAnswer with the letter."))
    text = adapter.prompt_text(request)
    golden = GOLDEN / "minicpm-o.txt"
    assert text == golden.read_text(), f"prompt changed for minicpm-o; review, then update {golden}"


def test_worker_failures_are_per_sample_and_the_worker_comes_back(checkpoint, clips, tmp_path):
    card = fake_card(checkpoint, request_timeout_s=3, max_restarts=2)
    model = REGISTRY.adapter("minicpm-o")(card, MediaStore(tmp_path / "media"), "cpu")
    model.load()
    try:
        pid = seen(model.generate([ask(TextPart("hello"))])[0])["pid"]
        raised = model.generate([ask(TextPart("RAISE please"))])[0]
        assert raised.error_kind == "worker_failed" and "fake failure on purpose" in raised.error
        assert seen(model.generate([ask(TextPart("hello"))])[0])["pid"] == pid  # same worker after an exception

        crashed = model.generate([ask(TextPart("CRASH now"))])[0]
        assert crashed.error_kind == "worker_failed" and "exited (code 3)" in crashed.error
        after_crash = seen(model.generate([ask(TextPart("hello"))])[0])["pid"]
        assert after_crash != pid

        hung = model.generate([ask(TextPart("SLOW answer"))])[0]
        assert hung.error_kind == "worker_timeout" and "within 3 s" in hung.error
        assert seen(model.generate([ask(TextPart("hello"))])[0])["pid"] not in (pid, after_crash)

        # out of memory with 4 frames: the sample is retried with 2, and the record says so
        squeezed = model.generate([ask(VideoPart(clips["av"]), TextPart("OOM-prone"))])[0]
        assert len(seen(squeezed)["images"]) == 2
        assert "out of accelerator memory: retried with 2 frames per video" in squeezed.notes

        # a third death is one too many: later requests fail at once, saying why
        assert "exited" in model.generate([ask(TextPart("CRASH"))])[0].error
        assert "not restarted again" in model.generate([ask(TextPart("hello"))])[0].error
    finally:
        model.close()
    assert model._process is None


def test_missing_environment_and_failed_load_are_clear(checkpoint, tmp_path):
    card = fake_card(checkpoint, python=str(tmp_path / "nowhere" / "python"))
    with pytest.raises(FileNotFoundError, match="own Python environment"):
        REGISTRY.adapter("minicpm-o")(card, MediaStore(tmp_path / "m"), "cpu").load()
    named = card_from_dict({**fake_card(checkpoint).to_json(), "environment": {"name": "never-made"}})
    with pytest.raises(FileNotFoundError, match="avharness env create fake-minicpm-o"):
        REGISTRY.adapter("minicpm-o")(named, MediaStore(tmp_path / "m"), "cpu").load()
    from aurelia_harness.hub import CheckpointUnavailable

    with pytest.raises(CheckpointUnavailable, match="not in the local cache"):
        REGISTRY.adapter("minicpm-o")(fake_card("openbmb/not-cached-here"), MediaStore(tmp_path / "m"), "cpu").load()
    broken = fake_card(tmp_path / "no-checkpoint-here")
    with pytest.raises(Exception, match="failed to load in its environment"):
        REGISTRY.adapter("minicpm-o")(broken, MediaStore(tmp_path / "m"), "cpu").load()


def test_run_from_a_card_file_through_the_cli(checkpoint, tmp_path, capsys):
    card = tmp_path / "fake-minicpm-o.toml"
    card.write_text(f'''name = "fake-minicpm-o"
adapter = "minicpm-o"
checkpoint = "{checkpoint}"
trust_remote_code = true
dtype = "float32"
[media]
frames = 4
max_pixels = 4096
[environment]
python = "{sys.executable}"
''')
    out = tmp_path / "out"
    common = ["--plugin", str(card), "--models", "fake-minicpm-o", "--strategy", "baseline", "--tasks",
              "avsynth-sync", "--limit", "2", "--no-progress"]
    assert main([*common, "--output", str(tmp_path / "refused")]) == 3  # its only model may not run
    err = capsys.readouterr().err
    assert "asks to run code from the hub" in err and "avharness: no model could run" in err
    assert main([*common, "--output", str(out), "--trust-remote-code"]) == 0
    records = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    answers = [json.loads(r["prediction"]) for r in records if r.get("prediction")]
    assert len(answers) == 2 and all(a["omni_input"] and a["units"] == 4 for a in answers)


def test_a_card_without_its_environment_is_skipped_with_one_line(tmp_path, capsys):
    assert main(["list", "models"]) == 0
    assert any(line.startswith("minicpm-o-2.6 ") and "needs env" in line
               for line in capsys.readouterr().out.splitlines())
    assert main(["env", "list"]) == 0
    assert "minicpm-o-2.6                missing (" in capsys.readouterr().out
    assert main(["env", "create", "minicpm-o-2.6", "--dry-run"]) == 0
    planned = capsys.readouterr().out
    assert "would create" in planned and "-m venv" in planned and "transformers==4.44.2" in planned
    assert not environments.environment_python(REGISTRY.card("minicpm-o-2.6")).exists()
    assert main(["--models", "minicpm-o-2.6", "--trust-remote-code", "--tasks", "avsynth-sync", "--limit", "1",
                 "--strategy", "baseline", "--output", str(tmp_path / "out"), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert err.count("avharness: no model could run") == 1
    assert "minicpm-o-2.6: runs in its own Python environment, which is missing" in err
    assert "avharness env create minicpm-o-2.6" in err


def test_env_create_makes_a_venv_once_and_says_when_it_is_stale(tmp_path, capsys):
    card = card_from_dict({"name": "envy", "adapter": "minicpm-o", "environment": {"name": "envy"}})
    assert environments.status(card).startswith("missing")
    folder = environments.create(card)
    assert (folder / "bin" / "python").exists() and environments.status(card).startswith("ready")
    environments.create(card)
    assert "nothing to do" in capsys.readouterr().out
    changed = card_from_dict({**card.to_json(), "environment": {"name": "envy", "requirements": ["x==1"]}})
    assert environments.status(changed).startswith("stale")

    class Failed:
        returncode = 1

    with pytest.raises(HarnessError, match="pip install x==1` failed"):
        environments.create(changed, force=True, run=lambda step: Failed() if "pip" in step else
                            __import__("subprocess").run(step))
    assert environments.status(changed).startswith("incomplete")
    with pytest.raises(HarnessError, match="nothing to create"):
        environments.create(card_from_dict({"name": "plain", "adapter": "x"}))


def videollama2_card(checkpoint, package, **media):
    return card_from_dict({"name": "fake-videollama2", "adapter": "videollama2", "checkpoint": str(checkpoint),
                           "media": media, "worker": {"model_init": {"device": "cpu"}},
                           "environment": {"python": sys.executable, "pythonpath": [str(package)]}})


def test_videollama2_gets_one_media_file_with_the_upstream_flags(clips, tmp_path):
    from remote_code import write_fake_videollama2

    package = write_fake_videollama2(tmp_path / "src")
    (tmp_path / "ckpt").mkdir()
    model = REGISTRY.adapter("videollama2")(videollama2_card(tmp_path / "ckpt", package), MediaStore(tmp_path / "m"))
    model.load()
    try:
        system = Message("system", (TextPart("Be brief."),))
        av = model.generate([Request((system, Message("user", (VideoPart(clips["av"]), TextPart("Which colour?")))),
                                     max_new_tokens=7)])[0]
        got = seen(av)
        assert got["tensor"] == {"modal": "video", "path": str(clips["av"]), "va": True} and got["modal"] == "video"
        assert got["instruct"] == "Be brief.\nWhich colour?" and got["pid"] != os.getpid()
        assert got["kwargs"] == {"do_sample": False, "max_new_tokens": 7}
        assert got["model"]["kwargs"] == {"device": "cpu"}
        # the file goes whole, its soundtrack inside and to be used (va=True): an audio input in the receipt
        assert av.media["video"][0]["audio_stream"] is True
        assert [(a["soundtrack"], a["in_file"]) for a in av.media["audio"]] == [(True, "av.mp4")]
        silent = model.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        assert seen(silent)["tensor"]["va"] is False and "silent.mp4 has no audio track: fed video only" in silent.notes
        assert seen(model.generate([ask(AudioPart(clips["wav"]), TextPart("q"))])[0])["modal"] == "audio"

        two = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
        assert two.error_kind == "request_refused" and "exactly one" in two.error
        assert model.generate([ask(TextPart("q"))])[0].error_kind == "request_refused"
        missing = model.generate([ask(VideoPart(tmp_path / "gone.mp4"), TextPart("q"))])[0]
        assert missing.error and "gone.mp4" in missing.error
        # its own processor picks the frames: out of memory is this sample's error, with no retry
        squeezed = model.generate([ask(VideoPart(clips["av"]), TextPart("OOM"))])[0]
        assert squeezed.error_kind == "OutOfMemoryError" and squeezed.notes == []
    finally:
        model.close()

    vision_only = REGISTRY.adapter("videollama2")(videollama2_card(tmp_path / "ckpt", package, audio_in_video=False),
                                                  MediaStore(tmp_path / "m"))
    vision_only.load()
    try:
        muted = vision_only.generate([ask(VideoPart(clips["av"]), TextPart("q"))])[0]
        assert seen(muted)["tensor"]["va"] is False and any("takes no audio" in n for n in muted.notes)
        assert muted.media["video"][0]["audio_stream"] is True and muted.media["audio"] == []
        assert vision_only.generate([ask(AudioPart(clips["wav"]), TextPart("q"))])[0].error_kind == "request_refused"
    finally:
        vision_only.close()


def test_both_videollama2_cards_share_one_environment():
    a, b = REGISTRY.card("videollama2-7b"), REGISTRY.card("videollama2.1-7b-av")
    assert a.get("environment.name") == b.get("environment.name") == "videollama2"
    assert environments.requirements_hash(a) == environments.requirements_hash(b)
    assert a.get("media.audio_in_video") is False and b.get("media.audio_in_video") is True


def test_unified_io_2_builds_one_example_from_the_files(clips, tmp_path):
    from remote_code import write_fake_uio2

    package = write_fake_uio2(tmp_path / "src")
    (tmp_path / "ckpt").mkdir()

    def card(**worker):
        return card_from_dict({"name": "fake-uio2", "adapter": "unified-io-2", "checkpoint": str(tmp_path / "ckpt"),
                               "worker": worker,
                               "environment": {"python": sys.executable, "pythonpath": [str(package)]}})

    with pytest.raises(Exception, match="needs the LLaMA-2 tokenizer.model"):
        REGISTRY.adapter("unified-io-2")(card(), MediaStore(tmp_path / "m")).load()
    model = REGISTRY.adapter("unified-io-2")(card(tokenizer="~/tok.model"), MediaStore(tmp_path / "m"))
    model.load()
    try:
        got = seen(model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), tokens=9)])[0])
        assert got["example"] == {"text_inputs": "Which colour?", "target_modality": "text",
                                  "video_inputs": str(clips["av"]), "use_video_audio": True}
        assert got["max_tokens"] == 9 and got["tokenizer"].endswith("/tok.model") and "~" not in got["tokenizer"]
        muted = seen(model.generate([ask(VideoPart(clips["av"], with_audio=False), AudioPart(clips["wav"]),
                                         TextPart("q"))])[0])["example"]
        assert muted["use_video_audio"] is False and muted["audio_inputs"] == str(clips["wav"])
        assert seen(model.generate([ask(TextPart("just text"))])[0])["example"]["text_inputs"] == "just text"

        both = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
        assert both.error_kind == "request_refused" and "not both" in both.error
        from PIL import Image

        Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
        with_image = model.generate([ask(VideoPart(clips["silent"]), ImagePart(tmp_path / "p.png"), TextPart("q"))])[0]
        assert with_image.error_kind == "request_refused"
    finally:
        model.close()


def test_paper_rows_with_adapters_name_their_environments():
    for name, environment in [("videollama2-7b", "videollama2"), ("unified-io-2-l-6.8b", "unified-io-2"),
                              ("unified-io-2-xl", "unified-io-2")]:
        card = REGISTRY.card(name)
        assert card.adapter in REGISTRY.adapters and card.get("environment.name") == environment
        assert card.get("paper.model")
    hashes = {environments.requirements_hash(REGISTRY.card(n)) for n in ("unified-io-2-l-6.8b", "unified-io-2-xl")}
    assert len(hashes) == 1


def test_env_create_clones_a_pinned_source_checkout_the_worker_imports(clips, tmp_path):
    import subprocess

    from remote_code import write_fake_videollama2

    repo = tmp_path / "upstream"
    write_fake_videollama2(repo / "code")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "works"], check=True)
    pinned = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (repo / "code" / "videollama2" / "__init__.py").write_text("raise ImportError('a later, broken commit')\n")
    subprocess.run([*git, "commit", "-qam", "broken"], check=True)

    (tmp_path / "ckpt").mkdir()
    card = card_from_dict({"name": "pinned-videollama2", "adapter": "videollama2", "checkpoint": str(tmp_path / "ckpt"),
                           "environment": {"name": "pinned-videollama2", "python": sys.executable,
                                           "source": {"git": str(repo), "rev": pinned, "subdir": "code"}}})
    assert "source checkout is missing" in environments.status(card)  # the interpreter is yours, the checkout not yet
    environments.create(card)
    assert environments.status(card).startswith("ready")
    assert (environments.source_path(card) / "videollama2" / "__init__.py").read_text().startswith("\nimport json")
    model = REGISTRY.adapter("videollama2")(card, MediaStore(tmp_path / "m"))
    model.load()
    try:
        assert seen(model.generate([ask(VideoPart(clips["av"]), TextPart("q"))])[0])["tensor"]["va"] is True
    finally:
        model.close()
