"""AVSynth: a small offline audio-visual benchmark generated with ffmpeg alone.

Six categories shaped like AVReasonBench's tasks. Every answer follows from the media; each manifest line
records the parameters that made its clip, and the same seed makes the same dataset (byte-identical
manifests; clips identical for the same ffmpeg build). Video is drawn with lavfi `color` + `drawbox`
filters enabled over time ranges; audio is one `aevalsrc` expression of gated sine tones.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import json
import random
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from aurelia_harness.media.ffmpeg_bin import ffmpeg_path

CATEGORIES = ("count", "caption", "compositional", "geo", "sync", "dance")
SIZE = (160, 120)
FPS = 10
RATE = 16000
GENERATOR_VERSION = 3  # bump when clips or questions change; part of the dataset folder's identity

COLOURS = {"red": "0xE02020", "green": "0x20B040", "blue": "0x2040E0", "yellow": "0xF0D020",
           "white": "0xF0F0F0", "black": "0x101010", "orange": "0xF08020"}
FLAGS = {  # country -> (orientation, stripes); simple tricolours
    "France": ("v", ("blue", "white", "red")),
    "Italy": ("v", ("green", "white", "red")),
    "Ireland": ("v", ("green", "white", "orange")),
    "Belgium": ("v", ("black", "yellow", "red")),
    "Germany": ("h", ("black", "red", "yellow")),
    "Netherlands": ("h", ("red", "white", "blue")),
}
TONES = {"low": 220, "middle": 440, "high": 880}  # compositional: three tones an octave apart
PITCH = {k: TONES[k] for k in ("low", "high")}  # caption and geo: two of them
TEMPOS = (60, 80, 100, 120, 150, 180)  # dance: the candidate clips' beats per minute


@dataclass
class ClipJob:
    path: Path
    seconds: float
    boxes: list  # (colour, x, y, w, h, t0, t1)
    tones: list  # (frequency, t0, t1, amplitude)
    video: bool = True
    audio: bool = True


def _tone_expr(tones: list) -> str:
    if not tones:
        return "0"
    terms = [f"{amp}*sin(2*PI*{freq}*t)*between(t\\,{t0:.3f}\\,{t1:.3f})" for freq, t0, t1, amp in tones]
    return "+".join(terms)


def render(job: ClipJob) -> None:
    """Write one clip with ffmpeg (through ffmpeg-python)."""
    streams = []
    if job.video:
        w, h = SIZE
        v = ffmpeg.input(f"color=c=0x202020:s={w}x{h}:r={FPS}:d={job.seconds}", f="lavfi").video
        for colour, x, y, bw, bh, t0, t1 in job.boxes:
            v = v.drawbox(x, y, bw, bh, color=COLOURS[colour], t="fill",
                          enable=f"between(t,{t0:.3f},{t1 - 1e-3:.3f})")
        streams.append(v)
    if job.audio:
        a = ffmpeg.input(f"aevalsrc=exprs='{_tone_expr(job.tones)}':s={RATE}:d={job.seconds}", f="lavfi").audio
        streams.append(a)
    kwargs = {}
    if job.video:
        kwargs.update(vcodec="libx264", pix_fmt="yuv420p", preset="ultrafast", g=FPS * 2, bf=0)
    if job.audio:
        kwargs.update(acodec="aac" if job.video or job.path.suffix == ".m4a" else "pcm_s16le", ar=RATE, ac=1)
    out = ffmpeg.output(*streams, str(job.path), **kwargs, map_metadata=-1, fflags="+bitexact")
    out.overwrite_output().run(cmd=ffmpeg_path(), quiet=True)


def _full(colour: str, t0: float, t1: float):
    return (colour, 0, 0, SIZE[0], SIZE[1], t0, t1)


def _letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


# ---- one builder per category: (rng, index, media_dir) -> (manifest line, [ClipJob]) ----------------

def _count(rng: random.Random, i: int, media: Path):
    colours = rng.sample(["red", "green", "blue"], 3)
    cuts = sorted(rng.sample([1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5], 2))
    spans = list(zip(colours, [0.0] + cuts, cuts + [6.0]))
    target = rng.choice(colours)
    beeps = sorted(rng.sample([x / 10 for x in range(3, 57, 4)], rng.randint(3, 6)))
    inside = [b for b in beeps if any(c == target and t0 <= b and b + 0.15 <= t1 for c, t0, t1 in spans)]
    # keep beeps off the colour boundaries so the answer is unambiguous
    beeps = [b for b in beeps if all(not (t0 < b + 0.15 and b < t0) for _, t0, _ in spans[1:])]
    inside = [b for b in inside if b in beeps]
    name = f"count_{i:04d}.mp4"
    job = ClipJob(media / name, 6.0, [_full(c, t0, t1) for c, t0, t1 in spans],
                  [(660, b, b + 0.15, 0.5) for b in beeps])
    steps = [f"The screen is {c} from {t0:.1f}s to {t1:.1f}s." for c, t0, t1 in spans]
    steps.append(f"Beeps sound at {', '.join(f'{b:.1f}s' for b in beeps)}.")
    steps.append(f"{len(inside)} of them fall while the screen is {target}.")
    line = {"question": f"How many beeps sound while the screen is {target}?", "answer": str(len(inside)),
            "media": [{"kind": "video", "path": f"media/{name}"}], "category": "counting",
            "reasoning": " ".join(steps),
            "params": {"spans": spans, "beeps": beeps, "target": target}}
    return line, [job]


def _caption(rng: random.Random, i: int, media: Path):
    colour = rng.choice(["red", "green", "blue", "yellow"])
    pitch = rng.choice(list(PITCH))
    name = f"caption_{i:04d}.mp4"
    job = ClipJob(media / name, 4.0, [_full(colour, 0.0, 4.0)], [(PITCH[pitch], 0.0, 4.0, 0.4)])
    refs = [f"A {colour} screen with a steady {pitch}-pitched tone.",
            f"The whole frame is {colour} while a continuous {pitch} tone plays.",
            f"A plain {colour} image accompanied by one {pitch} beep that lasts the whole clip."]
    line = {"question": "Describe what you see and hear in this clip in one sentence.",
            "answer": {"references": refs, "keywords": [colour, pitch]},
            "media": [{"kind": "video", "path": f"media/{name}"}], "category": "captioning",
            "reasoning": f"The screen stays {colour} throughout. One {pitch} tone ({PITCH[pitch]} Hz) plays throughout.",
            "params": {"colour": colour, "pitch": pitch, "frequency": PITCH[pitch]}}
    return line, [job]


def _compositional(rng: random.Random, i: int, media: Path):
    # v3: three tones (low, middle and high, in a random order) and the screen turning blue in one of the four
    # gaps around them; asked which tone sounds first after the blue, or last before it. The soundtrack alone
    # says nothing of which gap the blue falls in, and the frames alone say nothing of which pitch sounds where,
    # so either modality alone is at chance (1/3) by construction. v2 asked for the first or last of two tones
    # and the blue, which the soundtrack alone answered 83% of the time (docs/signal.md).
    pitches = rng.sample(list(TONES), 3)
    onsets = [round(base + 0.1 * rng.randrange(4), 1) for base in (1.0, 2.6, 4.2)]
    ask = rng.choice(["after", "before"])
    gap = rng.choice([0, 1, 2] if ask == "after" else [1, 2, 3])  # tones sounding before the screen turns blue
    lo = 0.2 if gap == 0 else onsets[gap - 1] + 0.6  # 0.2 s clear of the tone's end (tones last 0.4 s)
    hi = onsets[gap] - 0.2 if gap < 3 else 5.5
    blue = round(lo + 0.1 * rng.randrange(round((hi - lo) / 0.1) + 1), 1)
    truth = f"the {pitches[gap] if ask == 'after' else pitches[gap - 1]} tone"
    events = {f"the {p} tone": t for p, t in zip(pitches, onsets)}
    events["the screen turning blue"] = blue
    options = [f"the {p} tone" for p in TONES]
    rng.shuffle(options)
    name = f"compositional_{i:04d}.mp4"
    job = ClipJob(media / name, 6.0, [_full("blue", blue, 6.0)],
                  [(TONES[p], t, t + 0.4, 0.5) for p, t in zip(pitches, onsets)])
    line = {"question": compositional_question(ask), "options": options,
            "answer": _letters(3)[options.index(truth)],
            "media": [{"kind": "video", "path": f"media/{name}"}], "category": "compositional",
            "reasoning": compositional_reasoning(events, ask),
            "params": {"events": events, "ask": ask}}
    return line, [job]


def compositional_question(ask: str) -> str:
    return ("Which tone sounds first after the screen turns blue?" if ask == "after"
            else "Which tone sounds last before the screen turns blue?")


def compositional_answer(events: dict, ask: str) -> str | None:
    """The event that answers `ask` about a compositional clip's events (None: no tone on that side)."""
    blue = events["the screen turning blue"]
    tones = sorted((t, e) for e, t in events.items() if e != "the screen turning blue")
    side = [e for t, e in tones if t >= blue] if ask == "after" else [e for t, e in tones if t < blue]
    return (side[0] if ask == "after" else side[-1]) if side else None


