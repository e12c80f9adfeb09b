"""Adapters for models whose code cannot share the harness's environment (e.g. hub remote code pinned to an
older transformers): the model runs in a worker process started with the card's own Python, and talks to
the harness over JSON lines.

The harness side (here) decodes the media with the harness's media layer, so frames, timestamps, caching and
media errors are the same as for every other adapter, and hands the worker arrays in .npy files. The worker
side (isolated_worker.py + a family file) turns them into what the model's own API wants.

Card keys:
    [environment]
    name = "minicpm-o-2.6"        # $AVHARNESS_CACHE/envs/NAME, made by `avharness env create CARD`
    python = "/path/to/python"    # or any interpreter you prepared yourself
    requirements = ["transformers==4.44.2", ...]   # what `avharness env create` installs
    load_timeout_s = 1800
    request_timeout_s = 600
    max_restarts = 2              # a worker that dies or hangs is restarted for the next request
    pythonpath = ["~/src/repo"]   # source checkouts the worker imports from (put on its PYTHONPATH)
    source = { git = "https://github.com/org/repo", rev = "COMMIT", subdir = "code" }
                                  # cloned by `env create` and put on the worker's PYTHONPATH
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path

import numpy as np

from aurelia_harness.config import default_cache_dir
from aurelia_harness.environments import environment_python, source_path
from aurelia_harness.media import mime_type
from aurelia_harness.models import MediaReceipt, ModelAdapter, conversation
from aurelia_harness.types import Reply, Request


WORKER = Path(__file__).with_name("isolated_worker.py")


class WorkerFailed(RuntimeError):
    kind = "worker_failed"


class WorkerTimeout(TimeoutError):
    kind = "worker_timeout"


class IsolatedEnvAdapter(ModelAdapter):
    """Subclasses set `family_file` (the worker-side code) and `accepts`; they may override `load_options`.
    `media_as`: "arrays" (decoded here: frames with their times, audio at the card's rate) or "files" (for
    models whose own processor reads the files; the card's frame budget does not apply then)."""
    media_defaults = {"frames": 16, "max_pixels": 448 * 448}

    family_file: Path
    media_as = "arrays"

    @property
    def frames_adjustable(self) -> bool:
        return self.media_as == "arrays"

    def __init__(self, card, media, device=None):
        super().__init__(card, media, device)
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue | None = None
        self._lock = threading.Lock()
        self._restarts = 0
        self._gave_up: str | None = None
        self._scratch: Path | None = None  # media handed to the worker, one folder per request
        self.worker_info: dict = {}
        rank = os.environ.get("RANK")  # data-parallel processes each run a worker: one log each
        self.log_path = default_cache_dir() / "workers" / f"{card.name}{f'-rank{rank}' if rank else ''}.log"

    # ---- what the worker is told ----

    def load_options(self) -> dict:
        card = self.card
        return {"checkpoint": card.checkpoint, "revision": card.revision or None,
                "dtype": card.get("dtype", "bfloat16"), "attn_implementation": card.get("attn_implementation"),
                "device_map": card.get("device_map"), "device": self.device or "cpu",
                "trust_remote_code": bool(card.get("trust_remote_code")),  # the runner has checked the user allows it
                "model": dict(card.get("worker", {}) or {})}

    def encode_files(self, request: Request) -> tuple[list[dict], list[str]]:
        """The request as family-neutral messages naming the media files, for models whose own code reads
        them: each file is checked with the media layer first (missing or undecodable: this sample's error),
        and a video says whether its soundtrack is to be used."""
        notes: list[str] = []
        hears_video = self.policy.audio_in_video

        def video(part):
            info = self.media.probe(part.path)  # a missing or undecodable file fails here, for this sample
            with_audio = part.with_audio and hears_video
            if with_audio and not info.has_audio:
                notes.append(f"{part.path.name} has no audio track: fed video only")
                with_audio = False
            elif part.with_audio and not hears_video:
                notes.append(f"{self.card.name} takes no audio: soundtrack not fed")
            return [{"type": "video", "path": str(part.path), "with_audio": with_audio}]

        def checked(kind):
            def handle(part):
                self.media.probe(part.path)
                return [{"type": kind, "path": str(part.path)}]
            return handle

        messages = conversation(request, video=video, audio=checked("audio"), image=checked("image"))
        return messages, notes

    def encode(self, request: Request, folder: Path) -> tuple[list[dict], list[str]]:
        """The request as family-neutral messages; media as .npy files in `folder` (frames uint8 NHWC, audio
        float32 mono at the card's rate), or as checked file paths when `media_as = "files"`."""
        if self.media_as == "files":
            return self.encode_files(request)
        rate = self.policy.audio_rate
        notes: list[str] = []
        counter = iter(range(1 << 30))

        def save(array) -> str:
            path = folder / f"{next(counter)}.npy"
            np.save(path, np.ascontiguousarray(array))
            return str(path)

        def video(part):
            clip, track = self.policy.video_and_soundtrack(self.media, part, notes, fed="frames only")
            item = {"type": "video", "name": part.path.name, "frames": save(clip.frames),
                    "times": [round(float(t), 4) for t in clip.timestamps],
                    "length": round(float(clip.info.get("length", 0.0)), 4), "soundtrack": None, "rate": rate}
            if track is not None:
                item["soundtrack"] = save(track.samples)
            return [item]

        def audio(part):
            return [{"type": "audio", "file": save(self.policy.clip(self.media, part.path, notes).samples), "rate": rate}]

        def image(part):
            return [{"type": "image", "file": save(self.media.image(part.path))}]

        messages = conversation(request, video=video, audio=audio, image=image)
        return messages, notes

    # ---- the worker process ----

    def load(self) -> None:
        python = environment_python(self.card)
        if not python.exists():
            hint = (f"create it with `avharness env create {self.card.name}`" if self.card.get("environment.name")
                    else "point [environment] python at an interpreter that has the model's requirements")
            raise FileNotFoundError(f"{self.card.name} runs in its own Python environment, and {python} does not "
                                    f"exist: {hint}")
        from aurelia_harness.hub import ensure_reachable

        ensure_reachable(self.card.checkpoint, self.card.revision)  # fail fast, before the worker waits on the hub
        self._scratch = Path(tempfile.mkdtemp(prefix=f"avharness-{self.card.name}-"))
        try:
            self._start()
        except BaseException:
            shutil.rmtree(self._scratch, ignore_errors=True)
            raise
        self.loaded = True

    def _start(self) -> None:
        python = environment_python(self.card)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # the worker's packages are its environment's, not ours; plus any source checkouts the card names
        # (research repositories whose examples run from the repository root)
        paths = [os.path.expanduser(str(x)) for x in self.card.get("environment.pythonpath", []) or []]
        source = source_path(self.card)
        if source is not None:
            paths.append(str(source))
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        else:
            env.pop("PYTHONPATH", None)
        self._process = subprocess.Popen([str(python), str(WORKER), str(self.family_file)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=env, cwd=self._scratch)
        log.close()
        self._lines = queue.Queue()
        threading.Thread(target=_pump, args=(self._process.stdout, self._lines), daemon=True,
                         name=f"{self.card.name}-worker-replies").start()
        timeout = float(self.card.get("environment.load_timeout_s", 1800))
        reply = self._exchange({"op": "load", "options": self.load_options()}, timeout)
        if not reply.get("ok"):
            self._stop()
            raise WorkerFailed(f"{self.card.name} failed to load in its environment: {reply.get('error')} "
                               f"(worker log: {self.log_path})")
        self.worker_info = reply.get("info", {})

    def _exchange(self, message: dict, timeout: float) -> dict:
        process = self._process
        try:
            process.stdin.write((json.dumps(message) + "\n").encode())
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it has exited: the reply queue says so below
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self._stop()
            raise WorkerTimeout(f"{self.card.name}: no reply from its worker within {timeout:g} s; the worker was "
                                f"stopped and restarts for the next request (log: {self.log_path})") from None
        if line is None:
            code = process.wait()
            self._process = None
            raise WorkerFailed(f"{self.card.name}: its worker exited (code {code}) during this request; "
                               f"last log lines: {self._log_tail()} (log: {self.log_path})")
        try:
            return json.loads(line)
        except ValueError:
            return {"ok": False, "type": "ProtocolError", "error": f"unreadable worker reply: {line[:200]!r}"}

    def _ensure_running(self) -> None:
        if self._gave_up:
            raise WorkerFailed(self._gave_up)
        if self._process is not None and self._process.poll() is None:
            return
        limit = int(self.card.get("environment.max_restarts", 2))
        if self._restarts >= limit:
            self._gave_up = (f"{self.card.name}: its worker stopped {self._restarts + 1} times; not restarted again "
                             f"in this run (log: {self.log_path})")
            raise WorkerFailed(self._gave_up)
        self._restarts += 1
        self._start()

    def _log_tail(self, lines: int = 3) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                tail = deque(fh, maxlen=lines)
        except OSError:
            return "(no log)"
        return " | ".join(x.decode(errors="replace").strip() for x in tail if x.strip()) or "(empty log)"

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()

    # ---- requests ----

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        folder = Path(tempfile.mkdtemp(dir=self._scratch))
        try:
            messages, notes = self.encode(request, folder)
            receipt = self.handed_over(messages)
            timeout = float(self.card.get("environment.request_timeout_s", 600))
            with self._lock:
                self._ensure_running()
                reply = self._exchange({"op": "generate", "messages": messages,
                                        "max_new_tokens": request.max_new_tokens}, timeout)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if not reply.get("ok"):
            if reply.get("type") == "OutOfMemoryError":  # the base class retries with fewer frames
                import torch

                raise torch.OutOfMemoryError(reply.get("error", "out of memory"))
            raise WorkerFailed(f"{self.card.name}: {reply.get('error', 'the worker failed')}")
        return Reply(str(reply.get("text", "")).strip(), input_tokens=int(reply.get("input_tokens") or 0),
                     output_tokens=int(reply.get("output_tokens") or 0), notes=notes + list(reply.get("notes", [])),
                     media=receipt)

    def handed_over(self, messages: list[dict]) -> dict:
        """The media receipt of what the worker is handed: decoded frames (with their times) and audio
        arrays, or the files themselves when the model's own code reads them (a video's sound counts when
        the worker is told to use it)."""
        receipt = MediaReceipt()
        for item in (i for m in messages for i in m["content"]):
            if item["type"] == "video" and "path" in item:
                path = Path(item["path"])
                receipt.file("video", path, path.stat().st_size, mime_type(path), self.media.probe(path),
                             sound_heard=bool(item.get("with_audio")))
            elif item["type"] == "video":
                receipt.frames(np.load(item["frames"], mmap_mode="r").shape, item["times"])
                if item.get("soundtrack"):
                    receipt.sound(len(np.load(item["soundtrack"], mmap_mode="r")), item["rate"], soundtrack=True)
            elif item["type"] == "audio" and "path" in item:
                path = Path(item["path"])
                receipt.file("audio", path, path.stat().st_size, mime_type(path), self.media.probe(path))
            elif item["type"] == "audio":
                receipt.sound(len(np.load(item["file"], mmap_mode="r")), item["rate"], soundtrack=False)
            elif item["type"] == "image":
                receipt.image()
        return receipt.to_json()

    def close(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.stdin.write(b'{"op": "close"}\n')
                process.stdin.flush()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        super().close()


def _pump(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        lines.put(line.decode(errors="replace"))
    lines.put(None)
