"""The Gemini adapter through the real google-genai client, against a loopback server in Gemini's shape."""

import base64
from pathlib import Path

import pytest

from aurelia_harness.cards import ModelCard
from aurelia_harness.media import MediaStore
from aurelia_harness.types import AudioPart, Message, Request, TextPart, VideoPart
from loopback import Loopback

KEY = "gemini-test-key-0987654321"


def gemini(url, tmp_path, **options):
    from avharness_plugins.models.gemini import GeminiAdapter

    card = ModelCard(name="gemini-test", adapter="gemini", checkpoint="gemini-1.5-pro",
                     options={"base_url": url, "api_key_env": "AVH_GEMINI_KEY", "timeout": 2, "max_retries": 2,
                              "backoff": 0.01, **options})
    adapter = GeminiAdapter(card, MediaStore(tmp_path / "m"))
    adapter.load()
    return adapter


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AVH_GEMINI_KEY", KEY)


def ask(*parts):
    return Request((Message("system", (TextPart("Be brief."),)), Message("user", tuple(parts))), max_new_tokens=7)


def test_native_video_audio_and_text(tmp_path, clips):
    with Loopback() as server:
        reply = gemini(server.url, tmp_path).generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]),
                                                           TextPart("Which comes first?"))])[0]
        sent = server.received[0]
    assert reply.error is None and reply.text.startswith("B") and reply.input_tokens == 253 and reply.output_tokens == 2
    assert "gemini-1.5-pro:generateContent" in sent["path"]
    assert sent["headers"].get("x-goog-api-key") == KEY
    parts = sent["body"]["contents"][0]["parts"]
    mime = lambda p: p["inlineData"].get("mimeType") or p["inlineData"].get("mime_type")  # the API takes both
    assert mime(parts[0]) == "video/mp4"
    assert base64.urlsafe_b64decode(parts[0]["inlineData"]["data"]) == clips["av"].read_bytes()  # soundtrack inside
    assert mime(parts[1]) == "audio/wav"  # Gemini's name; mimetypes says audio/x-wav
    assert parts[2] == {"text": "Which comes first?"}
    assert sent["body"]["generationConfig"]["maxOutputTokens"] == 7
    assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "Be brief."
    # the receipt: the two files as sent; the video file's own audio stream is its soundtrack, heard
    size = clips["av"].stat().st_size
    assert reply.media["video"] == [{"file": "av.mp4", "bytes": size, "mime": "video/mp4", "audio_stream": True}]
    soundtrack, clip = reply.media["audio"]
    assert soundtrack == {"seconds": pytest.approx(4, abs=0.1), "rate": 22050, "soundtrack": True, "in_file": "av.mp4"}
    assert clip == {"seconds": pytest.approx(2, abs=0.05), "rate": 8000, "soundtrack": False, "file": "tone.wav",
                    "bytes": clips["wav"].stat().st_size, "mime": "audio/wav"}


def test_a_silent_video_carries_no_audio_in_the_receipt(tmp_path, clips):
    with Loopback() as server:
        reply = gemini(server.url, tmp_path).generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
    assert reply.error is None and reply.media["video"][0]["audio_stream"] is False and reply.media["audio"] == []


def test_retries_then_a_clear_error_without_the_key(tmp_path):
    with Loopback() as server:
        server.script = ["503", "429"]
        assert gemini(server.url, tmp_path).generate([ask(TextPart("hi"))])[0].error is None
        assert len(server.received) == 3
        server.script = ["500", "500", "500"]
        reply = gemini(server.url, tmp_path).generate([ask(TextPart("hi"))])[0]
    assert reply.error_kind == "api_error" and "500" in reply.error and KEY not in reply.error


def test_a_video_only_ablation_is_refused_not_faked(tmp_path, clips):
    with Loopback() as server:
        reply = gemini(server.url, tmp_path).generate([ask(VideoPart(clips["av"], with_audio=False), TextPart("q"))])[0]
    assert reply.error and "video-only ablation" in reply.error


def test_missing_key(tmp_path, monkeypatch):
    monkeypatch.delenv("AVH_GEMINI_KEY")
    with pytest.raises(ValueError, match="AVH_GEMINI_KEY"):
        gemini("http://127.0.0.1:9", tmp_path)


def test_canonical_mime_types():
    from aurelia_harness.media import mime_type

    assert [mime_type(Path(n)) for n in ("a.wav", "b.MOV", "c.mp3", "d.webm", "e.jpg", "f.flac")] == [
        "audio/wav", "video/mov", "audio/mp3", "video/webm", "image/jpeg", "audio/flac"]
    assert mime_type(Path("g.mkv")) == "video/x-matroska"  # not in Gemini's list: mimetypes' name


class Files:
    """The Files API as the client sees it: an upload starts PROCESSING and turns to `final` after `polls` gets."""

    def __init__(self, final="ACTIVE", polls=2):
        self.final, self.polls, self.gets, self.uploaded = final, polls, 0, []

    def upload(self, file, config=None):
        from google.genai import types

        self.uploaded.append((file, config))
        return types.File(name="files/abc", uri="https://files.example/abc", mime_type=config["mime_type"],
                          state="PROCESSING")

    def get(self, name):
        from google.genai import types

        self.gets += 1
        state = self.final if self.gets >= self.polls else "PROCESSING"
        return types.File(name=name, uri="https://files.example/abc", mime_type="video/mov", state=state,
                          error={"message": "bad codec"} if state == "FAILED" else None)


def test_uploads_are_used_only_once_active(tmp_path, clips):
    movie = tmp_path / "clip.mov"
    movie.write_bytes(clips["av"].read_bytes())
    adapter = gemini("http://127.0.0.1:9", tmp_path, inline_limit_mb=0, upload_poll_s=0.01, upload_wait_s=5)
    adapter.client = type("Client", (), {"files": Files()})()
    _, contents, _, receipt = adapter.contents(ask(VideoPart(movie), TextPart("q")))
    part = contents[0].parts[0]
    assert adapter.client.files.gets == 2 and part.file_data.file_uri == "https://files.example/abc"
    assert receipt["video"] == [{"file": "clip.mov", "bytes": movie.stat().st_size, "mime": "video/mov",
                                 "uploaded": "https://files.example/abc", "audio_stream": True}]
    assert adapter.client.files.uploaded[0][1] == {"mime_type": "video/mov"}
    adapter.client.files = Files(final="FAILED")
    with pytest.raises(Exception, match="could not process clip.mov"):
        adapter._file_part(movie)
    slow = gemini("http://127.0.0.1:9", tmp_path, inline_limit_mb=0, upload_poll_s=0.01, upload_wait_s=0.05)
    slow.client = type("Client", (), {"files": Files(polls=10 ** 6)})()
    with pytest.raises(Exception, match="still being processed by the Files API after 0.05 s"):
        slow._file_part(movie)
