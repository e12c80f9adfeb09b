"""Which ffmpeg binary the harness drives (through ffmpeg-python) and what version it is.

A system ffmpeg on PATH wins (distributions patch and tune theirs); otherwise the static binary shipped by
the `imageio-ffmpeg` wheel, so that `pip install` alone gives a working harness. Frame decoding on the hot
path does not spawn ffmpeg at all (see decode.py); this binary generates clips and converts files.

`AVHARNESS_FFMPEG` chooses explicitly: a path, `system` (the ffmpeg on PATH; an error when there is none) or
`bundled` (imageio-ffmpeg's static binary even when PATH has one). CI runs the media tests both ways, since
distributions ship older FFmpeg releases (Debian 12: 5.1) than the static build.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess


class FfmpegNotFound(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    choice = os.environ.get("AVHARNESS_FFMPEG", "").strip()
    if choice and choice not in ("system", "bundled"):
        return choice
    system = shutil.which("ffmpeg") if choice != "bundled" else None
    if system:
        return system
    if choice == "system":
        raise FfmpegNotFound("AVHARNESS_FFMPEG=system, but there is no ffmpeg on PATH")
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a declared dependency
        raise FfmpegNotFound("no ffmpeg on PATH and the imageio-ffmpeg package is not installed") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    try:
        out = subprocess.run([ffmpeg_path(), "-hide_banner", "-version"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired, FfmpegNotFound) as exc:
        return f"unavailable ({exc})"
    match = re.search(r"ffmpeg version (\S+)", out)
    return match.group(1) if match else "unknown"


def pyav_versions() -> dict:
    """Versions of PyAV and of the FFmpeg libraries it bundles (they decode our frames)."""
    import av

    libs = {name: ".".join(map(str, ver)) for name, ver in av.library_versions.items()}
    return {"pyav": av.__version__, "libavcodec": libs.get("libavcodec", "?"),
            "libavformat": libs.get("libavformat", "?"), "libswscale": libs.get("libswscale", "?")}
