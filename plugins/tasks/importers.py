"""`avharness data import FORMAT SRC --out DIR`: the annotation formats users have, as our manifest.

Formats (their published layouts):
- music-avqa: Music-AVQA's JSON list of {video_id, question_id, type, question_content, templ_values,
  question_deleted, anser}; `<Object>`-style placeholders in question_content are filled, in order, from
  templ_values (a list, often written as a string); the answer field is spelled "anser" upstream.
- avsd: AVSD's dialog JSON {"dialogs": [{image_id, caption, summary, dialog: [{question, answer}, ...]}]}
  (or the dialogs as a dict keyed by id); one sample per question turn, optionally with earlier turns.
- valor: VALOR's caption annotations, a list of {video_id, desc} (desc a string or a list); entries of
  one video are merged into that sample's references.
- aurelia: the AURELIA data-generation output, {query, video_path, audio_path, reasoning_steps} per
  record (a JSON list or JSON Lines), with answer/options where present.

The public audio-visual benchmarks (docs/benchmarks.md says where each layout was read from):
- worldsense: worldsense_qa.json, {video_id: {video_id, video_duration, duration, domain, sub_category,
  audio_class, video_caption, task0: {task_domain, task_type, question, candidates, answer}, task1: ...}},
  videos in videos/VIDEO_ID.mp4;
- daily-omni: qa.json, a list of {Question, Choice, Answer, video_id, Type, video_category,
  video_duration}, videos in Videos/VIDEO_ID/VIDEO_ID_video.mp4;
- av-odyssey: the av_odyssey_part*.parquet shards (needs pyarrow), rows {question_id, question_type_id,
  subfield, question, options, answer, data_type, image_1..4, audio_1..4, video_1} with the media as bytes,
  written out to DIR/media; [img1]/[audio1]/[video1] tags in the question say where each item goes;
- omnibench: the dataset/*.jsonl rows {index, "task type", "audio type", question, options, answer (the
  option's text), "audio content", "image content", audio_path, image_path}, media in mm_data/{audio,image};
- avhbench: AVHBench_v0/json/VIDEO_ID.json lists of {video_id, task, text, label} and video/VIDEO_ID.mp4;
  judgements go to manifest.jsonl, "AV Captioning" entries to captions.jsonl beside it;
- omnivideobench: a list of {video, video_type, duration "MM:SS", questions: [{question, question_type,
  audio_type, reasoning_steps, options, answer, correct_option}]}, videos VIDEO.mp4;
- jointavbench: jointavbench.json, a list of {qid, video_name, task, question, correct_answer, explanation,
  options, video_url, segment_timestamp}; a clip QID.mp4 in --videos is used as it is (the official
  evaluation reads one per question), else VIDEO_NAME.mp4 is cut to segment_timestamp with ffmpeg.

Media are linked (or with copy=True copied) into DIR/media so the manifest's paths stay inside DIR.
Entries that cannot be imported are reported with their position; the rest are written. Importing again
rewrites the manifest and keeps the media already placed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from aurelia_harness.errors import HarnessError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclass
class ImportReport:
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    missing_media: list[str] = field(default_factory=list)
    manifest: Path | None = None
    also: list[Path] = field(default_factory=list)  # further manifests written beside it (AVHBench captions)


def _load_json(src: Path):
    text = Path(src).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise HarnessError(f"{src}:{number}: neither a JSON document nor JSON Lines ({exc.msg})") from None
        return rows


class _Writer:
    def __init__(self, out: Path, copy: bool):
        self.out = Path(out)
        self.media = self.out / "media"
        self.media.mkdir(parents=True, exist_ok=True)
        self.copy = copy
        self.lines: list[dict] = []
        self.report = ImportReport()
        self.placed: dict[str, str] = {}

    def place(self, source: Path | None, fallback_name: str) -> str:
        """Link or copy a media file into DIR/media; a missing one keeps its name (validate reports it)."""
        if source is None or not Path(source).exists():
            self.report.missing_media.append(str(source) if source else fallback_name)
            return f"media/{fallback_name}"
        source = Path(source).resolve()
        if str(source) in self.placed:
            return self.placed[str(source)]
        target = self.media / source.name
        if not target.exists():
            if self.copy:
                shutil.copy2(source, target)
            else:
                os.symlink(source, target)
        self.placed[str(source)] = f"media/{source.name}"
        return self.placed[str(source)]

    def write_bytes(self, data: bytes, name: str) -> str:
        """A media file the source carries inline (AV-Odyssey's parquet), written once into DIR/media."""
        target = self.media / name
        if not target.exists():
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return f"media/{name}"

    def cut(self, source: Path, start: float, end: float, name: str) -> str | None:
        """DIR/media/NAME: `source` from `start` to `end` seconds, re-encoded so the cut is exact; None when
        ffmpeg fails (the question is then skipped with its reason)."""
        import subprocess

        from aurelia_harness.media import ffmpeg_path

        target = self.media / name
        if not target.exists():
            tmp = target.with_name(f".{name}.part.mp4")
            done = subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{start:.3f}",
                                   "-i", str(source), "-t", f"{max(end - start, 0.001):.3f}", "-c:v", "libx264",
                                   "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(tmp)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                tmp.unlink(missing_ok=True)
                return None
            tmp.replace(target)
        return f"media/{name}"

    def add(self, line: dict) -> None:
        self.lines.append(line)

    def skip(self, where: str, why: str) -> None:
        self.report.skipped.append(f"{where}: {why}")

    def finish(self, filename: str = "manifest.jsonl") -> ImportReport:
        manifest = self.out / filename
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in self.lines), encoding="utf-8")
        tmp.replace(manifest)
        self.report.written, self.report.manifest = len(self.lines), manifest
        return self.report


