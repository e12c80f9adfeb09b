"""Canonical MIME types for media files sent to APIs and servers.

Python's `mimetypes` answers with names some APIs do not take (`audio/x-wav`, `video/quicktime`); Gemini's
list of supported formats (ai.google.dev, "Supported file formats": video/mp4, video/mpeg, video/mov,
video/avi, video/x-flv, video/mpg, video/webm, video/wmv, video/3gpp; audio/wav, audio/mp3, audio/aiff,
audio/aac, audio/ogg, audio/flac; image/png, image/jpeg, image/webp, image/heic, image/heif) names them
by these. Anything else falls back to `mimetypes`, then to application/octet-stream.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

CANONICAL = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mpeg": "video/mpeg", ".mpg": "video/mpg", ".mov": "video/mov",
    ".avi": "video/avi", ".flv": "video/x-flv", ".webm": "video/webm", ".wmv": "video/wmv", ".3gp": "video/3gpp",
    ".wav": "audio/wav", ".mp3": "audio/mp3", ".aif": "audio/aiff", ".aiff": "audio/aiff", ".aac": "audio/aac",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".heic": "image/heic", ".heif": "image/heif",
}


def mime_type(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in CANONICAL:
        return CANONICAL[suffix]
    guess, _ = mimetypes.guess_type(str(path))
    return guess or "application/octet-stream"
