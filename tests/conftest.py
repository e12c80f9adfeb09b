"""Shared fixtures. Tests need no network, no GPU and no downloaded weights; every clip is generated here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_MEDIA = SHARED / "media"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep decoded clips, generated data and tiny models out of the user's cache (shared by the session)."""
    cache = tmp_path_factory.mktemp("avcache")
    old = os.environ.get("AVHARNESS_CACHE")
    os.environ["AVHARNESS_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield cache
    if old is None:
        os.environ.pop("AVHARNESS_CACHE", None)
    else:
        os.environ["AVHARNESS_CACHE"] = old


def ffmpeg(*args: str) -> None:
    from aurelia_harness.media import ffmpeg_path

    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small real clips made with ffmpeg: H.264+AAC, video without audio, VP8/Vorbis WebM, WAV, a stream
    with no container duration, and broken files."""
    d = tmp_path_factory.mktemp("clips")
    out = {}
    # 4 s, 10 fps: red 0-2 s, blue 2-4 s; a 440 Hz tone in the first second only
    video = "color=c=red:s=64x48:r=10:d=2[a];color=c=blue:s=64x48:r=10:d=2[b];[a][b]concat=n=2:v=1:a=0[v]"
    audio = "aevalsrc='0.5*sin(2*PI*440*t)*lt(t,1)':s=22050:d=4[s]"
    out["av"] = d / "av.mp4"
    ffmpeg("-filter_complex", f"{video};{audio}", "-map", "[v]", "-map", "[s]", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-g", "10", "-c:a", "aac", "-ac", "2", str(out["av"]))
    out["silent"] = d / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=green:s=64x48:r=10:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(out["silent"]))
    out["webm"] = d / "vp8.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=96x64:r=30:d=3", "-f", "lavfi", "-i", "sine=f=330:d=3",
           "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libvorbis", str(out["webm"]))
    out["wav"] = d / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=f=1000:d=2:sample_rate=8000", "-ac", "2", str(out["wav"]))
    out["nodur"] = d / "nodur.mkv"  # written to a pipe: no duration and no cues in the container
    with open(out["nodur"], "wb") as fh:
        from aurelia_harness.media import ffmpeg_path

        subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "color=c=white:s=32x32:r=10:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f",
                        "matroska", "-live", "1", "pipe:1"], check=True, stdout=fh)
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["text"] = d / "notes.mp4"
    out["text"].write_text("this is not a video\n" * 20)
    out["truncated"] = d / "truncated.mp4"  # the header survives, the frames do not
    data = out["av"].read_bytes()
    out["truncated"].write_bytes(data[: len(data) // 6])
    out["missing"] = d / "does-not-exist.mp4"
    return out


def shared_media(name: str) -> Path:
    path = SHARED_MEDIA / name
    if not path.exists():
        pytest.skip(f"../shared/media/{name} is absent (a user's own clone): this test did not run")
    return path