def _find_video(folder: Path | None, *stems: str) -> Path | None:
    if folder is None:
        return None
    for stem in stems:
        for suffix in VIDEO_SUFFIXES:
            for candidate in (folder / f"{stem}{suffix}", folder / stem / f"{stem}{suffix}"):
                if candidate.exists():
                    return candidate
    return None


def _as_list(value) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]
        return parsed if isinstance(parsed, list) else [parsed]
    return []


def fill_template(question: str, values: list) -> str:
    """Music-AVQA: replace each <Placeholder> in order with the next template value."""
    values = list(values)

    def sub(match):
        return str(values.pop(0)) if values else match.group(0)

    return re.sub(r"<[^<>]+>", sub, question)


def import_music_avqa(src: Path, out: Path, videos: Path | None = None, copy: bool = False, **_) -> ImportReport:
    data = _load_json(src)
    if not isinstance(data, list):
        raise HarnessError(f"{src}: expected a JSON list of Music-AVQA questions")
    w = _Writer(out, copy)
    for i, q in enumerate(data):
        where = f"{Path(src).name}[{i}]"
        if not isinstance(q, dict) or "video_id" not in q or "question_content" not in q:
            w.skip(where, "not a Music-AVQA question (needs video_id and question_content)")
            continue
        if str(q.get("question_deleted", 0)) == "1":
            w.skip(where, "marked question_deleted upstream")
            continue
        answer = q.get("anser", q.get("answer"))
        if answer in (None, ""):
            w.skip(where, "no answer (field 'anser')")
            continue
        question = fill_template(str(q["question_content"]), _as_list(q.get("templ_values", [])))
        vid = str(q["video_id"])
        kind = _as_list(q.get("type", []))
        w.add({"id": f"music-avqa-{q.get('question_id', i)}", "question": question, "answer": str(answer),
               "media": [{"kind": "video", "path": w.place(_find_video(videos, vid), f"{vid}.mp4")}],
               "category": "Musical Performances",
               # the paper reports accuracy per modality (Audio, Visual, Audio-Visual) and per modality/type
               "metadata": {"source": "music-avqa", "video_id": vid, "question_type": " / ".join(map(str, kind)),
                            "modality_type": str(kind[0]) if kind else ""}})
    return w.finish()


