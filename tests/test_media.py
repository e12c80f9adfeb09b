import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aurelia_harness.media import (DecodeFailed, DecodeTimeout, MediaEmpty, MediaMissing, MediaStore, NoAudioStream,
                                   NotMedia, NoVideoStream, VideoSpec, decode, ffmpeg_path, probe)
from aurelia_harness.media.policy import MediaPolicy
from aurelia_harness.media.soundtrack_process import SoundtrackPool
from aurelia_harness.types import MediaItem, Sample, VideoPart
from conftest import ffmpeg, shared_media


def rotated_clip(folder: Path, degrees: int) -> Path:
    """A 64x48 clip (red above, blue below) whose container asks players to turn it `degrees` counter-
    clockwise. FFmpeg 6+ writes the display matrix with -display_rotation; 5.x (Debian 12) with the mov
    muxer's rotate tag (clockwise degrees)."""
    base = folder / "upright.mp4"
    if not base.exists():
        ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=1", "-f", "lavfi", "-i", "color=c=blue:s=64x24:r=10:d=1",
               "-filter_complex", "[0][1]overlay=0:24", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(base))
    out = folder / f"rotated{degrees}.mp4"
    try:
        ffmpeg("-display_rotation", str(degrees), "-i", str(base), "-c", "copy", str(out))
    except subprocess.CalledProcessError:
        ffmpeg("-i", str(base), "-c", "copy", "-metadata:s:v:0", f"rotate={(-degrees) % 360}", str(out))
    return out


def ffmpeg_first_frame(path: Path, shape: tuple) -> np.ndarray:
    """The first frame as ffmpeg's CLI shows it (it applies the display rotation itself), as `shape`."""
    raw = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(shape)


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
    # the last frame's own presentation time, as the container stores it: WebM keeps milliseconds, and
    # encoders round differently (FFmpeg 5.1's libvpx writes 2.970 s, 9.0's 2.967 s for frame 89 at 30 fps)
    import av

    with av.open(str(clips["webm"])) as container:
        stream = container.streams.video[0]
        last = max(p.pts for p in container.demux(stream) if p.pts is not None) * float(stream.time_base)
    assert stamps[-1] == last
    assert stamps[-1] == pytest.approx(89 / 30, abs=0.5 / 30)


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


def test_stereo_downmix_is_the_mean_of_the_channels_and_never_clips(tmp_path):
    loud = tmp_path / "loud.wav"  # both channels at 0.9: FFmpeg's own downmix would give 0.9 x 2 / sqrt(2) = 1.27
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.9*sin(2*PI*440*t)|0.9*sin(2*PI*440*t):s=16000:d=1", "-c:a", "pcm_s16le",
           str(loud))
    one_sided = tmp_path / "left.wav"  # 0.8 on the left only: the mean is 0.4
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.8*sin(2*PI*440*t)|0:s=16000:d=1", "-c:a", "pcm_s16le", str(one_sided))
    samples = decode.decode_audio(loud, rate=16000)
    assert np.abs(samples).max() == pytest.approx(0.9, abs=0.01) and np.abs(samples).max() <= 1.0
    assert np.abs(decode.decode_audio(one_sided, rate=16000)).max() == pytest.approx(0.4, abs=0.01)
    resampled = decode.decode_audio(loud, rate=8000)  # resampling keeps the channels apart, then averages
    assert np.abs(resampled).max() == pytest.approx(0.9, abs=0.02) and len(resampled) == pytest.approx(8000, abs=50)


