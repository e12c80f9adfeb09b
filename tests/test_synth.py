import json

import numpy as np
import pytest

from avharness_plugins.tasks import avsynth as synth
from aurelia_harness.media import decode, probe


@pytest.fixture(scope="module")
def avsynth(tmp_path_factory):
    root = tmp_path_factory.mktemp("avsynth")
    return root, synth.generate(root, per_task=3, seed=7)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_category_has_a_manifest_with_parameters(avsynth):
    _, manifests = avsynth
    assert set(manifests) == set(synth.CATEGORIES)
    for category, manifest in manifests.items():
        lines = _lines(manifest)
        assert len(lines) == 3
        for line in lines:
            assert line["params"]["seed"] == 7 and line["params"]["generator"].startswith("avsynth-v")
            for item in line["media"]:
                assert (manifest.parent / item["path"]).stat().st_size > 0
            if line.get("options"):
                assert line["answer"] in "ABCD"[:len(line["options"])]


def test_same_seed_same_dataset_other_seed_other_dataset(avsynth, tmp_path):
    _, manifests = avsynth
    again = synth.generate(tmp_path / "a", per_task=3, seed=7, categories=["count", "geo"])
    other = synth.generate(tmp_path / "b", per_task=3, seed=8, categories=["count", "geo"])
    for category in ("count", "geo"):
        assert again[category].read_text() == manifests[category].read_text()
    assert other["count"].read_text() != manifests["count"].read_text()


def test_generation_is_resumable_and_idempotent(tmp_path):
    first = synth.generate(tmp_path, per_task=1, seed=0, categories=["caption"])
    stamp = first["caption"].stat().st_mtime_ns
    synth.generate(tmp_path, per_task=1, seed=0, categories=["caption"])
    assert first["caption"].stat().st_mtime_ns == stamp


def test_count_answer_follows_from_the_media(avsynth):
    _, manifests = avsynth
    for line in _lines(manifests["count"]):
        clip = manifests["count"].parent / line["media"][0]["path"]
        p = line["params"]
        # the screen colour at the middle of each span is that span's colour
        frames, stamps, _ = decode.decode_frames(clip, fps=10)
        for colour, t0, t1 in p["spans"]:
            i = int(np.argmin(np.abs(stamps - (t0 + t1) / 2)))
            rgb = frames[i, 60, 80].astype(int)
            assert int(np.argmax(rgb)) == {"red": 0, "green": 1, "blue": 2}[colour]
        # a beep sounds exactly at each listed time, and the answer counts those inside the target colour
        audio = decode.decode_audio(clip, 16000)
        for b in p["beeps"]:
            assert np.abs(audio[int((b + 0.05) * 16000):int((b + 0.1) * 16000)]).mean() > 0.1
        inside = [b for b in p["beeps"] for c, t0, t1 in p["spans"] if c == p["target"] and t0 <= b < t1]
        assert line["answer"] == str(len(inside))


def test_geo_tone_sounds_during_the_answer_flag(avsynth):
    _, manifests = avsynth
    for line in _lines(manifests["geo"]):
        clip = manifests["geo"].parent / line["media"][0]["path"]
        t0, t1 = line["params"]["tone"]
        audio = decode.decode_audio(clip, 16000)
        assert np.abs(audio[int(t0 * 16000) + 800:int(t1 * 16000) - 800]).mean() > 0.1
        quiet = np.concatenate([audio[: int(max(t0 - 0.1, 0) * 16000)], audio[int((t1 + 0.1) * 16000):]])
        assert np.abs(quiet).max() < 0.01  # silent outside the tone
        answer = line["options"]["ABCD".index(line["answer"])]
        shown = {c: (a, z) for c, a, z in line["params"]["flags"]}
        assert shown[answer][0] <= t0 and t1 <= shown[answer][1]


def test_dance_sample_has_one_silent_video_and_four_audio_clips(avsynth):
    _, manifests = avsynth
    line = _lines(manifests["dance"])[0]
    kinds = [m["kind"] for m in line["media"]]
    assert kinds == ["video", "audio", "audio", "audio", "audio"]
    assert not probe(manifests["dance"].parent / line["media"][0]["path"]).has_audio
    tempos = line["params"]["tempos_bpm"]
    match = line["params"]["match"]
    assert line["answer"] == "ABCD"[match - 1] and len(set(tempos)) == 4


def test_compositional_answer_follows_from_the_media(avsynth):
    _, manifests = avsynth
    for line in _lines(manifests["compositional"]):
        clip = manifests["compositional"].parent / line["media"][0]["path"]
        events = line["params"]["events"]
        frames, stamps, _ = decode.decode_frames(clip, fps=10)
        blue = events["the screen turning blue"]
        for t, rgb in zip(stamps, frames[:, 60, 80].astype(int)):
            if abs(t - blue) > 0.06:
                assert (int(np.argmax(rgb)) == 2 and rgb[2] > 150) == (t > blue), (t, blue, rgb)
        # each tone sounds at its onset with its own pitch: the strongest frequency of its 0.3 s
        audio = decode.decode_audio(clip, 16000)
        for pitch, hz in synth.TONES.items():
            onset = events[f"the {pitch} tone"]
            window = audio[int((onset + 0.05) * 16000):int((onset + 0.35) * 16000)]
            peak = np.argmax(np.abs(np.fft.rfft(window))) * 16000 / len(window)
            assert abs(peak - hz) < 10, (pitch, peak)
        answer = line["options"]["ABC".index(line["answer"])]
        tones = sorted((t, e) for e, t in events.items() if e != "the screen turning blue")
        if line["params"]["ask"] == "after":
            assert answer == next(e for t, e in tones if t >= blue)
        else:
            assert answer == [e for t, e in tones if t < blue][-1]


def test_compositional_needs_both_modalities():
    """v3's design claim: neither the soundtrack (the tones' order and times) nor the frames (when the screen
    turns blue) tells the answer. Over many generated questions, the answer's rank among the tones given what
    the soundtrack shows, and its pitch given which gap the blue falls in, are both spread evenly (chance 1/3)."""
    import collections
    import random
    from pathlib import Path

    rng = random.Random("compositional-ceiling")
    by_rank, by_gap = collections.defaultdict(collections.Counter), collections.defaultdict(collections.Counter)
    for i in range(6000):
        line, _ = synth._compositional(rng, i, Path("media"))
        events, ask = line["params"]["events"], line["params"]["ask"]
        answer = line["options"]["ABC".index(line["answer"])]
        tones = [e for e, _ in sorted(((e, t) for e, t in events.items() if e != "the screen turning blue"),
                                      key=lambda kv: kv[1])]
        gap = sum(events[e] < events["the screen turning blue"] for e in tones)
        by_rank[ask][tones.index(answer)] += 1  # audio alone: which of the heard tones it is
        by_gap[(ask, gap)][answer] += 1  # video alone: which pitch, knowing where the blue falls
    for counts in [*by_rank.values(), *by_gap.values()]:
        total = sum(counts.values())
        assert len(counts) == 3 and max(counts.values()) / total < 0.37, counts
