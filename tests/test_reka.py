"""The Reka adapter through the real reka-api client, against a loopback server in Reka's shape."""

import base64

import pytest

from aurelia_harness.cards import ModelCard
from aurelia_harness.media import MediaStore
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart
from loopback import Loopback

KEY = "reka-test-key-5555"


def reka(url, tmp_path, **options):
    from avharness_plugins.models.reka import RekaAdapter

    card = ModelCard(name="reka-test", adapter="reka", checkpoint="reka-core",
                     options={"base_url": url, "api_key_env": "AVH_REKA_KEY", "timeout": 5, "max_retries": 2, **options})
    adapter = RekaAdapter(card, MediaStore(tmp_path / "m"))
    adapter.load()
    return adapter


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AVH_REKA_KEY", KEY)


def ask(*parts):
    return Request((Message("user", tuple(parts)),), max_new_tokens=9)


def test_video_audio_and_text_as_reka_content(tmp_path, clips):
    with Loopback() as server:
        reply = reka(server.url, tmp_path).generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]),
                                                         TextPart("Which comes first?"))])[0]
        sent = server.received[0]
    assert reply.error is None and reply.text.startswith("B") and (reply.input_tokens, reply.output_tokens) == (303, 2)
    assert sent["path"].endswith("/chat") and sent["headers"].get("X-Api-Key") == KEY
    content = sent["body"]["messages"][0]["content"]
    assert [c["type"] for c in content] == ["video_url", "audio_url", "text"]
    head, data = content[0]["video_url"].split(",", 1)
    assert head == "data:video/mp4;base64" and base64.b64decode(data) == clips["av"].read_bytes()
    assert sent["body"]["model"] == "reka-core" and sent["body"]["max_tokens"] == 9
    assert reply.media["video"] == [{"file": "av.mp4", "bytes": clips["av"].stat().st_size, "mime": "video/mp4",
                                     "audio_stream": True}]
    assert [(a["soundtrack"], a.get("in_file"), a["rate"]) for a in reply.media["audio"]] == [
        (True, "av.mp4", 22050), (False, None, 8000)]
    assert reply.media["audio"][1]["seconds"] == pytest.approx(2, abs=0.05) and reply.media["images"] == 0


def test_retries_then_a_clear_error_without_the_key(tmp_path):
    with Loopback() as server:
        server.script = ["503"]
        assert reka(server.url, tmp_path).generate([ask(TextPart("hi"))])[0].error is None
        server.script = ["500", "500", "500"]
        reply = reka(server.url, tmp_path).generate([ask(TextPart("hi"))])[0]
    assert reply.error_kind == "api_error" and "500" in reply.error and KEY not in reply.error


def test_missing_key(tmp_path, monkeypatch):
    monkeypatch.delenv("AVH_REKA_KEY")
    with pytest.raises(ValueError, match="AVH_REKA_KEY"):
        reka("http://127.0.0.1:9", tmp_path)
