"""harness.toml plus command-line flags -> one RunConfig.

Precedence: built-in defaults < harness.toml < flags. A malformed TOML file is reported with its path,
line and column.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    env = os.environ.get("AVHARNESS_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "avharness"


def read_toml(path: Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; keep it and name the file.
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


@dataclass
class RunConfig:
    models: list[str] = field(default_factory=list)  # harness.toml's [run] gives the defaults
    tasks: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    reference: str = "baseline"  # the strategy every other one is paired with in reports
    output: Path = Path("runs/default")
    limit: int | None = None
    sample_ids: list[str] | None = None
    seed: int = 0
    concurrency: int = 4
    batch_size: int = 4
    prefetch: int | None = None  # requests per local model prepared ahead (None: 2 x batch_size; 0: none)
    fail_on_error: bool = False
    require_audio: bool = False  # an audio-visual sample whose target heard no audio is an error, not a note
    overwrite: bool = False
    progress: bool = True
    decode_timeout: float = 120.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    data_root: Path | None = None  # where datasets live; generated datasets go under the cache by default
    plugins: list[str] = field(default_factory=list)
    strategy_settings: dict = field(default_factory=dict)  # [strategy.NAME] tables
    model_overrides: dict = field(default_factory=dict)  # [model.NAME] tables merged into cards
    trust_remote_code: bool = False  # --trust-remote-code: let cards that ask for it run code from the hub
    remote_code_allowed: list = field(default_factory=list)  # [security] trust_remote_code = [card or checkpoint, ...]
    task_settings: dict = field(default_factory=dict)  # [task.NAME] tables, checked by each task (Task.configure)
    modality: str = "av"  # av | video | audio | text: inputs every request keeps (modality ablation)
    reasoning_file: Path | None = None  # precomputed agent reasoning (avharness distill) for strategies that use it
    config_path: Path | None = None
    tables: dict = field(default_factory=dict)  # the whole harness.toml after --set, for plugins' own tables

    def table(self, *path: str) -> dict:
        """A table of harness.toml by its path, e.g. table("data", "avsynth"); {} when absent."""
        node = self.tables
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return dict(node) if isinstance(node, dict) else {}

    def to_json(self) -> dict:
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Path) else value
        return out


_RUN_KEYS = {"models", "tasks", "strategies", "output", "limit", "sample_ids", "seed", "concurrency",
             "batch_size", "prefetch", "fail_on_error", "require_audio", "overwrite", "reference", "progress", "decode_timeout", "modality"}


def apply_settings(data: dict, assignments: list[str]) -> dict:
    """`--set strategy.aurelia.threshold=7`: dotted harness.toml keys with TOML values (plain text as a string)."""
    for assignment in assignments or []:
        key, sep, raw = assignment.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not sep or not parts:
            raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE with a dotted key, e.g. strategy.aurelia.threshold=7")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {assignment!r}: '{part}' is not a table")
        node[parts[-1]] = value
    return data


def load_config(path: Path | None, flags: dict | None = None, assignments: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from a harness.toml (None: ./harness.toml if present, else the project's), `--set`
    assignments, and flags."""
    if path is None:
        for candidate in (Path.cwd() / "harness.toml", PROJECT_ROOT / "harness.toml"):
            if candidate.exists():
                path = candidate
                break
    data = apply_settings(read_toml(path) if path else {}, assignments or [])
    cfg = RunConfig(config_path=Path(path) if path else None)
    run = data.get("run", {})
    unknown = set(run) - _RUN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [run]: {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(_RUN_KEYS))}")
    for key, value in run.items():
        setattr(cfg, key, value)
    media = data.get("media", {})
    if "cache_dir" in media:
        cfg.cache_dir = Path(os.path.expanduser(media["cache_dir"]))
    if "decode_timeout" in media:
        cfg.decode_timeout = float(media["decode_timeout"])
    data_tbl = data.get("data", {})
    if "root" in data_tbl:
        cfg.data_root = Path(os.path.expanduser(data_tbl["root"]))
    cfg.plugins = list(data.get("plugins", {}).get("load", []))
    cfg.strategy_settings = dict(data.get("strategy", {}))
    cfg.model_overrides = dict(data.get("model", {}))
    cfg.task_settings = dict(data.get("task", {}))
    cfg.tables = data
    cfg.remote_code_allowed = list(data.get("security", {}).get("trust_remote_code", []))
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key == "plugins":
            cfg.plugins = cfg.plugins + list(value)
        else:
            setattr(cfg, key, value)
    cfg.output = Path(cfg.output)
    cfg.cache_dir = Path(cfg.cache_dir)
    for name in ("models", "tasks", "strategies"):
        value = getattr(cfg, name)
        if isinstance(value, str):
            setattr(cfg, name, [v.strip() for v in value.split(",") if v.strip()])
    if cfg.concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    from .types import MODALITIES

    if cfg.modality not in MODALITIES:
        raise ConfigError(f"modality must be one of {', '.join(MODALITIES)}, not {cfg.modality!r}")
    return cfg