@pytest.mark.parametrize("degrees", [180, 90])
def test_a_rotated_clip_reaches_the_model_upright_with_a_note(tmp_path, degrees):
    path = rotated_clip(tmp_path, degrees)
    frames, _, info = decode.decode_frames(path, n_frames=2)
    shown = ffmpeg_first_frame(path, (64, 48, 3) if degrees == 90 else (48, 64, 3))  # stored 64 wide, 48 high
    assert info["rotation"] % 360 in (90, 270) if degrees == 90 else info["rotation"] == 180
    assert frames.shape[1:] == shown.shape  # a quarter turn swaps width and height
    assert np.abs(frames[0].astype(int) - shown.astype(int)).mean() < 8  # the same picture ffmpeg shows
    if degrees == 180:  # stored red above blue: seen blue above red
        assert frames[0][2, 32][2] > 200 and frames[0][-3, 32][0] > 200
    notes = []
    clip = MediaPolicy(frames=2).video(MediaStore(None), VideoPart(path), notes)
    assert np.array_equal(clip.frames, frames)
    assert notes == [f"{path.name} is flagged to be shown rotated by {info['rotation']} degrees: frames turned upright"]
    upright = tmp_path / "upright.mp4"
    assert decode.decode_frames(upright, n_frames=2)[2]["rotation"] == 0


def test_cover_art_mp3_is_no_video_in_validate_and_in_the_run_alike(tmp_path):
    from aurelia_harness.validate import first_media_error, validate

    tone, cover, song = tmp_path / "tone.mp3", tmp_path / "cover.png", tmp_path / "song.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "libmp3lame", str(tone))
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(cover))
    ffmpeg("-i", str(tone), "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "copy", "-c:v", "mjpeg",
           "-disposition:v:0", "attached_pic", str(song))
    message = f"{song}: {decode.NO_VIDEO_COVER_ART}"
    sample = Sample("s1", "t", "q?", (MediaItem("video", song),))
    checked = first_media_error(sample)
    assert isinstance(checked, NoVideoStream) and str(checked) == message
    with pytest.raises(NoVideoStream) as decoded:
        MediaStore(tmp_path / "cache").video(song, VideoSpec(n_frames=4))
    assert str(decoded.value) == message
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "s1", "question": "q?", "answer": "x",
                                                         "media": [{"kind": "video", "path": "song.mp3"}]}) + "\n")
    report = validate(tmp_path)
    assert report.problems == [f"s1: no_video_stream: {message}"]
    assert not probe(song).has_video and len(decode.decode_audio(song)) > 16000  # its sound is still audio


def test_a_one_pixel_video_is_not_upscaled(tmp_path):
    dot = tmp_path / "dot.mkv"
    # scaled down to 1x1 in RGB: FFmpeg 5.1's colour source refuses a 1x1 picture (its chroma would be 0x0)
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=2x2:r=5:d=1,format=rgb24,scale=1:1", "-c:v", "ffv1", str(dot))
    frames, _, info = decode.decode_frames(dot, n_frames=2, max_side=448)
    assert frames.shape == (2, 1, 1, 3) and (info["width"], info["height"]) == (1, 1)
    assert decode.fit_size(1, 1, 448) == (1, 1) and decode.fit_size(3, 1, 2) == (2, 1)
    assert decode.fit_size(97, 64, None) == (96, 64)  # unbounded sizes keep their even rounding


def test_a_file_that_stalls_when_opened_is_that_samples_decode_timeout(tmp_path):
    from aurelia_harness.validate import first_media_error

    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)  # no writer: opening it blocks for ever
    sample = Sample("s1", "t", "q?", (MediaItem("video", fifo),))
    try:
        start = time.perf_counter()
        error = first_media_error(sample, timeout=0.5)
        assert isinstance(error, DecodeTimeout) and error.kind == "decode_timeout"
        with pytest.raises(DecodeTimeout):
            MediaStore(tmp_path / "cache", timeout=0.5).video(fifo, VideoSpec(n_frames=2))
        with pytest.raises(DecodeTimeout):
            MediaStore(None, timeout=0.5).audio(fifo)
        assert time.perf_counter() - start < 5
    finally:  # let the abandoned readers finish: each blocked open returns once a writer comes and goes
        for _ in range(10):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                break
            time.sleep(0.05)


