"""The worker side of an isolated-environment adapter: run by ANOTHER Python (a model's own pinned
environment), so it imports nothing from avharness — only the standard library here, and whatever the
family file imports.

    python isolated_worker.py FAMILY_FILE

The family file defines `load(options) -> (state, extra info or {})` and `generate(state, messages, max_new_tokens) ->
dict(text=..., input_tokens=..., output_tokens=...)`. Requests come as JSON lines on stdin; replies go as JSON
lines to the original stdout, which is then pointed at stderr so that prints from model code (remote code
prints freely) cannot corrupt the protocol.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback


def _family(path: str):
    spec = importlib.util.spec_from_file_location("avharness_worker_family", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _failure(exc: BaseException) -> dict:
    traceback.print_exc(file=sys.stderr)  # the whole story goes to the worker log
    return {"ok": False, "type": type(exc).__name__, "error": f"{type(exc).__name__}: {exc}"}


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")  # only if the model uses it: importing torch here would cost seconds
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def _environment_info() -> dict:
    """Python and the versions of the libraries that matter, as installed in this environment."""
    from importlib import metadata

    info = {"python": sys.version.split()[0]}
    for package in ("torch", "transformers"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    return info


def main(argv: list[str]) -> int:
    # Python put this file's folder (the harness's plugin folder) first on sys.path; the model's packages
    # must win over our modules of the same name (videollama2.py here vs the authors' `videollama2`).
    # Python puts the script's real folder there: compare real paths (the plugin folder may be a symlink).
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    family = _family(argv[1])
    state = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as exc:
            replies.write(json.dumps(_failure(exc)) + "\n")
            continue
        op = message.get("op")
        try:
            if op == "load":
                state, info = family.load(message["options"])
                reply = {"ok": True, "info": {**_environment_info(), **(info or {})}}
            elif op == "generate":
                if state is None:
                    raise RuntimeError("generate before load")
                reply = {"ok": True, **family.generate(state, message["messages"], int(message["max_new_tokens"]))}
            elif op == "close":
                replies.write(json.dumps({"ok": True}) + "\n")
                return 0
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # one bad request is that request's error; the worker stays up
            reply = _failure(exc)
            _free_accelerator_memory()
        reply["id"] = message.get("id")
        replies.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
