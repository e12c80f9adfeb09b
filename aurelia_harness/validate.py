"""`avharness data validate DIR`: check a manifest against its media before a long run.

Every file exists and decodes (probed in process), which videos have audio, durations, duplicate ids,
answers among the options, and the task's shape (options count, media per sample). The runner applies
`check_media` to each sample lazily, just before its model work, so the same problems become per-sample
error records during a run, with the same messages (a cover picture in an audio file is not a video, in
both). Every file is opened under a timeout: one that never answers (a FIFO without a writer) is that
sample's `decode_timeout`, not a stalled run.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .media import NoAudioStream, NoVideoStream, NotMedia, probe
from .media.errors import MediaError
from .media.store import run_with_timeout
from .tasks import read_manifest
from .types import Sample


DEFAULT_TIMEOUT = RunConfig.decode_timeout  # [media] decode_timeout's default


def check_media(sample: Sample, timeout: float | None = None) -> list[dict]:
    """One entry per media item: its facts, or the MediaError it raises (missing, empty, not media, no
    video stream for a video item, no audio stream for an audio item, decode_timeout for a file that does
    not answer within `timeout` seconds)."""
    out = []
    for item in sample.media:
        entry = {"path": str(item.path), "kind": item.kind}
        try:
            info = run_with_timeout(item.path, timeout or DEFAULT_TIMEOUT, probe, item.path)
            if item.kind == "video" and not info.has_video:
                raise NoVideoStream(item.path, info.no_video_reason)
            if item.kind == "audio" and not info.has_audio:
                raise NoAudioStream(item.path, "has no audio stream")
            if item.kind == "image" and not info.has_video:
                raise NotMedia(item.path, "is not an image")
            entry.update(duration=info.duration, has_audio=info.has_audio)
        except MediaError as exc:
            entry["error"] = exc
        out.append(entry)
    return out


def first_media_error(sample: Sample, timeout: float | None = None) -> MediaError | None:
    for entry in check_media(sample, timeout):
        if "error" in entry:
            return entry["error"]
    return None


@dataclass
class Validation:
    manifest: Path
    samples: int = 0
    media_files: int = 0
    problems: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    videos_without_audio: int = 0
    options_counts: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)

    def text(self) -> str:
        lines = [f"{self.manifest}: {self.samples} samples, {self.media_files} media files"]
        if self.durations:
            lines.append(f"durations: min {min(self.durations):.1f} s, median {statistics.median(self.durations):.1f} s, "
                         f"max {max(self.durations):.1f} s")
        lines.append(f"videos without an audio track: {self.videos_without_audio}")
        if self.options_counts:
            lines.append("options per question: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.options_counts.items())))
            lines.append("answer letters: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items())))
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  {p}" for p in self.problems[:50]]
            if len(self.problems) > 50:
                lines.append(f"  ... and {len(self.problems) - 50} more")
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def validate(path: Path, task=None, timeout: float | None = None) -> Validation:
    path = Path(path)
    manifest = path / "manifest.jsonl" if path.is_dir() else path
    name = getattr(task, "name", manifest.parent.name)
    data = read_manifest(manifest, name, getattr(task, "check", None))
    report = Validation(manifest, len(data.samples))
    report.problems += [f"{p.where}: {p.message}" for p in data.problems]
    for sample in data.samples:
        if sample.options:
            report.options_counts[len(sample.options)] += 1
            report.answers[sample.answer] += 1
        for entry in check_media(sample, timeout):
            report.media_files += 1
            if "error" in entry:
                report.problems.append(f"{sample.id}: {entry['error'].kind}: {entry['error']}")
                continue
            if entry.get("duration"):
                report.durations.append(entry["duration"])
            if entry["kind"] == "video" and not entry.get("has_audio"):
                report.videos_without_audio += 1
    return report
