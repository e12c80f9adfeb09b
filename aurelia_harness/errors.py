"""Errors a person sees. The CLI prints them as one clear message (no traceback) and exits 2."""

from __future__ import annotations

import difflib


class HarnessError(Exception):
    """A problem with the user's configuration or command, explained in words."""


class ConfigError(HarnessError):
    pass


class UnknownName(HarnessError):
    def __init__(self, what: str, name: str, known: list[str]):
        self.what, self.name, self.known = what, name, sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        listing = ", ".join(self.known) if self.known else "(none registered)"
        super().__init__(f"unknown {what} '{name}'.{hint} Known {what}s: {listing}")


class OutputConflict(HarnessError):
    pass


class FailedOnError(HarnessError):
    """--fail-on-error and a sample failed: the run stops (exit status 1)."""


def describe_exception(exc: BaseException) -> dict:
    """The per-sample error form used in records: a type and a one-line message."""
    kind = getattr(exc, "kind", None) or type(exc).__name__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"type": kind, "message": message[:500]}
