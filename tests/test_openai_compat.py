"""The openai-compatible adapter against a real HTTP server on loopback."""

import base64
import io
import wave

import pytest

from aurelia_harness.cards import ModelCard
from aurelia_harness.config import RunConfig
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart
from loopback import Loopback
from test_runner import TaskPlugin, mcq, records, write_manifest

KEY = "sk-test-1234567890-secret"


def adapter(url, tmp_path, **options):
    from avharness_plugins.models.openai_compat import OpenAICompatibleAdapter

    card = ModelCard(name="served", adapter="openai-compatible", checkpoint="served-model",
                     options={"base_url": url, "api_key_env": "AVH_TEST_KEY", "timeout": 0.5, "max_retries": 2,
                              "backoff": 0.01, "media": {"frames": 6, "max_side": 64}, **options})
    a = OpenAICompatibleAdapter(card, MediaStore(tmp_path / "media"))
    a.load()
    return a


def ask(*parts):
    return Request((Message("user", tuple(parts)),), max_new_tokens=5)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AVH_TEST_KEY", KEY)


def test_media_are_encoded_as_the_protocol_says(tmp_path, clips):
    with Loopback() as server:
        a = adapter(server.url, tmp_path)
        reply = a.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("Which comes first?"))])[0]
        assert reply.error is None and reply.text.startswith("B")
        assert reply.input_tokens == 109 and reply.output_tokens == 3
        sent = server.received[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"
    body = sent["body"]
    assert body["model"] == "served-model" and body["max_tokens"] == 5
    parts = body["messages"][0]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    audios = [p for p in parts if p["type"] == "input_audio"]
    assert len(images) == 6 and images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert len(audios) == 2  # the video's soundtrack and the separate clip
    wav = base64.b64decode(audios[0]["input_audio"]["data"])
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1) and w.getnframes() == pytest.approx(64000, rel=0.02)
    assert parts[-1] == {"type": "text", "text": "Which comes first?"}
    assert all("_receipt" not in p for p in parts)  # the receipt markers stay on this side
    # the receipt: what the body carried
    video, = reply.media["video"]
    assert video["frames"] == 6 and video["size"] == [64, 48] and reply.media["images"] == 0
    assert len(video["timestamps"]) == 6 and video["timestamps"] == sorted(video["timestamps"])
    assert 0.0 <= video["timestamps"][0] < 0.5 and 3.5 < video["timestamps"][-1] <= 4.0
    soundtrack, clip = reply.media["audio"]
    assert soundtrack["soundtrack"] is True and soundtrack["rate"] == 16000 and soundtrack["seconds"] == pytest.approx(4, abs=0.1)
    assert clip["soundtrack"] is False and clip["seconds"] == pytest.approx(2, abs=0.05)


def test_each_clip_is_encoded_once(tmp_path, clips):
    with Loopback() as server:
        a = adapter(server.url, tmp_path)
        a.generate([ask(VideoPart(clips["av"]), TextPart("one")), ask(VideoPart(clips["av"]), TextPart("two"))])
        assert a.encoded.misses == 2 and a.encoded.hits == 2  # frames + soundtrack, once each
        first = server.received[0]["body"]["messages"][0]["content"][0]
        second = server.received[1]["body"]["messages"][0]["content"][0]
    assert first == second


