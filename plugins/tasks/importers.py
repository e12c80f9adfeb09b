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

Media are linked (or with copy=True copied) into DIR/media so the manifest's paths stay inside DIR.
Entries that cannot be imported are reported with their position; the rest are written.
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

    def add(self, line: dict) -> None:
        self.lines.append(line)

    def skip(self, where: str, why: str) -> None:
        self.report.skipped.append(f"{where}: {why}")

    def finish(self) -> ImportReport:
        manifest = self.out / "manifest.jsonl"
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
               "category": "Musical Performances", "metadata": {"source": "music-avqa", "video_id": vid,
                                                               "question_type": " / ".join(map(str, kind))}})
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


FORMATS = {"music-avqa": import_music_avqa, "avsd": import_avsd, "valor": import_valor, "aurelia": import_aurelia}