def test_fps_sampling_spread_with_a_floor_and_at_interval_ends(clips):
    _, spread, _ = decode.decode_frames(clips["silent"], fps=0.5, min_frames=4)  # 3 s at 0.5 fps: 2, floored to 4
    assert len(spread) == 4 and spread[0] == pytest.approx(0.0) and spread[-1] == pytest.approx(2.9)
    _, ends, info = decode.decode_frames(clips["av"], fps=1, fps_mode="interval_end")
    assert list(ends) == pytest.approx([1.0, 2.0, 3.0, 3.9]) and info["length"] == pytest.approx(4.0)
    _, capped, _ = decode.decode_frames(clips["av"], fps=1, max_frames=2, fps_mode="interval_end")
    assert list(capped) == pytest.approx([0.0, 3.9])  # more intervals than the cap: spread instead


def test_the_ffmpeg_binary_can_be_forced_either_way(monkeypatch, tmp_path):
    from aurelia_harness.media import ffmpeg_bin

    import imageio_ffmpeg

    try:
        monkeypatch.setenv("AVHARNESS_FFMPEG", "bundled")
        ffmpeg_bin.ffmpeg_path.cache_clear()
        assert ffmpeg_bin.ffmpeg_path() == imageio_ffmpeg.get_ffmpeg_exe()
        monkeypatch.setenv("AVHARNESS_FFMPEG", "system")
        monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg there
        ffmpeg_bin.ffmpeg_path.cache_clear()
        with pytest.raises(ffmpeg_bin.FfmpegNotFound, match="no ffmpeg on PATH"):
            ffmpeg_bin.ffmpeg_path()
        (tmp_path / "ffmpeg").write_text("#!/bin/sh\n")
        (tmp_path / "ffmpeg").chmod(0o755)
        ffmpeg_bin.ffmpeg_path.cache_clear()
        assert ffmpeg_bin.ffmpeg_path() == str(tmp_path / "ffmpeg")
    finally:
        monkeypatch.undo()
        ffmpeg_bin.ffmpeg_path.cache_clear()


# -- reading per clip: seeking or straight through; the soundtrack beside the frames ------------------------


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory) -> Path:
    """6 s at 20 fps of a moving test pattern (every frame differs), a keyframe every 40 frames, B-frames."""
    path = tmp_path_factory.mktemp("gop") / "gop40.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=96x64:r=20:d=6", "-f", "lavfi", "-i", "sine=f=500:d=6", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-g", "40", "-bf", "2", "-c:a", "aac", str(path))
    return path


def test_choose_reading_seeks_for_sparse_targets_and_reads_straight_for_dense_ones():
    pts = list(range(0, 1000))  # 1000 frames, a keyframe every 100
    plan = decode.FramePlan([p / 25 for p in pts], pts, list(range(0, 1000, 100)))
    assert plan.keyframe_index(250) == 200 and plan.keyframe_index(99) == 0
    assert decode.choose_reading(plan, [5, 505, 905]) == "seek"  # 3 short runs from their keyframes
    assert decode.choose_reading(plan, list(range(5, 1000, 10))) == "straight"  # a seek would skip 4 frames a GOP
    # a target just past each keyframe: seeking skips ~90 frames per GOP, far more than a seek costs
    assert decode.choose_reading(plan, list(range(2, 1000, 100))) == "seek"
    # the targets end each GOP: a seek would skip nothing
    assert decode.choose_reading(plan, list(range(99, 1000, 100))) == "straight"


