"""Typed media errors. Each carries the path and a one-line reason meant for a person."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every media failure; the runner turns it into a per-sample error record."""

    kind = "media_error"

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MediaMissing(MediaError):
    kind = "media_missing"


class MediaEmpty(MediaError):
    kind = "media_empty"


class NotMedia(MediaError):
    kind = "not_media"


class NoVideoStream(MediaError):
    kind = "no_video_stream"


class NoAudioStream(MediaError):
    kind = "no_audio_stream"


class DecodeFailed(MediaError):
    kind = "decode_failed"


class DecodeTimeout(MediaError):
    kind = "decode_timeout"


def media_error_kinds() -> set[str]:
    """The record error types that come from the media (the data), not from a model."""
    kinds, todo = set(), [MediaError]
    while todo:
        cls = todo.pop()
        kinds.add(cls.kind)
        todo.extend(cls.__subclasses__())
    return kinds
