"""Data parallel under `accelerate launch` with 2 CPU processes: deterministic shards, one merged result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKES = str(ROOT / "tests" / "fakes.py")
ARGS = ["--plugin", FAKES, "--models", "scripted-a,scripted-b", "--tasks", "avsynth-geo,avsynth-sync",
        "--strategy", "baseline", "--no-progress"]


def _accelerate(out: Path, *extra: str):
    exe = Path(sys.executable).with_name("accelerate")
    if not exe.exists():
        pytest.fail("accelerate is a declared dependency but its launcher is missing")
    cmd = [str(exe), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
           "-m", "aurelia_harness", *ARGS, "--output", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=300)


def _single(out: Path, *extra: str):
    return subprocess.run([sys.executable, "-m", "aurelia_harness", *ARGS, "--output", str(out), *extra],
                          capture_output=True, text=True, timeout=300)


def _rows(out: Path):
    rows = json.loads((out / "results.json").read_text())["results"]
    return [{k: v for k, v in r.items() if k not in ("mean_seconds", "time_per_sample")} for r in rows]


def _records(out: Path):
    return [json.loads(l) for f in sorted(out.glob("samples*.jsonl")) for l in f.read_text().splitlines()]


def test_two_processes_shard_and_merge_into_the_single_process_result(tmp_path):
    single = _single(tmp_path / "single")
    assert single.returncode == 0, single.stderr
    par = _accelerate(tmp_path / "par")
    assert par.returncode == 0, par.stderr[-3000:]
    shards = sorted(p.name for p in (tmp_path / "par").glob("samples*.jsonl"))
    assert shards == ["samples.rank0-of-2.jsonl", "samples.rank1-of-2.jsonl"]
    recs = _records(tmp_path / "par")
    assert len(recs) == 16 and len({r["key"] for r in recs}) == 16  # 2 models x 2 tasks x 4 samples, once each
    sizes = [len((tmp_path / "par" / s).read_text().splitlines()) for s in shards]
    assert sizes == [8, 8]
    assert _rows(tmp_path / "par") == _rows(tmp_path / "single")


def test_resume_with_another_process_count(tmp_path):
    out = tmp_path / "run"
    first = _single(out, "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert len(_records(out)) == 8
    par = _accelerate(out)
    assert par.returncode == 0, par.stderr[-3000:]
    recs = _records(out)
    assert len(recs) == 16 and len({r["key"] for r in recs}) == 16
    _single(tmp_path / "single")
    assert _rows(out) == _rows(tmp_path / "single")