def import_avsd(src: Path, out: Path, videos: Path | None = None, copy: bool = False, history: int = 0,
                **_) -> ImportReport:
    data = _load_json(src)
    dialogs = data.get("dialogs", data) if isinstance(data, dict) else data
    if isinstance(dialogs, dict):
        dialogs = [{"image_id": k, **v} for k, v in dialogs.items()]
    if not isinstance(dialogs, list):
        raise HarnessError(f"{src}: expected AVSD's {{\"dialogs\": [...]}}")
    w = _Writer(out, copy)
    for i, d in enumerate(dialogs):
        where = f"{Path(src).name} dialog {i}"
        if not isinstance(d, dict) or "image_id" not in d or not isinstance(d.get("dialog"), list):
            w.skip(where, "not an AVSD dialog (needs image_id and a dialog list)")
            continue
        vid = str(d["image_id"])
        path = w.place(_find_video(videos, vid), f"{vid}.mp4")
        turns = d["dialog"]
        for t, turn in enumerate(turns):
            if not isinstance(turn, dict) or not turn.get("question") or not turn.get("answer"):
                w.skip(f"{where} turn {t}", "needs question and answer")
                continue
            context = turns[max(0, t - history):t] if history else []
            prefix = "".join(f"Q: {c.get('question', '')}\nA: {c.get('answer', '')}\n" for c in context)
            question = (f"Earlier in this conversation about the video:\n{prefix}Now: " if prefix else "") + turn["question"]
            w.add({"id": f"avsd-{vid}-{t}", "question": question, "answer": turn["answer"],
                   "media": [{"kind": "video", "path": path}], "category": "Dynamic Scene",
                   "metadata": {"source": "avsd", "video_id": vid, "turn": t}})
    return w.finish()