def test_frame_threads_run_only_where_the_runs_between_seeks_are_long(gop_clip):
    pts = list(range(0, 1000))  # 1000 frames, a keyframe every 100
    plan = decode.FramePlan([p / 25 for p in pts], pts, list(range(0, 1000, 100)))
    assert decode.seeking_counts(plan, [5, 505, 905]) == (18, 3)  # 6 frames from each keyframe
    assert not decode.use_frame_threads(plan, [5, 505, 905], "seek")  # runs of 6 frames
    assert decode.use_frame_threads(plan, [5, 505, 905], "straight")  # one long run
    assert decode.seeking_counts(plan, [60, 150, 190]) == (61 + 51 + 40, 2)
    assert decode.use_frame_threads(plan, [60, 150, 190], "seek")  # runs of 61 and 91 frames
    # Forced either way, a seeking read gives the same frames; the clip's chosen way is reported.
    one = decode.decode_frames(gop_clip, n_frames=12, reading="seek", frame_threads=False)
    many = decode.decode_frames(gop_clip, n_frames=12, reading="seek", frame_threads=True)
    assert (one[2]["frame_threads"], many[2]["frame_threads"]) == (False, True)
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])
    sparse = decode.decode_frames(gop_clip, n_frames=3, reading="seek")  # runs of 1, 20 and 40 frames
    assert sparse[2]["frame_threads"] is False


def test_both_readings_give_the_same_exact_frames_on_a_dense_clip(gop_clip):
    seek, seek_times, seek_info = decode.decode_frames(gop_clip, n_frames=40, reading="seek", skip_nonref=False)
    straight, straight_times, straight_info = decode.decode_frames(gop_clip, n_frames=40, reading="straight",
                                                                   skip_nonref=False)
    assert (seek_info["reading"], straight_info["reading"]) == ("seek", "straight")
    assert straight_info["decoded"] == 120 and seek_info["decoded"] < 120  # straight: every frame, first to last
    assert seek.shape == (40, 64, 96, 3) and np.array_equal(seek, straight)
    assert np.array_equal(seek_times, straight_times)
    assert len({f.tobytes() for f in seek}) == 40  # 40 different pictures: a frame off by one would show
    times = [i / 20 for i in np.round(np.linspace(0, 119, 40)).astype(int)]  # the nearest of 120 frames at 20 fps
    assert np.allclose(seek_times, times, atol=1e-3)
    with pytest.raises(ValueError, match="unknown reading"):
        decode.decode_frames(gop_clip, n_frames=4, reading="sideways")


def test_the_reading_is_chosen_per_clip(gop_clip, clips):
    store = MediaStore(None)
    sparse = store.video(gop_clip, VideoSpec(n_frames=3, max_side=None))  # three GOPs, a frame each
    dense = store.video(gop_clip, VideoSpec(n_frames=60, max_side=None))  # every other frame
    one_gop = store.video(clips["silent"], VideoSpec(n_frames=3, max_side=None))  # one keyframe: nothing to skip
    assert (sparse.info["reading"], dense.info["reading"], one_gop.info["reading"]) == ("seek", "straight", "straight")
    forced = decode.decode_frames(gop_clip, n_frames=3, reading="straight", skip_nonref=False)
    assert np.array_equal(forced[0], sparse.frames) and np.array_equal(forced[1], sparse.timestamps)
    unskipped = decode.decode_frames(gop_clip, n_frames=3, reading="seek", skip_nonref=False)[2]["decoded"]
    assert unskipped == 1 + 20 + 40 < forced[2]["decoded"] == 120  # 0; 59 from 40; 119 from 80
    assert sparse.info["decoded"] < unskipped  # the B-frames before each target were skipped


@pytest.mark.parametrize("reading", ["seek", "straight"])
def test_skipping_non_reference_frames_keeps_every_target_exact(gop_clip, reading):
    for n in (3, 8, 40):
        kept = decode.decode_frames(gop_clip, n_frames=n, reading=reading)
        full = decode.decode_frames(gop_clip, n_frames=n, reading=reading, skip_nonref=False)
        assert np.array_equal(kept[0], full[0]) and np.array_equal(kept[1], full[1])
        assert kept[2]["decoded"] <= full[2]["decoded"]
        if n < 40:  # -bf 2 (b-pyramid): a third of the frames reference nothing; sparse targets skip them
            assert kept[2]["decoded"] < full[2]["decoded"]


