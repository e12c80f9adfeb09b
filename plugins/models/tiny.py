"""Helpers to build tiny random-weight models of real architectures, offline.

Used by `builtin:` model cards (pipeline checks) and by tests. A byte-level BPE tokenizer with no merges
covers any text (every byte is a token) and round-trips through save_pretrained / from_pretrained.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path


def byte_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character table that byte-level BPE tokenizers use."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAC + 1)) | set(range(0xAE, 0xFF + 1))
    table, shift = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def byte_vocab(specials: list[str]) -> dict[str, int]:
    vocab = {ch: i for i, ch in enumerate(byte_to_unicode().values())}
    for token in specials:
        vocab.setdefault(token, len(vocab))
    return vocab


@contextlib.contextmanager
def build_once(target: Path):
    """Yield a temporary folder to build into when `target` does not exist yet, then move it into place.
    A file lock makes concurrent processes (data-parallel ranks) build it once; others wait and reuse it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / "READY").exists():
                yield None
                return
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
            try:
                yield tmp
                (tmp / "READY").write_text("built by avharness\n")
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def qwen_style_tokenizer(extra_special_tokens: dict[str, str], more: list[str] = ()):
    """A byte-level Qwen2 tokenizer (ChatML specials plus the given ones), with no download."""
    from transformers import Qwen2Tokenizer

    vocab = byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra_special_tokens.values(), *more])
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", extra_special_tokens=dict(extra_special_tokens))
    return tokenizer, vocab
