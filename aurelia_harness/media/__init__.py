"""Media layer: probe, decode (PyAV), cache (content hash + decode parameters), ffmpeg location."""

from .decode import MediaInfo, StreamInfo, probe
from .errors import (DecodeFailed, DecodeTimeout, MediaEmpty, MediaError, MediaMissing, NoAudioStream,
                     NoVideoStream, NotMedia)
from .ffmpeg_bin import ffmpeg_path, ffmpeg_version, pyav_versions
from .mime import mime_type
from .store import AudioClip, MediaStore, VideoClip, VideoSpec, content_hash

__all__ = [
    "AudioClip", "DecodeFailed", "DecodeTimeout", "MediaEmpty", "MediaError", "MediaInfo", "MediaMissing",
    "MediaStore", "NoAudioStream", "NoVideoStream", "NotMedia", "StreamInfo", "VideoClip", "VideoSpec",
    "content_hash", "ffmpeg_path", "ffmpeg_version", "mime_type", "probe", "pyav_versions",
]
