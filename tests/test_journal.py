"""journal.py and jsonl.py: records count once on disk; torn and damaged lines; resume keys; the settings and
plugin check; the keyed store strategies keep their per-sample work in."""

import asyncio
import json

import pytest

from aurelia_harness.errors import OutputConflict
from aurelia_harness.journal import Journal, record_key
from aurelia_harness.jsonl import AppendFile, KeyedStore, read_lines
from aurelia_harness.types import Record


def rec(sample="s1", model_hash="m1", strategy_hash="s1", plugins=None, **kw):
    key = record_key(model_hash, "t", strategy_hash, sample)
    return Record(model="m", task="t", strategy="baseline", sample_id=sample, key=key, model_hash=model_hash,
                  strategy_hash=strategy_hash, plugins=plugins or {}, **kw)


def test_append_reads_back_and_a_torn_tail_is_cut_before_the_next_append(tmp_path):
    journal = Journal(tmp_path)
    journal.append(rec("a"))
    journal.close()
    with open(journal.path, "ab") as fh:
        fh.write(b'{"model": "m", "task"')  # a kill mid-write
    assert [r.sample_id for r in Journal(tmp_path).read()] == ["a"]
    again = Journal(tmp_path)
    again.append(rec("b"))
    again.close()
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["sample_id"] for line in lines] == ["a", "b"]


def test_damaged_and_foreign_lines_are_skipped_never_trusted(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(rec("a").to_json()) + "\nnot json\n" + json.dumps({"something": "else"}) + "\n[1, 2]\n")
    assert [r.sample_id for r in Journal(tmp_path).read()] == ["a"]
    assert list(read_lines(path)) == [rec("a").to_json(), {"something": "else"}]


def test_every_rank_file_is_read_and_the_first_copy_of_a_key_wins(tmp_path):
    Journal(tmp_path).append(rec("a", score=1.0))  # files are read in name order: samples.jsonl first
    Journal(tmp_path, 0, 2).append(rec("a", score=0.0))
    Journal(tmp_path, 1, 2).append(rec("b"))
    records = Journal(tmp_path).read()
    assert sorted(r.sample_id for r in records) == ["a", "b"]
    assert next(r for r in records if r.sample_id == "a").score == 1.0
    assert record_key("h", "t", "s", "x", "video") == "h|t|s|x|video" and record_key("h", "t", "s", "x") == "h|t|s|x"


def test_the_resume_check_names_the_plugin_that_changed(tmp_path):
    journal = Journal(tmp_path)
    journal.append(rec("a", plugins={"adapter": "avharness-signal 0.1.0"}))
    planned = [("m", "m1", "t", "baseline", "s1", "av", {"adapter": "avharness-signal 0.2.0"})]
    with pytest.raises(OutputConflict, match=r"adapter plugin \(avharness-signal 0.1.0 before, avharness-signal "
                                             r"0.2.0 now\)"):
        journal.check_settings(planned)
    journal.check_settings([("m", "m1", "t", "baseline", "s1", "av", {"adapter": "avharness-signal 0.1.0"})])
    journal.check_settings([("m", "m1", "t", "baseline", "s1", "av", {})])  # older records name no plugin: fine
    with pytest.raises(OutputConflict, match="model card"):
        journal.check_settings([("m", "m2", "t", "baseline", "s1", "av", {})])
    assert journal.discard(planned) == 1 and Journal(tmp_path).read() == []


def test_append_file_creates_its_folder_and_fsyncs_each_line(tmp_path, monkeypatch):
    import os

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    out = AppendFile(tmp_path / "deep" / "x.jsonl")
    out.append({"a": 1})
    out.append({"a": 2})
    out.close()
    assert len(synced) == 2 and list(read_lines(tmp_path / "deep" / "x.jsonl")) == [{"a": 1}, {"a": 2}]


def test_keyed_store_computes_once_however_many_ask_and_survives_a_restart(tmp_path):
    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.01)
        return {"value": 42}

    async def main(store):
        return await asyncio.gather(*(store.once("k", compute) for _ in range(5)))

    store = KeyedStore(tmp_path / "work.jsonl")
    results = asyncio.run(main(store))
    store.close()
    assert len(calls) == 1 and sorted(source for _, source in results) == ["cache"] * 4 + ["computed"]
    assert all(record == {"value": 42, "key": "k"} for record, _ in results)
    reopened = KeyedStore(tmp_path / "work.jsonl", sources=[])
    assert "k" in reopened and reopened.origin("k") == "cache" and len(reopened) == 1
    record, source = asyncio.run(reopened.once("k", compute))
    assert source == "cache" and len(calls) == 1


def test_keyed_store_reads_a_source_file_and_its_own_file_wins_for_nothing(tmp_path):
    source = tmp_path / "distilled.jsonl"
    source.write_text(json.dumps({"key": "k", "value": "from the file"}) + "\n")
    store = KeyedStore(tmp_path / "out" / "work.jsonl", sources=[source])
    record, origin = asyncio.run(store.once("k", lambda: None))
    assert origin == "file" and record["value"] == "from the file"
    assert not (tmp_path / "out" / "work.jsonl").exists()  # nothing computed, nothing written


def test_a_failed_computation_reaches_every_waiting_sample_and_is_not_stored(tmp_path):
    async def boom():
        await asyncio.sleep(0.01)
        raise RuntimeError("agent exploded")

    async def main(store):
        return await asyncio.gather(store.once("k", boom), store.once("k", boom), return_exceptions=True)

    store = KeyedStore(tmp_path / "work.jsonl")
    outcomes = asyncio.run(main(store))
    assert all(isinstance(o, RuntimeError) for o in outcomes) and "k" not in store
