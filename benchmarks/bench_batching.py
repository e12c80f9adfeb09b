"""Real batching: generated tokens per second at B = 1 (one request per generate call) and B = 8 (one call
for eight requests), for the transformers families that batch, on their tiny real model classes (random
weights) on the CPU. Inputs are prepared (decoded, processed) once beforehand, so only generation is timed.
CPU gains are smaller than a GPU's; rerun this on a machine with one.

    .venv/bin/python benchmarks/bench_batching.py [--requests 8] [--tokens 16] [--repeats 3]

Last lines, one per family: `batching: family=... b1_tok_s=... b8_tok_s=... ratio=...`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness.media import MediaStore  # noqa: E402
from aurelia_harness.media.ffmpeg_bin import ffmpeg_path  # noqa: E402
from aurelia_harness.plugins import discover  # noqa: E402
from aurelia_harness.types import Message, Request, TextPart, VideoPart  # noqa: E402

FAMILIES = {"qwen2.5-omni": "tiny-omni", "qwen2.5-vl": "tiny-qwen2.5-vl"}


def clip(folder: Path) -> Path:
    path = folder / "clip.mp4"
    subprocess.run([ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:d=6",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def tokens_per_second(adapter, prepared: list, batch: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start, produced = time.perf_counter(), 0
        for i in range(0, len(prepared), batch):
            produced += sum(r.output_tokens for r in adapter.generate_batch(prepared[i:i + batch]))
        rates.append(produced / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-batching-"))
    video = clip(work)
    registry = discover()
    lines = []
    for family, card_name in FAMILIES.items():
        card = registry.card(card_name).with_overrides({"generation": {"max_new_tokens_cap": args.tokens}})
        adapter = registry.adapter(card.adapter)(card, MediaStore(work / "media"), "cpu")
        adapter.load()
        requests = [Request((Message("user", (VideoPart(video), TextPart(f"Question {i}: what do you see?"))),),
                            max_new_tokens=args.tokens) for i in range(args.requests)]
        prepared = [adapter.prepare(r) for r in requests]
        tokens_per_second(adapter, prepared[:1], 1, 1)  # warm-up
        b1 = tokens_per_second(adapter, prepared, 1, args.repeats)
        b8 = tokens_per_second(adapter, prepared, 8, args.repeats)
        adapter.close()
        print(f"{family} ({card_name}): {args.requests} requests, {args.tokens} new tokens each, median of "
              f"{args.repeats}: B=1 {b1:.0f} tok/s, B=8 {b8:.0f} tok/s")
        lines.append(f"batching: family={family} b1_tok_s={b1:.0f} b8_tok_s={b8:.0f} ratio={b8 / b1:.2f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
