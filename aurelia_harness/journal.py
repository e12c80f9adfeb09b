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
from .jsonl import AppendFile, read_lines
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
        self._file = AppendFile(self.path)

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

    def check_settings(self, planned: list[tuple], records: list[Record] | None = None):
        """planned: (model, model_hash, task, strategy, strategy_hash, modality, plugins). Refuse when the
        folder already holds records for the same model x task x strategy made with other settings or by
        another version of a plugin, saying which."""
        records = self.read() if records is None else records
        existing: dict[tuple, dict] = {}
        for r in records:
            ident = (r.model_hash, r.strategy_hash, _frozen(r.plugins))
            existing.setdefault((r.model, r.task, r.strategy, r.modality), {})[ident] = r
        conflicts = []
        for model, mhash, task, strategy, shash, modality, plugins in planned:
            for old in existing.get((model, task, strategy, modality), {}).values():
                what = []
                if old.model_hash != mhash:
                    what.append(f"model card (hash {old.model_hash} before, {mhash} now)")
                if old.strategy_hash != shash:
                    what.append(f"strategy settings (hash {old.strategy_hash} before, {shash} now)")
                for part, now in sorted(_changed_plugins(old.plugins, plugins).items()):
                    what.append(f"{part} plugin ({now[0]} before, {now[1]} now)")
                if what:
                    conflicts.append(f"{model} x {task} x {strategy}: different {' and '.join(what)}")
        if conflicts:
            listing = "\n  ".join(sorted(set(conflicts)))
            raise OutputConflict(
                f"{self.folder} already holds results made with other settings:\n  {listing}\n"
                "Mixing them would make the scores meaningless. Use a new --output folder, or --overwrite to "
                "discard those earlier records.")

    def discard(self, planned: list[tuple]) -> int:
        """Drop records of the planned model x task x strategy made with other hashes or plugin versions."""
        wanted = {(m, t, s, mo): (mh, sh, pl) for m, mh, t, s, sh, mo, pl in planned}
        dropped = 0
        for path in self.files():
            kept = []
            for rec in _read_file(path):
                combo = (rec.model, rec.task, rec.strategy, rec.modality)
                if combo in wanted:
                    mh, sh, pl = wanted[combo]
                    if (rec.model_hash, rec.strategy_hash) != (mh, sh) or _changed_plugins(rec.plugins, pl):
                        dropped += 1
                        continue
                kept.append(rec)
            tmp = path.with_suffix(".rewrite")
            tmp.write_text("".join(json.dumps(r.to_json(), default=str) + "\n" for r in kept))
            os.replace(tmp, path)
        return dropped

    def append(self, record: Record) -> None:
        self._file.append(record.to_json())

    def close(self) -> None:
        self._file.close()


def _read_file(path: Path):
    for line in read_lines(path):
        try:
            yield Record.from_json(line)
        except TypeError:
            continue  # a line that is JSON but not a record: redone, never trusted


def _frozen(plugins: dict) -> tuple:
    return tuple(sorted((plugins or {}).items()))


def _changed_plugins(before: dict, now: dict) -> dict:
    """part -> (before, now) where both name a plugin and they differ (older records name none: no conflict)."""
    before, now = before or {}, now or {}
    return {part: (before[part], now[part]) for part in before.keys() & now.keys() if before[part] != now[part]}