def compositional_reasoning(events: dict, ask: str) -> str:
    said = " ".join(("The screen turns blue" if e == "the screen turning blue" else f"The {e[4:]} sounds") + f" at {t:.1f}s."
                    for e, t in sorted(events.items(), key=lambda kv: kv[1]))
    word = "first after" if ask == "after" else "last before"
    return f"{said} So {compositional_answer(events, ask)} sounds {word} the screen turns blue."


def _flag_boxes(country: str, t0: float, t1: float):
    orient, stripes = FLAGS[country]
    w, h = SIZE
    boxes = []
    for k, colour in enumerate(stripes):
        if orient == "v":
            boxes.append((colour, k * w // 3, 0, w // 3 + (1 if k == 2 else 0), h, t0, t1))
        else:
            boxes.append((colour, 0, k * h // 3, w, h // 3 + (1 if k == 2 else 0), t0, t1))
    return boxes


def _geo(rng: random.Random, i: int, media: Path):
    shown = rng.sample(sorted(FLAGS), 3)
    spans = [(c, 2.0 * k, 2.0 * (k + 1)) for k, c in enumerate(shown)]
    pick = rng.randrange(3)
    country, t0, t1 = spans[pick]
    name = f"geo_{i:04d}.mp4"
    boxes = [b for c, a, z in spans for b in _flag_boxes(c, a, z)]
    job = ClipJob(media / name, 6.0, boxes, [(PITCH["high"], t0 + 0.5, t1 - 0.5, 0.5)])
    options = sorted(shown)
    line = {"question": "Which country's flag is on screen when the tone sounds?", "options": options,
            "answer": _letters(len(options))[options.index(country)],
            "media": [{"kind": "video", "path": f"media/{name}"}], "category": "geography",
            "reasoning": " ".join(f"From {a:.0f}s to {z:.0f}s the flag of {c} is shown." for c, a, z in spans)
            + f" The tone sounds from {t0 + 0.5:.1f}s to {t1 - 0.5:.1f}s, during the flag of {country}.",
            "params": {"flags": spans, "tone": [t0 + 0.5, t1 - 0.5]}}
    return line, [job]


def _sync(rng: random.Random, i: int, media: Path):
    period = rng.choice([0.5, 0.6, 0.8, 1.0])
    in_sync = rng.random() < 0.5
    offset = 0.0 if in_sync else period / 2
    # v2: flashes and clicks each start at a random phase (0.05 s steps) within the first period, so the
    # clicks' timing alone says nothing; in v1 every flash train began at 0.2 s and gave the answer away.
    start = round(0.05 * rng.randrange(round(period / 0.05)), 2)
    flashes = [round(start + k * period, 3) for k in range(int(6.0 / period) + 1) if start + k * period + 0.2 < 6.0]
    first_click = round((start + offset) % period, 3)
    clicks = [round(first_click + k * period, 3) for k in range(int(6.0 / period) + 1)
              if first_click + k * period + 0.05 < 6.0]
    name = f"sync_{i:04d}.mp4"
    job = ClipJob(media / name, 6.0, [("white", 60, 40, 40, 40, t, t + 0.2) for t in flashes],
                  [(1200, t, t + 0.05, 0.6) for t in clicks])
    options = ["Yes, each click sounds when the square flashes", "No, the clicks fall between the flashes"]
    line = {"question": "Do the clicks match the flashes of the white square?", "options": options,
            "answer": "A" if in_sync else "B",
            "media": [{"kind": "video", "path": f"media/{name}"}], "category": "synchrony",
            "reasoning": f"The square flashes every {period}s starting at {start}s. The clicks are "
                         + ("at the same moments." if in_sync else f"shifted by {offset:.2f}s, between the flashes."),
            "params": {"period": period, "start": start, "offset": offset, "in_sync": in_sync}}
    return line, [job]


def _dance(rng: random.Random, i: int, media: Path):
    tempos = rng.sample(list(TEMPOS), 4)
    match = rng.randrange(4)
    period = 60 / tempos[match]
    flashes = [round(0.1 + k * period, 3) for k in range(int(5.8 / period) + 1) if 0.1 + k * period + 0.15 < 6.0]
    video = ClipJob(media / f"dance_{i:04d}.mp4", 6.0, [("orange", 40, 20, 80, 80, t, t + 0.15) for t in flashes],
                    [], audio=False)
    jobs, items = [video], [{"kind": "video", "path": f"media/dance_{i:04d}.mp4"}]
    for k, bpm in enumerate(tempos):
        p = 60 / bpm
        beats = [0.1 + n * p for n in range(int(5.8 / p) + 1) if 0.1 + n * p + 0.08 < 6.0]
        name = f"dance_{i:04d}_clip{k + 1}.wav"
        jobs.append(ClipJob(media / name, 6.0, [], [(440, b, b + 0.08, 0.6) for b in beats], video=False))
        items.append({"kind": "audio", "path": f"media/{name}", "role": f"candidate {k + 1}"})
    options = [f"Clip {k + 1}" for k in range(4)]
    line = {"question": "The video flashes to a beat. Which of the four music clips matches its rhythm?",
            "options": options, "answer": _letters(4)[match], "media": items, "category": "dance",
            "reasoning": f"The square flashes {tempos[match]} times a minute. Clip {match + 1} beats at "
                         f"{tempos[match]} per minute; the others at " +
                         ", ".join(str(t) for k, t in enumerate(tempos) if k != match) + ".",
            "params": {"tempos_bpm": tempos, "match": match + 1}}
    return line, jobs


BUILDERS = {"count": _count, "caption": _caption, "compositional": _compositional, "geo": _geo,
            "sync": _sync, "dance": _dance}


def dataset_dir(root: Path, per_task: int, seed: int) -> Path:
    return Path(root) / f"avsynth-v{GENERATOR_VERSION}-n{per_task}-s{seed}"


def generate(out: Path, per_task: int = 8, seed: int = 0, categories=CATEGORIES, workers: int = 2,
             progress=None) -> dict[str, Path]:
    """Write out/<category>/manifest.jsonl and its media; return the manifest paths.

    A category whose manifest already exists is left alone (manifests are written last, atomically), so an
    interrupted generation resumes and a finished one costs nothing.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".generate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # data-parallel ranks generate once; the others wait and reuse
        return _generate_locked(out, per_task, seed, categories, workers, progress)


def _generate_locked(out: Path, per_task: int, seed: int, categories, workers: int, progress) -> dict[str, Path]:
    manifests = {}
    for category in categories:
        folder = out / category
        manifest = folder / "manifest.jsonl"
        manifests[category] = manifest
        if manifest.exists():
            continue
        media = folder / "media"
        media.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"avsynth:{seed}:{category}")
        lines, jobs = [], []
        for i in range(per_task):
            line, clip_jobs = BUILDERS[category](rng, i, media)
            line = {"id": f"{category}-{i:04d}", **line}
            line["params"] = {"generator": f"avsynth-v{GENERATOR_VERSION}", "seed": seed, **line["params"]}
            lines.append(line)
            jobs.extend(clip_jobs)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(render, jobs):
                if progress:
                    progress(1)
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
        tmp.replace(manifest)
    return manifests
