import threading
import time

import numpy as np
import pytest

from aurelia_harness.media import (DecodeFailed, DecodeTimeout, MediaEmpty, MediaMissing, MediaStore, NoAudioStream,
                                   NotMedia, NoVideoStream, VideoSpec, decode, probe)
from conftest import shared_media


def test_uniform_frames_span_first_to_last_with_true_timestamps(clips):
    frames, stamps, info = decode.decode_frames(clips["av"], n_frames=5)
    assert frames.shape == (5, 48, 64, 3) and frames.dtype == np.uint8
    # 40 frames at 10 fps: first at 0.0 s, last at 3.9 s, evenly spaced between
    assert stamps[0] == pytest.approx(0.0) and stamps[-1] == pytest.approx(3.9)
    ideal = np.linspace(0.0, 3.9, 5)
    assert np.all(np.abs(stamps - ideal) <= 0.05 + 1e-9)  # each the nearest real frame to its target
    # colours follow the timeline: red before 2 s, blue after
    centre = frames[:, 24, 32]
    for t, px in zip(stamps, centre):
        if t < 1.9:
            assert px[0] > 200 and px[2] < 60
        elif t > 2.1:
            assert px[2] > 200 and px[0] < 60


def test_exactly_n_frames_even_when_n_exceeds_the_frame_count(clips):
    frames, stamps, _ = decode.decode_frames(clips["silent"], n_frames=64)  # 30 frames in the clip
    assert len(frames) == 64 and len(stamps) == 64
    assert np.all(np.diff(stamps) >= 0)


def test_fps_sampling_with_cap(clips):
    _, stamps, _ = decode.decode_frames(clips["av"], fps=2.0)
    assert len(stamps) == 8  # 3.9 s span at 2 fps -> floor(7.8)+1
    _, capped, _ = decode.decode_frames(clips["av"], fps=10.0, max_frames=6)
    assert len(capped) == 6 and capped[0] == pytest.approx(0.0) and capped[-1] == pytest.approx(3.9)


def test_resize_on_uint8_keeps_aspect(clips):
    frames, _, info = decode.decode_frames(clips["webm"], n_frames=4, max_side=48)
    assert frames.shape[1:] == (32, 48, 3) and frames.dtype == np.uint8
    assert (info["source_width"], info["source_height"]) == (96, 64)
    w, h = decode.fit_size(1920, 1080, None, max_pixels=360 * 420)
    assert w * h <= 360 * 420 and abs(w / h - 16 / 9) < 0.02


def test_webm_vp8_vorbis_gives_exact_frames_not_all_of_them(clips):
    frames, stamps, info = decode.decode_frames(clips["webm"], n_frames=8)
    assert len(frames) == 8 and info["source_frames"] == 90
    assert stamps[-1] == pytest.approx(89 / 30, abs=1e-3)


def test_audio_is_mono_float32_at_requested_rate(clips):
    samples = decode.decode_audio(clips["av"], rate=16000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) / 16000 == pytest.approx(4.0, abs=0.1)
    first, last = samples[:16000], samples[-16000:]
    assert np.abs(first).mean() > 0.1 and np.abs(last).mean() < 0.01  # tone in the first second only
    wav = decode.decode_audio(clips["wav"], rate=16000)
    assert len(wav) / 16000 == pytest.approx(2.0, abs=0.05)


def test_container_without_duration_falls_back_to_counting(clips):
    info = probe(clips["nodur"])
    assert info.has_video
    frames, stamps, meta = decode.decode_frames(clips["nodur"], n_frames=4)
    assert len(frames) == 4 and meta["source_frames"] == 20
    assert stamps[-1] == pytest.approx(1.9, abs=0.01)


@pytest.mark.parametrize("name,error", [("missing", MediaMissing), ("empty", MediaEmpty), ("text", NotMedia)])
def test_bad_files_raise_typed_errors(clips, name, error):
    with pytest.raises(error) as exc:
        decode.decode_frames(clips[name], n_frames=4)
    assert str(clips[name]) in str(exc.value)


def test_audio_only_file_has_no_video_stream(clips):
    with pytest.raises(NoVideoStream):
        decode.decode_frames(clips["wav"], n_frames=4)


def test_video_without_audio_track(clips):
    assert not probe(clips["silent"]).has_audio
    with pytest.raises(NoAudioStream):
        decode.decode_audio(clips["silent"])
    store = MediaStore(None)
    assert store.audio_or_none(clips["silent"]) is None


def test_truncated_file_is_a_decode_error_not_a_crash(clips):
    store = MediaStore(None)
    with pytest.raises((DecodeFailed, NotMedia)):
        store.video(clips["truncated"], VideoSpec(n_frames=8))