def test_video_url_mode_and_silent_video(tmp_path, clips):
    with Loopback() as server:
        a = adapter(server.url, tmp_path, media={"video_mode": "video_url", "frames": 4})
        reply = a.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        part = server.received[0]["body"]["messages"][0]["content"][0]
    assert part["type"] == "video_url" and part["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert reply.notes == ["silent.mp4 has no audio track: sent video only"]
    assert reply.media == {"video": [{"file": "silent.mp4", "bytes": clips["silent"].stat().st_size,
                                      "mime": "video/mp4", "audio_stream": False}], "audio": [], "images": 0}


def test_the_receipt_shows_a_soundtrack_the_configuration_leaves_out(tmp_path, clips):
    with Loopback() as server:
        sent = adapter(server.url, tmp_path, media={"video_mode": "video_url"}).generate(
            [ask(VideoPart(clips["av"]), TextPart("q"))])[0]
        dropped = adapter(server.url, tmp_path, media={"video_mode": "video_url", "audio_in_video": False}).generate(
            [ask(VideoPart(clips["av"]), TextPart("q"))])[0]
    # the file goes either way (its own audio stream inside); only the first request sent the soundtrack
    assert sent.media["video"] == dropped.media["video"] and sent.media["video"][0]["audio_stream"] is True
    assert [a["soundtrack"] for a in sent.media["audio"]] == [True] and dropped.media["audio"] == []


def test_a_model_without_audio_refuses_audio_and_says_it_drops_soundtracks(tmp_path, clips):
    with Loopback() as server:
        a = adapter(server.url, tmp_path, media={"audio": False, "frames": 4})
        refused, video = a.generate([ask(AudioPart(clips["wav"]), TextPart("q")), ask(VideoPart(clips["av"]), TextPart("q"))])
    assert refused.error_kind == "request_refused" and "takes no audio" in refused.error
    assert video.error is None and "soundtrack not sent" in video.notes[0]


def test_retries_on_429_and_5xx_then_succeeds(tmp_path, clips):
    with Loopback() as server:
        server.script = ["429", "500"]
        a = adapter(server.url, tmp_path)
        reply = a.generate([ask(TextPart("hello"))])[0]
        assert reply.error is None and len(server.received) == 3


@pytest.mark.parametrize("script,kind,needle", [
    (["500", "503", "500"], "server_error", "HTTP 500"),
    (["400"], "server_error", "HTTP 400"),
    (["sleep:1", "sleep:1", "sleep:1"], "server_timeout", "no answer within 0.5s"),
    (["malformed"], "bad_response", "not JSON"),
    (["no_choices"], "bad_response", "choices"),
])
def test_failures_end_in_a_clear_per_request_error(tmp_path, script, kind, needle):
    with Loopback() as server:
        server.script = list(script)
        a = adapter(server.url, tmp_path)
        reply = a.generate([ask(TextPart("hello"))])[0]
        calls = len(server.received)
    assert reply.error_kind == kind and needle in reply.error
    assert KEY not in reply.error
    assert calls == (1 if script[0] in ("400", "malformed", "no_choices") else 3)  # 4xx and bad bodies: no retry


def test_missing_key_is_a_load_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AVH_TEST_KEY")
    with pytest.raises(ValueError, match="AVH_TEST_KEY"):
        adapter("http://127.0.0.1:9/v1", tmp_path)


def test_a_run_through_the_server_keeps_the_key_out_of_every_file(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(i) for i in range(6)] + [mcq(9, media="does-not-exist.mp4")])

    class Cards:
        from aurelia_harness import hookimpl

        @staticmethod
        @hookimpl
        def register_model_cards(register):
            register(ModelCard(name="served", adapter="openai-compatible", checkpoint="served-model",
                               options={"base_url": server.url, "api_key_env": "AVH_TEST_KEY", "timeout": 2,
                                        "max_retries": 1, "backoff": 0.01, "media": {"frames": 4, "max_side": 64}}))

    with Loopback() as server:
        server.script = ["429"]
        registry = discover(modules=[Cards, TaskPlugin(manifest)])
        cfg = RunConfig(models=["served"], tasks=["t-mcq"], strategies=["baseline"], progress=False, concurrency=4,
                        output=tmp_path / "out", cache_dir=tmp_path / "cache")
        result = Runner(cfg, registry, log=lambda m: None).run()
    recs = records(cfg.output)
    assert len(recs) == 7 and sum(r["error"] is not None for r in recs) == 1
    assert result.results["results"][0]["value"] == pytest.approx(0.0)  # "B ..." where the answer is A
    for path in (cfg.output).rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


def served_run(tmp_path, clips, server, name, media, **config):
    """A run of the t-mcq task (a video with its soundtrack) through a served card with these [media] keys."""
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0), mcq(1)])

    class Cards:
        from aurelia_harness import hookimpl

        @staticmethod
        @hookimpl
        def register_model_cards(register):
            register(ModelCard(name="served", adapter="openai-compatible", checkpoint="served-model",
                               options={"base_url": server.url, "api_key_env": "AVH_TEST_KEY", "timeout": 2,
                                        "max_retries": 0, "media": {"frames": 4, "max_side": 64, **media}}))

    cfg = RunConfig(models=["served"], tasks=["t-mcq"], strategies=["baseline"], progress=False,
                    output=tmp_path / name, cache_dir=tmp_path / "cache", **config)
    result = Runner(cfg, discover(modules=[Cards, TaskPlugin(manifest)]), log=lambda m: None).run()
    return result, records(cfg.output)


def test_a_served_model_whose_soundtrack_is_dropped_is_flagged_and_can_be_an_error(tmp_path, clips):
    with Loopback() as server:
        _, heard = served_run(tmp_path, clips, server, "heard", {})
        result, deaf = served_run(tmp_path, clips, server, "deaf", {"audio_in_video": False})
        _, strict = served_run(tmp_path, clips, server, "strict", {"audio_in_video": False}, require_audio=True)
        _, blind = served_run(tmp_path, clips, server, "no-audio", {"audio": False})
    assert all(not r["audio_missing"] and r["media"][0]["audio"][0]["soundtrack"] for r in heard)
    assert all(r["audio_missing"] and r["error"] is None and r["media"][0]["audio"] == [] for r in deaf)
    assert all(any(n.startswith("audio_missing:") for n in r["notes"]) for r in deaf)
    assert result.results["results"][0]["audio_missing"] == 2
    assert "**2 sample(s) of t-mcq (baseline) reached served with no audio**" in (tmp_path / "deaf" / "summary.md").read_text()
    assert [r["error"]["type"] for r in strict] == ["audio_missing", "audio_missing"]
    assert not any(r["audio_missing"] for r in blind)  # a model that cannot hear is not flagged
