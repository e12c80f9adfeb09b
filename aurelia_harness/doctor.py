"""`avharness doctor`: what this machine can run, each line a check with its evidence."""

from __future__ import annotations

import platform


def checks(config, registry):
    import os

    yield True, "python", platform.python_version()
    from .media import ffmpeg_path, ffmpeg_version, pyav_versions

    try:
        path = ffmpeg_path()
        version = ffmpeg_version()
        chosen = os.environ.get("AVHARNESS_FFMPEG")
        how = f" (AVHARNESS_FFMPEG={chosen})" if chosen else " (PATH first, else the bundled static build)"
        yield not version.startswith("unavailable"), "ffmpeg", f"{version} at {path}{how}"
    except Exception as exc:
        yield False, "ffmpeg", f"not found ({exc})"
    try:
        v = pyav_versions()
        yield True, "PyAV (frame decoding)", f"{v['pyav']}, libavcodec {v['libavcodec']}"
    except Exception as exc:
        yield False, "PyAV (frame decoding)", str(exc)
    try:
        import torch

        yield True, "torch", torch.__version__
        if torch.cuda.is_available():
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            yield True, "GPU", f"{len(names)}: {', '.join(names)}"
        else:
            yield True, "GPU", "none (models run on CPU)"
    except Exception as exc:
        yield False, "torch", f"not importable ({exc})"
    try:
        import transformers

        yield True, "transformers", transformers.__version__
    except Exception as exc:
        yield False, "transformers", f"not importable ({exc})"
    yield True, "cache", str(config.cache_dir)
    from .hub import CheckpointUnavailable, ensure_reachable

    try:
        ensure_reachable("avharness/doctor-probe", timeout=3.0)  # never cached: asks whether the hub answers
        yield True, "model hub", "reachable (uncached checkpoints can download)"
    except CheckpointUnavailable as exc:
        reason = "HF_HUB_OFFLINE is set" if "HF_HUB_OFFLINE" in str(exc) else "not reachable"
        yield True, "model hub", f"{reason}: only cached or local checkpoints and builtin: cards load"
    yield True, "plugins loaded", ", ".join(registry.loaded) or "(none)"
    for problem in registry.problems:
        yield False, f"plugin {problem.plugin}", f"failed at {problem.stage}: {problem.error}"
    ready = sorted(n for n, c in registry.cards.items() if c.adapter in registry.adapters)
    yield True, "models ready", f"{len(ready)} of {len(registry.cards)}"
    sourced = sorted(n for n in ready if registry.cards[n].sources)
    yield True, "recipes", (f"{len(sourced)} ready cards name the sources of their settings "
                            f"(avharness list models --recipe NAME)")
    from .environments import status

    for name, card in sorted(registry.cards.items()):
        if card.get("environment"):  # not a failure: made on demand with `avharness env create`
            yield True, f"environment of {name}", status(card)
