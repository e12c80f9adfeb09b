"""Soundtracks decoded in helper processes, so that a clip's sound and its frames decode in parallel.

PyAV releases the GIL around each demux, send and receive call, but an audio stream is a few thousand codec
frames of ~23 ms each: decoded in a thread beside the frames, the two threads hand the GIL back and forth
thousands of times per clip and barely overlap (docs/performance.md, "Latest"). A helper process shares no GIL.
It runs the same `decode.decode_audio` on the same PyAV, so the samples are the same to the bit.

Helpers start on first use (about 0.3 s), serve one request at a time each, and are shared by every
MediaStore of the process. They end when this process closes their stdin (at exit, or when it dies). A helper
that dies or stops answering is this request's DecodeFailed or DecodeTimeout and is replaced on the next
call; one found dead before a request was sent is restarted for that request. Where no helper can be started
at all, soundtracks decode in this process, as before.

Protocol, one request at a time on the helper's stdin/stdout: a JSON line {"path", "rate", "stream"}; the
answer is a JSON line {"samples": n} followed by n float32 samples (little-endian), or {"error": class name,
"reason": ...} for a media error.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from . import errors

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds aurelia_harness/


class _Helper:
    """One helper process and the bytes it has sent that are not yet read."""

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "aurelia_harness.media.soundtrack_process"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, close_fds=True)
        self.buffer = bytearray()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: dict) -> None:
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def answer(self, deadline: float) -> tuple[dict, bytearray]:
        """The header line and the samples' bytes, read into one buffer of their size (a film's soundtrack is
        hundreds of MB: no extra copies)."""
        while b"\n" not in self.buffer:
            self._wait(deadline)
            block = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not block:
                raise EOFError
            self.buffer += block
        line, _, rest = bytes(self.buffer).partition(b"\n")
        header = json.loads(line)
        payload = bytearray(4 * header.get("samples", 0))
        have = min(len(rest), len(payload))
        payload[:have] = rest[:have]
        self.buffer = bytearray(rest[have:])  # (empty: the helper sends nothing before it is asked again)
        view = memoryview(payload)
        while have < len(payload):
            self._wait(deadline)
            got = self.proc.stdout.raw.readinto(view[have:])
            if not got:
                raise EOFError
            have += got
        return header, payload

    def _wait(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.proc.stdout.fileno()], [], [], remaining)[0]:
            raise TimeoutError

    def stop(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class SoundtrackPool:
    """Up to `size` helpers; `decode_audio` borrows an idle one, or starts one while fewer are running."""

    def __init__(self, size: int):
        self.size = size
        self._idle: queue.Queue[_Helper] = queue.Queue()
        self._running = 0
        self._lock = threading.Lock()
        self.unavailable: str | None = None  # why no helper could be started; then decoding stays in process
        self.started = 0  # helpers started so far (tests read it)

    def decode_audio(self, path, rate: int = 16000, stream_index: int | None = None, time_limit: float = 120.0) -> np.ndarray:
        """decode.decode_audio(path, rate, stream_index) in a helper: the same samples and the same errors."""
        from . import decode

        # absolute: the helper's working folder is this process's at the helper's start, which can change
        request = {"path": os.path.abspath(path), "rate": rate, "stream": stream_index}
        for attempt in range(2):
            helper = None if self.unavailable is not None else self._borrow()
            if helper is None:
                return decode.decode_audio(path, rate, stream_index)
            try:
                helper.send(request)
                break
            except OSError:  # it died before taking the request (not this file's doing): once more with another
                self._drop(helper)
                if attempt:
                    raise errors.DecodeFailed(path, "no soundtrack decoder process would take the request") from None
        try:
            header, payload = helper.answer(time.monotonic() + time_limit)
        except TimeoutError:
            self._drop(helper)
            raise errors.DecodeTimeout(path, f"decoding the soundtrack took longer than {time_limit:g}s") from None
        except (EOFError, OSError, ValueError):
            try:  # its pipe closed as it died: the exit status follows within moments
                code = helper.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self._drop(helper)
            raise errors.DecodeFailed(path, f"the soundtrack decoder process ended ({_how_it_ended(code)})") from None
        self._idle.put(helper)
        if "error" in header:
            kind = getattr(errors, header["error"], None)
            if isinstance(kind, type) and issubclass(kind, errors.MediaError):
                raise kind(path, header["reason"])
            raise errors.DecodeFailed(path, f"{header['error']}: {header['reason']}")
        return np.frombuffer(payload, dtype="<f4").astype(np.float32, copy=False)  # (no copy where float32 is "<f4")

    def _borrow(self) -> _Helper | None:
        while True:
            try:
                helper = self._idle.get_nowait()
            except queue.Empty:
                helper = None
            if helper is not None:
                if helper.alive():
                    return helper
                self._drop(helper)  # died while idle (not this request's doing): start another
                continue
            with self._lock:
                if self._running < self.size:
                    try:
                        helper = _Helper()
                    except OSError as exc:
                        self.unavailable = f"{type(exc).__name__}: {exc}"
                        return None
                    self._running += 1
                    self.started += 1
                    return helper
            try:  # all helpers busy: wait for one (and look again should a busy one be dropped meanwhile)
                helper = self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
            self._idle.put(helper)

    def _drop(self, helper: _Helper) -> None:
        helper.stop()
        with self._lock:
            self._running -= 1

    def close(self) -> None:
        """Stop the idle helpers (busy ones stop when their request ends and they find stdin closed)."""
        while True:
            try:
                self._drop(self._idle.get_nowait())
            except queue.Empty:
                return


def _how_it_ended(code: int | None) -> str:
    """A helper's exit status in words: a negative one is the signal that killed it (a codec crash: SIGSEGV;
    the kernel's out-of-memory killer or a user: SIGKILL)."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "no exit status" if code is None else f"exit code {code}"


_pool: SoundtrackPool | None = None
_pool_lock = threading.Lock()


def pool() -> SoundtrackPool:
    """The process's shared pool: as many helpers as cores, up to 4."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SoundtrackPool(max(1, min(4, os.cpu_count() or 1)))
        return _pool


def _serve() -> None:
    """The helper's loop: one request per line on stdin until it closes."""
    from . import decode

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            samples = decode.decode_audio(Path(request["path"]), request["rate"], request["stream"])
        except errors.MediaError as exc:
            out.write((json.dumps({"error": type(exc).__name__, "reason": exc.reason}) + "\n").encode())
        except Exception as exc:  # noqa: BLE001 - any failure is this file's, reported as data
            out.write((json.dumps({"error": type(exc).__name__, "reason": str(exc)}) + "\n").encode())
        else:
            data = np.ascontiguousarray(samples, dtype="<f4")
            out.write((json.dumps({"samples": int(data.size)}) + "\n").encode())
            out.write(data.data)  # the array's own buffer: a film's soundtrack is hundreds of MB, not copied
        out.flush()


if __name__ == "__main__":
    _serve()