def import_valor(src: Path, out: Path, videos: Path | None = None, copy: bool = False,
                 question: str = "Describe what you see and hear in this video in one sentence.", **_) -> ImportReport:
    data = _load_json(src)
    entries = data.get("annotations", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise HarnessError(f"{src}: expected VALOR's list of {{video_id, desc}}")
    w = _Writer(out, copy)
    refs: dict[str, list[str]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "video_id" not in e or not (e.get("desc") or e.get("caption")):
            w.skip(f"{Path(src).name}[{i}]", "not a VALOR caption (needs video_id and desc)")
            continue
        desc = e.get("desc") or e.get("caption")
        refs.setdefault(str(e["video_id"]), []).extend(desc if isinstance(desc, list) else [desc])
    for vid, captions in refs.items():
        youtube = re.sub(r"_\d+(?:\.\d+)?_\d+(?:\.\d+)?$", "", vid)  # ids carry _start_end seconds
        path = w.place(_find_video(videos, vid, youtube), f"{vid}.mp4")
        w.add({"id": f"valor-{vid}", "question": question, "answer": {"references": captions},
               "media": [{"kind": "video", "path": path}], "category": "Captioning",
               "metadata": {"source": "valor", "video_id": vid}})
    return w.finish()


def import_aurelia(src: Path, out: Path, copy: bool = False, **_) -> ImportReport:
    data = _load_json(src)
    records = data if isinstance(data, list) else [data]
    w = _Writer(out, copy)
    base = Path(src).parent
    for i, r in enumerate(records):
        where = f"{Path(src).name}[{i}]"
        if not isinstance(r, dict) or not r.get("query") or not r.get("video_path"):
            w.skip(where, "not an AURELIA record (needs query and video_path)")
            continue
        answer = next((r[k] for k in ("answer", "gt_answer", "ground_truth", "label") if r.get(k) not in (None, "")), None)
        if answer is None:
            w.skip(where, "no answer field (answer, gt_answer, ground_truth or label)")
            continue
        video = Path(r["video_path"]) if Path(r["video_path"]).is_absolute() else base / r["video_path"]
        media = [{"kind": "video", "path": w.place(video, video.name)}]
        if r.get("audio_path") and r["audio_path"] != r["video_path"]:
            audio = Path(r["audio_path"]) if Path(r["audio_path"]).is_absolute() else base / r["audio_path"]
            media.append({"kind": "audio", "path": w.place(audio, audio.name)})
        steps = r.get("reasoning_steps")
        reasoning = "\n".join(f"{n + 1}. {s}" for n, s in enumerate(steps)) if isinstance(steps, list) else steps
        line = {"id": str(r.get("id", r.get("question_id", f"aurelia-{i}"))), "question": r["query"],
                "answer": answer, "media": media, "reasoning": reasoning,
                "metadata": {"source": "aurelia-generation"}}
        if r.get("options"):
            line["options"] = list(r["options"])
        w.add(line)
    return w.finish()


# ---- the public audio-visual benchmarks --------------------------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LETTER_PREFIX = re.compile(r"^\s*\(?([A-Z])\s*[.):：]\s*")


def strip_letter(option, position: int) -> str:
    """An option's text without the letter the source wrote before it ("A. x", "A.x", "(A) x"), when that
    letter is its position's; our strategies letter the options themselves."""
    text = str(option).strip()
    m = _LETTER_PREFIX.match(text)
    if m and m.group(1) == LETTERS[position]:
        return text[m.end():].strip()
    return text


def clock_seconds(value) -> float | None:
    """'MM:SS' or 'HH:MM:SS' (or '60s', or a number) as seconds; None when it is none of these."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value or "").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?s?", text):
        return float(text.rstrip("s"))
    parts = text.split(":")
    if len(parts) in (2, 3) and all(re.fullmatch(r"\d+(?:\.\d+)?", p) for p in parts):
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
        return seconds
    return None


def _letter(answer, options: list[str]) -> str | None:
    """The answer as an option letter: a letter already, or the text of one option."""
    text = str(answer or "").strip()
    m = re.fullmatch(r"\(?([A-Z])\)?\.?", text)
    if m and LETTERS.index(m.group(1)) < len(options):
        return m.group(1)
    matches = [i for i, o in enumerate(options) if o.strip() == text]
    return LETTERS[matches[0]] if len(matches) == 1 else None


def _media_folder(videos: Path | None, src: Path, *beside: str) -> Path:
    """--videos, else the first of the benchmark's published media folders found beside SRC."""
    if videos is not None:
        return Path(videos)
    for name in beside:
        for base in (Path(src).parent, Path(src).parent.parent):
            if (base / name).is_dir():
                return base / name
    return Path(src).parent / beside[0]


def import_worldsense(src: Path, out: Path, videos: Path | None = None, copy: bool = False, **_) -> ImportReport:
    data = _load_json(src)
    if not isinstance(data, dict):
        raise HarnessError(f"{src}: expected WorldSense's {{video_id: {{..., task0: {{...}}, ...}}}}")
    folder = _media_folder(videos, src, "videos")
    w = _Writer(out, copy)
    for key, video in data.items():
        if not isinstance(video, dict):
            w.skip(f"{Path(src).name}[{key}]", "not a WorldSense video entry")
            continue
        vid = str(video.get("video_id") or key)
        tasks = sorted((k for k in video if re.fullmatch(r"task\d+", k)), key=lambda k: int(k[4:]))
        if not tasks:
            w.skip(f"{Path(src).name}[{key}]", "no task0, task1, ... questions")
            continue
        path = w.place(_find_video(folder, vid), f"{vid}.mp4")
        for task_key in tasks:
            q = video[task_key]
            where = f"{Path(src).name}[{key}].{task_key}"
            candidates = q.get("candidates") if isinstance(q, dict) else None
            if not isinstance(candidates, list) or not q.get("question"):
                w.skip(where, "needs question and a candidates list")
                continue
            options = [strip_letter(c, i) for i, c in enumerate(candidates)]
            answer = _letter(q.get("answer"), options)
            if answer is None:
                w.skip(where, f"answer {q.get('answer')!r} is not an option letter")
                continue
            audio = video.get("audio_class")
            w.add({"id": f"worldsense-{vid}-{task_key}", "question": str(q["question"]), "options": options,
                   "answer": answer, "media": [{"kind": "video", "path": path}],
                   "category": str(q.get("task_type", "")),
                   "metadata": {"source": "worldsense", "video_id": vid, "task_type": q.get("task_type", ""),
                                "task_domain": q.get("task_domain", ""), "domain": video.get("domain", ""),
                                "sub_category": video.get("sub_category", ""),
                                "audio_class": _as_list(audio) if not isinstance(audio, list) else audio,
                                "duration": video.get("duration", ""),
                                "duration_s": clock_seconds(video.get("video_duration"))}})
    return w.finish()


def _choices(value) -> list[str]:
    """Daily-Omni's Choice: a list of options, or one string holding "A. ... B. ..." in turn."""
    if isinstance(value, list):
        return [strip_letter(c, i) for i, c in enumerate(value)]
    parts = re.split(r"(?:^|\s)(?=[A-D]\s*[.)]\s)", str(value or "").strip())
    return [strip_letter(p, i) for i, p in enumerate(p for p in parts if p.strip())]


def import_daily_omni(src: Path, out: Path, videos: Path | None = None, copy: bool = False, **_) -> ImportReport:
    data = _load_json(src)
    if not isinstance(data, list):
        raise HarnessError(f"{src}: expected Daily-Omni's qa.json, a list of questions")
    folder = _media_folder(videos, src, "Videos")
    w = _Writer(out, copy)
    for i, q in enumerate(data):
        where = f"{Path(src).name}[{i}]"
        if not isinstance(q, dict) or not q.get("Question") or not q.get("video_id"):
            w.skip(where, "not a Daily-Omni question (needs Question and video_id)")
            continue
        options = _choices(q.get("Choice"))
        answer = _letter(q.get("Answer"), options)
        if len(options) < 2 or answer is None:
            w.skip(where, f"needs a Choice list and an Answer letter (got {q.get('Answer')!r})")
            continue
        vid = str(q["video_id"])
        published = folder / vid / f"{vid}_video.mp4"
        source = published if published.exists() else _find_video(folder, f"{vid}_video", vid)
        w.add({"id": f"daily-omni-{i}-{vid}", "question": str(q["Question"]), "options": options, "answer": answer,
               "media": [{"kind": "video", "path": w.place(source, f"{vid}_video.mp4")}],
               "category": str(q.get("Type", "")),
               "metadata": {"source": "daily-omni", "video_id": vid, "type": q.get("Type", ""),
                            "video_category": q.get("video_category", ""),
                            "video_duration": q.get("video_duration", ""),
                            "duration_s": clock_seconds(q.get("video_duration"))}})
    return w.finish()


_MEDIA_TAG = re.compile(r"\[(audio|video|img)(\d+)\]")
_SIGNATURES = ((b"RIFF", ".wav"), (b"ID3", ".mp3"), (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"),
               (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"),
               (b"GIF8", ".gif"), (b"\x1a\x45\xdf\xa3", ".webm"))


def _suffix_of(data: bytes, default: str) -> str:
    if data[4:8] == b"ftyp":
        return ".mp4"
    return next((suffix for magic, suffix in _SIGNATURES if data.startswith(magic)), default)


def _media_bytes(value) -> bytes | None:
    """A parquet media cell: raw bytes, or a datasets-style {"bytes": ..., "path": ...}."""
    if isinstance(value, dict):
        value = value.get("bytes")
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) and len(value) else None


def import_av_odyssey(src: Path, out: Path, copy: bool = False, **_) -> ImportReport:
    src = Path(src)
    shards = sorted(src.glob("*.parquet")) if src.is_dir() else [src]
    if not shards:
        raise HarnessError(f"{src}: no av_odyssey_part*.parquet shards here")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise HarnessError("av-odyssey: reading its parquet shards needs pyarrow (pip install pyarrow)") from None
    rows = ((f"{shard.name}[{i}]", row) for shard in shards
            for i, row in enumerate(pq.read_table(shard).to_pylist()))
    return import_av_odyssey_rows(rows, out)


def import_av_odyssey_rows(rows, out: Path) -> ImportReport:
    """AV-Odyssey rows (where, row) as its parquet holds them: media bytes are written to DIR/media and
    placed in the order the question's [img1]/[audio1]/[video1] tags name them."""
    w = _Writer(out, copy=False)
    kinds = {"img": ("image", "image"), "audio": ("audio", "audio"), "video": ("video", "video")}
    for where, row in rows:
        if not isinstance(row, dict) or not row.get("question") or row.get("question_id") in (None, ""):
            w.skip(where, "not an AV-Odyssey row (needs question_id and question)")
            continue
        qid = str(row["question_id"])
        options = [strip_letter(o, i) for i, o in enumerate(row.get("options") or [])]
        answer = _letter(row.get("answer"), options)
        if len(options) != 4 or answer is None:
            w.skip(where, f"needs four options and an answer letter (got {row.get('answer')!r})")
            continue
        media, missing = [], []
        for tag in _MEDIA_TAG.finditer(row["question"]):
            kind, column = kinds[tag.group(1)]
            data = _media_bytes(row.get(f"{column}_{tag.group(2)}"))
            if data is None:
                missing.append(tag.group(0))
                continue
            default = {"image": ".png", "audio": ".wav", "video": ".mp4"}[kind]
            name = f"av-odyssey-{qid}-{column}{tag.group(2)}{_suffix_of(data, default)}"
            media.append({"kind": kind, "path": w.write_bytes(data, name), "role": f"{kind} {tag.group(2)}"})
        if missing:
            w.skip(where, f"no media bytes for {', '.join(missing)}")
            continue
        question = _MEDIA_TAG.sub(lambda m: f"({kinds[m.group(1)][0]} {m.group(2)})", str(row["question"]))
        w.add({"id": f"av-odyssey-{qid}", "question": question, "options": options, "answer": answer,
               "media": media, "category": str(row.get("subfield", "")),
               "metadata": {"source": "av-odyssey", "question_type_id": row.get("question_type_id"),
                            "task_name": row.get("task_name", ""), "subfield": row.get("subfield", ""),
                            "data_type": row.get("data_type", "")}})
    return w.finish()


def import_omnibench(src: Path, out: Path, videos: Path | None = None, copy: bool = False, **_) -> ImportReport:
    data = _load_json(src)
    rows = data if isinstance(data, list) else [data]
    folder = _media_folder(videos, src, "mm_data")
    w = _Writer(out, copy)
    for i, row in enumerate(rows):
        where = f"{Path(src).name}[{i}]"
        if not isinstance(row, dict) or not row.get("question") or not row.get("image_path") \
                or not row.get("audio_path"):
            w.skip(where, "not an OmniBench row (needs question, image_path and audio_path)")
            continue
        options = [strip_letter(o, n) for n, o in enumerate(row.get("options") or [])]
        answer = _letter(row.get("answer"), options)
        if answer is None:
            w.skip(where, f"answer {row.get('answer')!r} is not one of the options")
            continue
        image = folder / "image" / str(row["image_path"])
        audio = folder / "audio" / str(row["audio_path"])
        w.add({"id": f"omnibench-{row.get('index', i)}", "question": str(row["question"]), "options": options,
               "answer": answer, "media": [{"kind": "image", "path": w.place(image, image.name)},
                                           {"kind": "audio", "path": w.place(audio, audio.name)}],
               "category": str(row.get("task type", "")),
               "metadata": {"source": "omnibench", "task_type": row.get("task type", ""),
                            "audio_type": str(row.get("audio type", "")).strip().lower(),
                            "image_content": row.get("image content", ""),
                            "audio_content": row.get("audio content", "")}})
    return w.finish()


def import_avhbench(src: Path, out: Path, videos: Path | None = None, copy: bool = False, **_) -> ImportReport:
    src = Path(src)
    files = sorted((src / "json").glob("*.json")) if src.is_dir() else [src]
    base = src if src.is_dir() else src.parent.parent
    folder = Path(videos) if videos else base / "video"
    judgements, captions = _Writer(out, copy), _Writer(out, copy)
    for path in files:
        entries = _load_json(path)
        for i, e in enumerate(entries if isinstance(entries, list) else [entries]):
            where = f"{path.name}[{i}]"
            if not isinstance(e, dict) or not e.get("text") or not e.get("task") or e.get("label") in (None, ""):
                judgements.skip(where, "not an AVHBench entry (needs video_id, task, text and label)")
                continue
            vid = str(e.get("video_id") or path.stem)
            # which questions go with the audio-swapped clips is not published: a file or id marked _swap does
            stem = vid if vid.endswith("_swap") or not path.stem.endswith("_swap") else f"{vid}_swap"
            task = str(e["task"])
            writer = captions if task == "AV Captioning" else judgements
            line = {"id": f"avhbench-{stem}-{i}", "question": str(e["text"]),
                    "media": [{"kind": "video", "path": writer.place(_find_video(folder, stem), f"{stem}.mp4")}],
                    "category": task, "metadata": {"source": "avhbench", "video_id": vid, "task": task}}
            if writer is captions:
                line["answer"] = {"references": [str(e["label"])]}
            elif str(e["label"]).strip().lower() in ("yes", "no"):
                line["answer"] = str(e["label"]).strip().lower()
            else:
                judgements.skip(where, f"label {e['label']!r} is neither Yes nor No")
                continue
            writer.add(line)
    caption_report = captions.finish("captions.jsonl")
    report = judgements.finish()
    report.also.append(caption_report.manifest)
    report.written += caption_report.written
    report.missing_media += [m for m in caption_report.missing_media if m not in report.missing_media]
    return report


def _reasoning_steps(steps) -> str | None:
    if not isinstance(steps, list):
        return steps or None
    lines = []
    for n, step in enumerate(steps, 1):
        if isinstance(step, dict):
            lines.append(f"{n}. [{step.get('modality', '')}] {step.get('evidence', '')} -> {step.get('inference', '')}")
        else:
            lines.append(f"{n}. {step}")
    return "\n".join(lines)


def import_omnivideobench(src: Path, out: Path, videos: Path | None = None, copy: bool = False,
                          **_) -> ImportReport:
    data = _load_json(src)
    if not isinstance(data, list):
        raise HarnessError(f"{src}: expected OmniVideoBench's list of {{video, duration, questions: [...]}}")
    folder = _media_folder(videos, src, "videos")
    w = _Writer(out, copy)
    for i, video in enumerate(data):
        if not isinstance(video, dict) or not video.get("video") or not isinstance(video.get("questions"), list):
            w.skip(f"{Path(src).name}[{i}]", "not an OmniVideoBench video (needs video and questions)")
            continue
        name = str(video["video"])
        path = w.place(_find_video(folder, name), f"{name}.mp4")
        for n, q in enumerate(video["questions"]):
            where = f"{Path(src).name}[{i}].questions[{n}]"
            options = [strip_letter(o, k) for k, o in enumerate((q or {}).get("options") or [])]
            answer = _letter(q.get("correct_option"), options) if isinstance(q, dict) else None
            if not isinstance(q, dict) or not q.get("question") or answer is None:
                w.skip(where, "needs question, options and a correct_option letter")
                continue
            w.add({"id": f"omnivideobench-{name}-{n}", "question": str(q["question"]), "options": options,
                   "answer": answer, "media": [{"kind": "video", "path": path}],
                   "reasoning": _reasoning_steps(q.get("reasoning_steps")),
                   "category": str(q.get("question_type", "")),
                   "metadata": {"source": "omnivideobench", "video": name, "video_type": video.get("video_type", ""),
                                "question_type": q.get("question_type", ""), "audio_type": q.get("audio_type", ""),
                                "duration_s": clock_seconds(video.get("duration"))}})
    return w.finish()


def import_jointavbench(src: Path, out: Path, videos: Path | None = None, copy: bool = False,
                        **_) -> ImportReport:
    data = _load_json(src)
    if not isinstance(data, list):
        raise HarnessError(f"{src}: expected jointavbench.json, a list of questions")
    folder = _media_folder(videos, src, "videos")
    w = _Writer(out, copy)
    for i, q in enumerate(data):
        where = f"{Path(src).name}[{i}]"
        if not isinstance(q, dict) or not q.get("qid") or not q.get("question"):
            w.skip(where, "not a JointAVBench question (needs qid and question)")
            continue
        qid = str(q["qid"])
        options = [str(o) for o in q.get("options") or []]
        if q.get("correct_answer") not in options:
            w.skip(where, "correct_answer is not one of the options")
            continue
        span = q.get("segment_timestamp") or []
        start, end = (float(span[0]), float(span[1])) if len(span) == 2 else (None, None)
        clip = _find_video(folder, qid)
        if clip is not None:
            path = w.place(clip, clip.name)
        else:
            full = _find_video(folder, str(q.get("video_name", "")))
            if full is None or start is None:
                path = w.place(None, f"{qid}.mp4")
            else:
                path = w.cut(full, start, end, f"{qid}.mp4")
                if path is None:
                    w.skip(where, f"ffmpeg could not cut {full.name} at {start}-{end} s")
                    continue
        task_id = re.search(r"_(task\d+)_", qid)
        w.add({"id": f"jointavbench-{qid}", "question": str(q["question"]), "options": options,
               "answer": LETTERS[options.index(q["correct_answer"])], "media": [{"kind": "video", "path": path}],
               "reasoning": q.get("explanation"), "category": str(q.get("task", "")),
               "metadata": {"source": "jointavbench", "qid": qid, "task": q.get("task", ""),
                            "task_id": task_id.group(1) if task_id else "", "video_name": q.get("video_name", ""),
                            "video_url": q.get("video_url", ""),
                            "duration_s": end - start if start is not None else None}})
    return w.finish()


FORMATS = {"music-avqa": import_music_avqa, "avsd": import_avsd, "valor": import_valor, "aurelia": import_aurelia,
           "worldsense": import_worldsense, "daily-omni": import_daily_omni, "av-odyssey": import_av_odyssey,
           "omnibench": import_omnibench, "avhbench": import_avhbench, "omnivideobench": import_omnivideobench,
           "jointavbench": import_jointavbench}