def test_a_target_lost_to_skipping_is_read_again_without_it(gop_clip, monkeypatch):
    # One thread: with frame threads a decoder that skipped a referenced frame can put out a wrong picture
    # under the target's own pts, which no check sees (see decode._decode_exact).
    full = decode.decode_frames(gop_clip, n_frames=8, reading="seek", skip_nonref=False, frame_threads=False)
    monkeypatch.setattr(decode, "SKIP_BEFORE_TARGET", "NONKEY")  # would drop targets between keyframes too
    monkeypatch.setattr(decode, "_decode_targets", spy := _Spy(decode._decode_targets))
    again = decode.decode_frames(gop_clip, n_frames=8, reading="seek", frame_threads=False)
    assert np.array_equal(again[0], full[0]) and np.array_equal(again[1], full[1])
    assert spy.skips == [True, False]  # skipping lost a target, so the clip was read again without it


class _Spy:
    def __init__(self, inner):
        self.inner, self.skips = inner, []

    def __call__(self, *args):
        self.skips.append(args[-1])
        return self.inner(*args)


def test_the_soundtrack_decoded_beside_the_frames_is_the_same_as_alone(gop_clip, clips, tmp_path):
    spec = VideoSpec(n_frames=8, max_side=64)
    for store in (MediaStore(None), MediaStore(tmp_path / "cache"), MediaStore(tmp_path / "cache")):
        clip, track = store.video_and_audio(gop_clip, spec, 16000)
        assert np.array_equal(clip.frames, decode.decode_frames(gop_clip, n_frames=8, max_side=64)[0])
        assert track.rate == 16000 and np.array_equal(track.samples, decode.decode_audio(gop_clip, 16000))
    assert store.hits == 2  # the third store read both from the cache the second wrote
    clip, track = MediaStore(None).video_and_audio(clips["silent"], spec)
    assert track is None and len(clip.frames) == 8


def test_frames_and_soundtrack_really_overlap(gop_clip, monkeypatch):
    frames_started, sound_started = threading.Event(), threading.Event()
    real_frames, real_audio = decode.decode_frames, decode.decode_audio

    def frames(*args, **kwargs):
        frames_started.set()
        assert sound_started.wait(5), "the soundtrack waited for the frames"
        return real_frames(*args, **kwargs)

    def audio(*args, **kwargs):
        sound_started.set()
        assert frames_started.wait(5), "the frames waited for the soundtrack"
        return real_audio(*args, **kwargs)

    monkeypatch.setattr(decode, "decode_frames", frames)
    monkeypatch.setattr(decode, "decode_audio", audio)
    store = MediaStore(None, soundtrack_process=False)  # in a thread, where the patched function runs
    start = time.perf_counter()
    clip, track = store.video_and_audio(gop_clip, VideoSpec(n_frames=4), 16000)
    assert len(clip.frames) == 4 and track.seconds == pytest.approx(6.0, abs=0.1)
    assert time.perf_counter() - start < 5  # neither side timed out waiting for the other
    assert store.decode_seconds() == pytest.approx(time.perf_counter() - start, abs=0.5)  # counted once


def test_errors_from_either_side_stay_the_samples_own(clips, gop_clip, monkeypatch):
    store, spec = MediaStore(None), VideoSpec(n_frames=4)
    with pytest.raises((DecodeFailed, NotMedia)):
        store.video_and_audio(clips["truncated"], spec)
    with pytest.raises(MediaMissing):
        store.video_and_audio(clips["missing"], spec)
    with pytest.raises(NoVideoStream):  # the frames' error first, although the file's sound is fine
        store.video_and_audio(clips["wav"], spec)

    def broken_sound(path, *args, **kwargs):
        raise DecodeFailed(path, "undecodable audio stream (test)")

    monkeypatch.setattr(decode, "decode_audio", broken_sound)
    store = MediaStore(None, soundtrack_process=False)  # in a thread, where the patched function runs
    with pytest.raises(DecodeFailed, match="undecodable audio"):
        store.video_and_audio(gop_clip, spec)
    notes = []  # the policy asks for the sound only when the model hears it: then its failure is not raised
    clip, track = MediaPolicy(frames=4, audio_in_video=False).video_and_soundtrack(store, VideoPart(gop_clip), notes)
    assert track is None and len(clip.frames) == 4 and notes == []


