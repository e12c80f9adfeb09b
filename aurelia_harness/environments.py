"""Per-model Python environments, for models whose code cannot share the harness's (e.g. hub remote code
pinned to an older transformers). A card's `[environment]` table names one; `avharness env create CARD`
makes it as a virtual environment under the cache, clones a research repository that is not
pip-installable (`source`) at a pinned revision, and installs the card's pinned requirements plus the
authors' own requirement files from that checkout (`requirements_files`); an
isolated-environment adapter then runs the model there as a worker process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .config import default_cache_dir
from .errors import HarnessError

MARKER = "avharness-environment.json"


def environment_dir(card) -> Path | None:
    name = card.get("environment.name")
    return default_cache_dir() / "envs" / name if name else None


def environment_python(card) -> Path:
    """The interpreter a card's worker runs with: `environment.python`, else the named environment's."""
    explicit = card.get("environment.python")
    if explicit:
        return Path(os.path.expandvars(os.path.expanduser(str(explicit))))
    folder = environment_dir(card)
    if folder is None:
        raise ValueError(f"card {card.name}: [environment] names neither `python` nor `name`")
    return folder / "bin" / "python"


def requirements_hash(card) -> str:
    """What the environment is made of: its pinned requirements and the source checkout, if any."""
    made_of = {"requirements": list(card.get("environment.requirements", []) or [])}
    if card.get("environment.source"):
        made_of["source"] = {k: card.get(f"environment.source.{k}") for k in ("git", "rev")}
    if card.get("environment.requirements_files"):
        made_of["requirements_files"] = list(card.get("environment.requirements_files"))
    payload = made_of["requirements"] if len(made_of) == 1 else made_of  # unchanged hash for cards without a source
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def source_path(card) -> Path | None:
    """Where the card's source checkout is importable from (`environment.source`: a research repository that is
    not pip-installable, cloned at a pinned revision by `env create`; `subdir` is the folder its code imports
    from)."""
    folder = environment_dir(card)
    if folder is None or not card.get("environment.source.git"):
        return None
    return folder / "source" / str(card.get("environment.source.subdir", "") or "")


def status(card) -> str:
    """One line: whether the card's environment exists and matches what the card says it is made of."""
    python = environment_python(card)
    if not python.exists():
        return f"missing ({python})"
    source = source_path(card)
    if source is not None and not source.is_dir():
        return f"incomplete ({source}: the source checkout is missing; run `avharness env create {card.name}`)"
    folder = environment_dir(card)
    if folder is None or card.get("environment.python"):
        return f"ready ({python}, prepared by you)"
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return f"incomplete ({folder}: not finished by `avharness env create`)"
    if marker.get("requirements_hash") != requirements_hash(card):
        return f"stale ({folder}: the card's requirements changed; rerun with --force)"
    return f"ready ({folder}, Python {marker.get('python_version', '?')})"


def find_python(version: str | None) -> str:
    """`pythonX.Y` from PATH when the card asks for a version and it is there, else this interpreter."""
    if version:
        found = shutil.which(f"python{version}")
        if found:
            return found
    return sys.executable


def create(card, python: str | None = None, force: bool = False, run=subprocess.run, echo=print,
           dry_run: bool = False) -> Path:
    """Make the card's environment: a venv with its pinned requirements (and its source checkout).
    Idempotent unless `force`; `dry_run` prints the commands and runs nothing."""
    folder = environment_dir(card)
    if folder is None:
        raise HarnessError(f"card {card.name} has no [environment] name to create "
                           f"(its environment.python is prepared by hand)" if card.get("environment.python")
                           else f"card {card.name} runs in the harness's own environment; nothing to create")
    if folder.exists() and status(card).startswith("ready") and not force:
        echo(f"{card.name}: {status(card)}; nothing to do (--force rebuilds)")
        return folder
    if folder.exists() and not dry_run:
        shutil.rmtree(folder)
    base = python or find_python(card.get("environment.python_version"))
    wanted = card.get("environment.python_version")
    requirements = list(card.get("environment.requirements", []) or [])
    # the authors' own requirement files, relative to the checkout root (not `subdir`): installed as written
    files = [str(folder / "source" / f) for f in card.get("environment.requirements_files", []) or []]
    if files and not card.get("environment.source.git"):
        raise HarnessError(f"{card.name}: [environment] requirements_files are read from the source checkout, "
                           f"and the card names no source")
    echo(f"{card.name}: {'would create' if dry_run else 'creating'} {folder} with {base}")
    steps = [[base, "-m", "venv"] + ([] if requirements or files else ["--without-pip"]) + [str(folder)]]
    if card.get("environment.source.git"):  # first: the authors' requirement files are in it
        git = shutil.which("git")
        if git is None:
            raise HarnessError(f"{card.name}: its environment needs a git checkout, and git is not installed")
        steps.append([git, "clone", "--quiet", str(card.get("environment.source.git")), str(folder / "source")])
        if card.get("environment.source.rev"):
            steps.append([git, "-C", str(folder / "source"), "checkout", "--quiet",
                          str(card.get("environment.source.rev"))])
    if requirements or files:
        steps.append([str(folder / "bin" / "python"), "-m", "pip", "install", *requirements,
                      *[arg for f in files for arg in ("-r", f)]])
    if dry_run:
        for step in steps:
            echo("  $ " + shlex.join(step))
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    for step in steps:
        echo("  $ " + shlex.join(step))
        done = run(step)
        if done.returncode:
            raise HarnessError(f"{card.name}: `{' '.join(step)}` failed (exit {done.returncode}); "
                               f"the environment at {folder} is incomplete")
    version = subprocess.run([str(folder / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    if wanted and not version.startswith(wanted):
        echo(f"{card.name}: note: the card was tested with Python {wanted}; this environment has {version}")
    (folder / MARKER).write_text(json.dumps({"card": card.name, "requirements": requirements,
                                             "requirements_hash": requirements_hash(card),
                                             "python_version": version}, indent=1))
    echo(f"{card.name}: ready")
    return folder