def test_multi_stream_file_takes_first_streams_in_file_order():
    path = shared_media("nasa_13013.mp4")
    info = probe(path)
    videos = [s for s in info.streams if s.kind == "video"]
    audios = [s for s in info.streams if s.kind == "audio"]
    assert len(videos) == 2 and len(audios) == 2
    frames, _, meta = decode.decode_frames(path, n_frames=4)
    assert meta["stream"] == 0 and frames.shape[1:3] == (180, 320)
    frames2, _, meta2 = decode.decode_frames(path, n_frames=4, stream_index=3)
    assert meta2["stream"] == 3 and frames2.shape[1:3] == (270, 480)
    low = decode.decode_audio(path, rate=16000)
    assert low.dtype == np.float32 and len(low) > 16000


def test_real_clip_chaplin():
    path = shared_media("chaplin.mp4")
    frames, stamps, meta = decode.decode_frames(path, n_frames=8, max_side=320)
    assert frames.shape == (8, 180, 320, 3)
    assert stamps[0] == pytest.approx(0.0) and stamps[-1] == pytest.approx(9.6, abs=0.05)
    audio = decode.decode_audio(path, rate=16000)
    assert len(audio) / 16000 == pytest.approx(9.6, abs=0.1)


def test_cache_hit_decodes_nothing(clips, tmp_path, monkeypatch):
    store = MediaStore(tmp_path / "cache")
    spec = VideoSpec(n_frames=6, max_side=64)
    first = store.video(clips["av"], spec)
    audio = store.audio(clips["av"], 16000)
    calls = []
    monkeypatch.setattr(decode, "decode_frames", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(decode, "decode_audio", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    again = MediaStore(tmp_path / "cache")  # a new process would see the same files
    second = again.video(clips["av"], spec)
    assert calls == [] and again.hits == 1
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.timestamps, second.timestamps)
    assert np.array_equal(again.audio(clips["av"], 16000).samples, audio.samples)


def test_cache_key_covers_decode_parameters(clips, tmp_path):
    store = MediaStore(tmp_path / "cache")
    a = store.video(clips["av"], VideoSpec(n_frames=4, max_side=64))
    b = store.video(clips["av"], VideoSpec(n_frames=6, max_side=64))
    c = store.video(clips["av"], VideoSpec(n_frames=4, max_side=32))
    assert (len(a.frames), len(b.frames)) == (4, 6) and c.frames.shape[2] == 32
    assert store.misses == 3 and store.hits == 0


def test_no_audio_is_cached_too(clips, tmp_path):
    store = MediaStore(tmp_path / "cache")
    assert store.audio_or_none(clips["silent"]) is None
    assert store.audio_or_none(clips["silent"]) is None
    assert store.hits == 1


def test_damaged_or_half_written_entries_are_misses(clips, tmp_path):
    store = MediaStore(tmp_path / "cache")
    spec = VideoSpec(n_frames=4, max_side=64)
    good = store.video(clips["av"], spec)
    entries = list((tmp_path / "cache").rglob("*.npyz"))
    assert len(entries) == 1
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # a torn entry (as if written in place and killed)
    (entries[0].parent / ".tmp-leftover").write_bytes(b"partial")  # a crash before the rename
    fresh = MediaStore(tmp_path / "cache")
    again = fresh.video(clips["av"], spec)
    assert fresh.misses == 1 and np.array_equal(again.frames, good.frames)
    assert MediaStore(tmp_path / "cache").video(clips["av"], spec).frames.shape == good.frames.shape


def test_concurrent_writers_of_one_entry(clips, tmp_path):
    spec = VideoSpec(n_frames=8, max_side=64)
    results, errors = [], []

    def work():
        try:
            results.append(MediaStore(tmp_path / "cache").video(clips["webm"], spec).frames)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert all(np.array_equal(r, results[0]) for r in results)
    assert len(list((tmp_path / "cache").rglob("*.npyz"))) == 1
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_decode_that_hangs_times_out(clips, monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(3)

    monkeypatch.setattr(decode, "decode_frames", hang)
    store = MediaStore(None, timeout=0.3)
    start = time.perf_counter()
    with pytest.raises(DecodeTimeout) as exc:
        store.video(clips["av"], VideoSpec(n_frames=4))
    assert time.perf_counter() - start < 2
    assert "longer than" in str(exc.value)


def test_images_load_as_rgb_and_bad_ones_are_typed_errors(tmp_path):
    from PIL import Image

    path = tmp_path / "flag.png"
    Image.new("RGBA", (30, 20), (255, 0, 0, 128)).save(path)
    store = MediaStore(None)
    img = store.image(path)
    assert img.shape == (20, 30, 3) and img.dtype == np.uint8 and tuple(img[0, 0]) == (255, 0, 0)
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(NotMedia):
        store.image(tmp_path / "bad.png")
    with pytest.raises(MediaMissing):
        store.image(tmp_path / "gone.png")