def test_a_helper_process_decodes_the_soundtrack_with_the_same_samples_and_errors(gop_clip, clips, tmp_path):
    from aurelia_harness.media import soundtrack_process

    helpers = SoundtrackPool(1)
    for path in (gop_clip, clips["av"], clips["wav"]):
        assert np.array_equal(helpers.decode_audio(path, 16000), decode.decode_audio(path, 16000))
    assert helpers.started == 1  # one helper served every request
    with pytest.raises(NoAudioStream):
        helpers.decode_audio(clips["silent"])
    with pytest.raises(MediaMissing):
        helpers.decode_audio(tmp_path / "nowhere.mp4")
    with pytest.raises((DecodeFailed, NotMedia)):
        helpers.decode_audio(clips["truncated"])
    assert helpers.started == 1  # a media error is an answer, not a broken helper
    helpers.close()
    # the store sends a soundtrack read beside frames to the shared helpers
    before = soundtrack_process.pool().started
    clip, track = MediaStore(None).video_and_audio(gop_clip, VideoSpec(n_frames=4), 16000)
    assert np.array_equal(track.samples, decode.decode_audio(gop_clip, 16000)) and len(clip.frames) == 4
    assert soundtrack_process.pool().started >= max(1, before)


def test_a_helper_that_dies_or_hangs_costs_one_request(gop_clip, tmp_path):
    helpers = SoundtrackPool(1)
    expected = decode.decode_audio(gop_clip, 16000)
    assert np.array_equal(helpers.decode_audio(gop_clip), expected)
    idle = helpers._idle.queue[0]
    idle.proc.kill()
    idle.proc.wait()
    # found dead before the request was sent: replaced, and the request is served
    assert np.array_equal(helpers.decode_audio(gop_clip), expected) and helpers.started == 2
    fifo = tmp_path / "stalled.mp4"
    os.mkfifo(fifo)  # no writer: the helper's open blocks for ever
    with pytest.raises(DecodeTimeout, match="soundtrack"):
        helpers.decode_audio(fifo, time_limit=1.0)
    assert np.array_equal(helpers.decode_audio(gop_clip), expected) and helpers.started == 3
    # killed while it works on a request: that request fails, the next is served by a new helper
    busy = helpers._idle.queue[0]
    threading.Timer(0.5, busy.proc.kill).start()
    with pytest.raises(DecodeFailed, match=r"process ended \(killed by SIGKILL\)"):
        helpers.decode_audio(fifo, time_limit=30.0)
    assert np.array_equal(helpers.decode_audio(gop_clip), expected) and helpers.started == 4
    helpers.close()
    assert helpers._running == 0


def test_the_policy_reads_frames_and_soundtrack_together_with_the_same_notes(clips):
    policy = MediaPolicy(frames=4, audio_max_seconds=1.0)
    expected = {"av": ["av.mp4: the model hears the first 1 s of its soundtrack; the frames cover the whole clip "
                       "(4.0 s long; its audio input stops at 1 s)"],
                "silent": ["silent.mp4 has no audio track: fed video only"]}
    for name, notes in expected.items():
        part, apart, together = VideoPart(clips[name]), [], []
        clip, track = policy.video(MediaStore(None), part, apart), policy.soundtrack(MediaStore(None), part, apart)
        clip2, track2 = policy.video_and_soundtrack(MediaStore(None), part, together)
        assert apart == together == notes and np.array_equal(clip.frames, clip2.frames)
        if name == "av":
            assert len(track2.samples) == 16000 and np.array_equal(track.samples, track2.samples)
        else:
            assert track is None and track2 is None
