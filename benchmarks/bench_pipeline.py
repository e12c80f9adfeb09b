"""Does the model wait for decoding? The whole runner path around a model whose generation takes a fixed T
per request and releases the GIL (it sleeps, as a GPU kernel would leave the CPU free), on decode-heavy
clips (60 s H.264 640x360 with a soundtrack, 16 frames + 16 kHz audio, cold cache), with and without the
handle's prefetch. The bound is max(T, decode + prepare): with prefetch the wall time per sample should be
within 1.15x of it, without it about T + decode + prepare.

    .venv/bin/python benchmarks/bench_pipeline.py [--clips 12] [--frames 16] [--t-ms auto] [--concurrency 4]

T defaults to the measured decode + prepare time (where overlap matters most). Times per sample are taken
in the steady state (first to last generation's end); the whole run's wall time per sample is printed too.
Last line:
`pipeline: T_ms=... decode_prepare_ms=... with_prefetch_ms=... without_ms=... ratio_to_bound=...`
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness import hookimpl  # noqa: E402
from aurelia_harness.cards import ModelCard  # noqa: E402
from aurelia_harness.config import RunConfig  # noqa: E402
from aurelia_harness.media import MediaStore  # noqa: E402
from aurelia_harness.media.ffmpeg_bin import ffmpeg_path  # noqa: E402
from aurelia_harness.models import ModelAdapter  # noqa: E402
from aurelia_harness.plugins import discover  # noqa: E402
from aurelia_harness.runner import Runner  # noqa: E402
from aurelia_harness.tasks import ManifestTask  # noqa: E402
from aurelia_harness.types import Message, Reply, Request, TextPart, VideoPart  # noqa: E402


class Sleeper(ModelAdapter):
    """prepare: decode the frames and the soundtrack (the CPU side); generate: sleep T (the accelerator side).
    `finished` collects the time each request's generation ended, for the steady-state rate."""

    finished: list[float] = []

    def prepare(self, request):
        shapes = []
        for part in request.media_parts():
            clip, track = self.policy.video_and_soundtrack(self.media, part, [])
            shapes.append((clip.frames.shape, 0 if track is None else len(track.samples)))
        return shapes

    def generate_batch(self, prepared):
        replies = []
        for _ in prepared:
            time.sleep(float(self.card.get("t_s")))
            Sleeper.finished.append(time.perf_counter())
            replies.append(Reply("B", input_tokens=1, output_tokens=1))
        return replies


class Plugin:
    def __init__(self, manifest: Path, t_s: float, frames: int):
        self.manifest, self.t_s, self.frames = manifest, t_s, frames

    @hookimpl
    def register_model_adapters(self, register):
        register("sleeper", Sleeper)

    @hookimpl
    def register_model_cards(self, register):
        register(ModelCard(name="sleeper", adapter="sleeper",
                           options={"t_s": self.t_s, "media": {"frames": self.frames, "max_side": 448}}))

    @hookimpl
    def register_tasks(self, register):
        register(ManifestTask({"name": "pipeline", "answer_form": "mcq", "data": {"manifest": str(self.manifest)}}))


def make_clips(folder: Path, count: int) -> Path:
    media = folder / "media"
    media.mkdir(parents=True)
    lines = []
    for i in range(count):
        clip = media / f"c{i}.mp4"
        subprocess.run([ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:d=60",
                        "-f", "lavfi", "-i", f"sine=frequency={300 + 40 * i}:duration=60", "-c:v", "libx264",
                        "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(clip)], check=True)
        lines.append({"id": f"q{i}", "question": "Which?", "options": ["a", "b"], "answer": "B",
                      "media": [{"kind": "video", "path": f"media/c{i}.mp4"}]})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def decode_prepare_ms(manifest: Path, frames: int) -> float:
    """Median cold decode + prepare of one clip, measured alone through the same adapter."""
    adapter = Sleeper(ModelCard(name="m", adapter="sleeper", options={"t_s": 0, "media": {"frames": frames,
                                                                                          "max_side": 448}}),
                      MediaStore(None))
    times = []
    for line in manifest.read_text().splitlines()[:5]:
        path = manifest.parent / json.loads(line)["media"][0]["path"]
        item = adapter.prepare_one(Request((Message("user", (VideoPart(path), TextPart("q"))),)))
        times.append(item.decode + item.prepare)
    return 1000 * statistics.median(times)


def run(manifest: Path, t_s: float, frames: int, prefetch: int, concurrency: int, work: Path) -> tuple[float, float]:
    """(whole-run wall time per sample, steady-state time per sample) in ms. Steady state: from the first
    generation's end to the last's, over the samples between; it leaves out the fixed costs of a run (start,
    the first sample's decode before anything can overlap, the report), which a 4,500-sample run spreads thin."""
    registry = discover(entry_points=True, modules=[Plugin(manifest, t_s, frames)])
    out = Path(tempfile.mkdtemp(dir=work))
    cfg = RunConfig(models=["sleeper"], tasks=["pipeline"], strategies=["baseline"], output=out / "run",
                    cache_dir=out / "cache", progress=False, concurrency=concurrency, batch_size=1, prefetch=prefetch)
    Sleeper.finished = []
    start = time.perf_counter()
    result = Runner(cfg, registry, log=lambda m: None).run()
    wall = time.perf_counter() - start
    assert result.errors == 0
    samples = sum(1 for _ in manifest.read_text().splitlines())
    ends = sorted(Sleeper.finished)
    assert len(ends) == samples
    return 1000 * wall / samples, 1000 * (ends[-1] - ends[0]) / (samples - 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--t-ms", default="auto")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-pipeline-"))
    manifest = make_clips(work / "data", args.clips)
    dp = decode_prepare_ms(manifest, args.frames)
    t_ms = dp if args.t_ms == "auto" else float(args.t_ms)
    run(manifest, 0.0, args.frames, 0, 1, work)  # warm-up: imports, the harness's own first-use costs
    with_whole, with_prefetch = run(manifest, t_ms / 1000, args.frames, 2, args.concurrency, work)
    without_whole, without = run(manifest, t_ms / 1000, args.frames, 0, args.concurrency, work)
    bound = max(t_ms, dp)
    print(f"clips={args.clips} frames={args.frames} concurrency={args.concurrency} (cold cache each run)")
    print(f"decode + prepare per clip alone: {dp:.0f} ms; model time T: {t_ms:.0f} ms; bound max(T, D+P): {bound:.0f} ms")
    print(f"whole run / samples: with prefetch {with_whole:.0f} ms ({with_whole / bound:.2f}x bound), "
          f"without {without_whole:.0f} ms ({without_whole / bound:.2f}x bound)")
    print(f"steady state per sample: with prefetch {with_prefetch:.0f} ms ({with_prefetch / bound:.2f}x bound), "
          f"without {without:.0f} ms ({without / bound:.2f}x bound; T + D+P = {t_ms + dp:.0f} ms)")
    print(f"pipeline: T_ms={t_ms:.0f} decode_prepare_ms={dp:.0f} with_prefetch_ms={with_prefetch:.0f} "
          f"without_ms={without:.0f} ratio_to_bound={with_prefetch / bound:.2f}")


if __name__ == "__main__":
    main()
