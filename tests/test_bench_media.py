"""benchmarks/bench_media.py runs without its optional comparators (CI installs neither torchcodec nor
lmms-eval): it names them as unavailable and measures the rest."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def bench_media():
    spec = importlib.util.spec_from_file_location("bench_media", ROOT / "benchmarks" / "bench_media.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_media_benchmark_names_missing_comparators_and_measures_the_rest(clips, capsys):
    bench = bench_media()
    chosen, unavailable = bench.loaders({"torchcodec", "lmms-eval"})
    assert set(unavailable) == {"torchcodec", "lmms-eval"} and "lmms-eval" not in chosen
    assert chosen["approx"] is bench.pyav_approximate  # approximate seeks with PyAV stand in for torchcodec
    result = bench.measure(clips["av"], 6, chosen, repeat=1)
    assert result["errors"] == {} and all(result["seconds"][name] > 0 for name in chosen)
    assert all(given == 6 for given in result["frames_given"].values())
    frames, audio = bench.pyav_approximate(clips["av"], 6)
    exact, _, _ = bench.decode.decode_frames(clips["av"], n_frames=6)
    assert frames.shape == exact.shape and np.abs(frames.astype(int) - exact).mean() < 2  # the same pictures
    assert bench.exact(clips["av"], 6) == (True, "straight")  # 6 of 40 frames, a keyframe every 10
    row = {"clip": "av.mp4", "n": 6, "reading": "seek", "exact_n_and_timestamps": True, **result,
           "ours_over_simplest": 1.0, "lmms_eval_over_ours": None}
    bench.summary([row], list(chosen), "pyav", unavailable, {"clip": "av.mp4", "frames_shape": [6, 48, 64, 3],
                                                            "hit_ms_median": 1.0})
    out = capsys.readouterr().out
    assert "not measured (lmms-eval unavailable)" in out and "| av.mp4 | 6 |" in out
