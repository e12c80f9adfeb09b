"""samples.jsonl: one Record a line, appended, flushed and fsynced before it counts as done.

A run in one process writes samples.jsonl; process R of N under a launcher writes samples.rankR-of-N.jsonl.
Reading takes every samples*.jsonl in the folder, so a resume may use another process count. A torn last
line (a kill mid-write) is ignored when read and cut off before the next append, so it is redone once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import OutputConflict
from .types import Record


def record_key(model_hash: str, task: str, strategy_hash: str, sample_id: str, modality: str = "av") -> str:
    key = f"{model_hash}|{task}|{strategy_hash}|{sample_id}"
    return key if modality == "av" else f"{key}|{modality}"


class Journal:
    def __init__(self, folder: Path, rank: int = 0, world: int = 1):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = "samples.jsonl" if world == 1 else f"samples.rank{rank}-of-{world}.jsonl"
        self.path = self.folder / name
        self._fh = None

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("samples*.jsonl"))

    def read(self) -> list[Record]:
        """Every complete record of every journal file; the first copy of a key wins."""
        records, seen = [], set()
        for path in self.files():
            for rec in _read_file(path):
                if rec.key not in seen:
                    seen.add(rec.key)
                    records.append(rec)
        return records

    def done_keys(self) -> set[str]:
        return {r.key for r in self.read()}

    def check_settings(self, planned: list[tuple[str, str, str, str, str]], records: list[Record] | None = None):
        """planned: (model, model_hash, task, strategy, strategy_hash). Refuse when the folder already holds
        records for the same model x task x strategy made with other settings."""
        records = self.read() if records is None else records
        existing: dict[tuple, set] = {}
        for r in records:
            existing.setdefault((r.model, r.task, r.strategy, r.modality), set()).add((r.model_hash, r.strategy_hash))
        conflicts = []
        for model, mhash, task, strategy, shash, *rest in planned:
            modality = rest[0] if rest else "av"
            for old_m, old_s in existing.get((model, task, strategy, modality), ()):
                what = []
                if old_m != mhash:
                    what.append(f"model card (hash {old_m} before, {mhash} now)")
                if old_s != shash:
                    what.append(f"strategy settings (hash {old_s} before, {shash} now)")
                if what:
                    conflicts.append(f"{model} x {task} x {strategy}: different {' and '.join(what)}")
        if conflicts:
            listing = "\n  ".join(sorted(set(conflicts)))
            raise OutputConflict(
                f"{self.folder} already holds results made with other settings:\n  {listing}\n"
                "Mixing them would make the scores meaningless. Use a new --output folder, or --overwrite to "
                "discard those earlier records.")

    def discard(self, combos: set[tuple[str, str, str]], keep_hashes: dict[tuple, tuple]) -> int:
        """Drop records of the given model x task x strategy whose hashes differ from keep_hashes."""
        dropped = 0
        for path in self.files():
            kept = []
            for rec in _read_file(path):
                combo = (rec.model, rec.task, rec.strategy, rec.modality)
                if combo in combos and (rec.model_hash, rec.strategy_hash) != keep_hashes[combo]:
                    dropped += 1
                    continue
                kept.append(rec)
            tmp = path.with_suffix(".rewrite")
            tmp.write_text("".join(json.dumps(r.to_json(), default=str) + "\n" for r in kept))
            os.replace(tmp, path)
        return dropped

    def append(self, record: Record) -> None:
        if self._fh is None:
            _cut_torn_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(record.to_json(), ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _read_file(path: Path):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")
    complete = lines[:-1]  # the piece after the last newline is torn (or empty)
    for line in complete:
        if not line.strip():
            continue
        try:
            yield Record.from_json(json.loads(line))
        except (ValueError, TypeError):
            continue  # a damaged line is redone, never trusted


def _cut_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(keep)
