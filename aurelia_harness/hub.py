"""A quick answer before a long wait: is a hub checkpoint on this machine, or can the hub be reached?

transformers retries an unreachable hub for minutes before it gives up; with `--models all` on a machine
without network that adds up. A checkpoint that is a local folder, or already in the local Hugging Face
cache, loads as usual; otherwise one short connection attempt to the hub decides.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse


class CheckpointUnavailable(OSError):
    kind = "checkpoint_unavailable"


def ensure_reachable(checkpoint: str, revision: str | None = None, timeout: float = 5.0) -> None:
    if not checkpoint or Path(checkpoint).exists():
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(checkpoint, "config.json", revision=revision or None)
        if isinstance(cached, str):
            return
    except Exception:  # not a repo id the cache understands: let transformers say what is wrong
        return
    hint = "download it first (huggingface-cli download), or point the card's checkpoint at a local folder"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise CheckpointUnavailable(f"{checkpoint} is not in the local cache and HF_HUB_OFFLINE is set: {hint}")
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise CheckpointUnavailable(f"{checkpoint} is not in the local cache and {host} cannot be reached "
                                    f"({exc.__class__.__name__}): {hint}") from None
