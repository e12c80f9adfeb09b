"""Durable JSON Lines: the one place that appends a line and fsyncs it, and the one place that reads lines back
ignoring a torn tail. The journal (samples*.jsonl), `avharness distill` files and strategies' stores
(`KeyedStore`, e.g. AURELIA's reasoning.jsonl) all write through here.

A line counts once it has been flushed and fsynced. A kill mid-write leaves a last line without its newline:
reading ignores it, and the first append after a restart cuts it off, so that piece of work is redone once.
A damaged complete line (not JSON) is skipped: it is redone, never trusted.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Awaitable, Callable, Iterator


def read_lines(path: Path) -> Iterator[dict]:
    """Every complete, well-formed JSON object line of `path` (none when the file does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n")[:-1]:  # the piece after the last newline is torn (or empty)
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def cut_torn_tail(path: Path) -> None:
    """Remove a last line that has no newline (a write that a kill interrupted)."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class AppendFile:
    """An append-only JSON Lines file; `append` returns once the line is on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def append(self, value: dict) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_torn_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class KeyedStore:
    """Durable per-sample work of a strategy, keyed by what the work depends on: key -> record (a dict).

    Records come from the store's own file (written here, e.g. OUTPUT/reasoning.jsonl) and from read-only
    sources (e.g. an `avharness distill` file given with --reasoning); the first record of a key wins.
    `once(key, compute)` runs `compute` at most once per key however many samples ask concurrently (one event
    loop per run), writes its record before returning it, and says where the record came from.
    """

    def __init__(self, path: Path | None = None, sources: list[Path] | tuple = ()):
        self.path = Path(path) if path is not None else None
        self._records: dict[str, tuple[dict, str]] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        self._file = AppendFile(self.path) if self.path is not None else None
        for source in sources:
            self._read(Path(source), "file")
        if self.path is not None:
            self._read(self.path, "cache")

    def _read(self, path: Path, origin: str) -> None:
        for record in read_lines(path):
            if "key" in record:
                self._records.setdefault(str(record["key"]), (record, origin))

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict | None:
        found = self._records.get(key)
        return found[0] if found else None

    def origin(self, key: str) -> str | None:
        """"cache" (this store's file, or computed earlier in this run), "file" (a read-only source), or None."""
        found = self._records.get(key)
        return found[1] if found else None

    def put(self, key: str, record: dict) -> None:
        record = {**record, "key": key}
        self._records[key] = (record, "cache")
        if self._file is not None:
            self._file.append(record)

    async def once(self, key: str, compute: Callable[[], Awaitable[dict]]) -> tuple[dict, str]:
        """(record, source): source is "computed" when this call ran `compute`, else "cache" (kept earlier,
        or computed by another sample of this run at the same time) or "file" (a read-only source)."""
        if key in self._records:
            record, origin = self._records[key]
            return record, origin
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), "cache"
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            record = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiting samples see it, the loop does not warn
            raise
        finally:
            self._inflight.pop(key, None)
        self.put(key, record)
        future.set_result(self._records[key][0])
        return self._records[key][0], "computed"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

