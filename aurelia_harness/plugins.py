"""Plugin discovery and the registry of what plugins registered.

Sources, in order: installed distributions' entry points in the group `avharness` (the first-party
plugins register there too), then `--plugin` values and harness.toml's `[plugins] load` list (a module
name, a .py file, a package folder, or TOML files alone: a model card, a task definition, or a folder of them). A plugin that fails to import or to register is recorded with its
exception; everything else keeps working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from . import hookspecs
from .cards import ModelCard, load_card
from .errors import UnknownName

ENTRY_POINT_GROUP = "avharness"


@dataclass
class PluginProblem:
    plugin: str
    stage: str  # "import" | hook name
    error: str
    detail: str = ""


@dataclass
class Registry:
    adapters: dict = field(default_factory=dict)
    cards: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    strategies: dict = field(default_factory=dict)
    data_tools: dict = field(default_factory=dict)  # `avharness data NAME` -> tool
    loaded: list = field(default_factory=list)  # plugin names that imported and registered
    problems: list = field(default_factory=list)
    origin: dict = field(default_factory=dict)  # ("task", name) -> plugin name
    distributions: dict = field(default_factory=dict)  # plugin name -> "dist version" (or a file's content hash)

    def provenance(self, kind: str, name: str) -> str:
        """Which plugin (distribution and version) registered this adapter, card, task or strategy."""
        plugin = self.origin.get((kind, name))
        if plugin is None:
            return ""
        return self.distributions.get(plugin) or plugin

    def adapter(self, name: str):
        if name not in self.adapters:
            raise UnknownName("model adapter", name, list(self.adapters))
        return self.adapters[name]

    def card(self, name: str) -> ModelCard:
        if name not in self.cards:
            raise UnknownName("model", name, list(self.cards))
        return self.cards[name]

    def task(self, name: str):
        if name not in self.tasks:
            raise UnknownName("task", name, list(self.tasks) + sorted(self.task_groups()))
        return self.tasks[name]

    def strategy(self, name: str):
        if name not in self.strategies:
            raise UnknownName("strategy", name, list(self.strategies))
        return self.strategies[name]

    def task_groups(self) -> dict[str, list[str]]:
        """Names that stand for several tasks, e.g. 'avsynth' for every avsynth-* task."""
        groups: dict[str, list[str]] = {}
        for name, task in self.tasks.items():
            for group in getattr(task, "groups", ()):
                groups.setdefault(group, []).append(name)
        return {g: sorted(v) for g, v in groups.items()}


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("avharness")
    pm.add_hookspecs(hookspecs)
    return pm


def _task_from_file(path: Path):
    from .config import read_toml
    from .tasks import ManifestTask

    return ManifestTask(read_toml(path), str(path))


def _toml_plugin(path: Path):
    """A plugin made of TOML files alone: one file, or every .toml under a folder; each is a model card
    (it names an `adapter`) or a task definition (it names an `answer_form`)."""
    from .config import read_toml
    from .errors import ConfigError

    cards, tasks = [], []
    for file in [path] if path.is_file() else sorted(path.rglob("*.toml")):
        data = read_toml(file)
        if "adapter" in data:
            cards.append(load_card(file))
        elif "answer_form" in data:
            tasks.append(_task_from_file(file))
        else:
            raise ConfigError(f"{file}: neither a model card (it would name an `adapter`) nor a task definition "
                              "(it would name an `answer_form`)")
    plugin = types.ModuleType(f"avharness_toml_{path.stem}")

    @hookspecs.hookimpl
    def register_model_cards(register):
        for card in cards:
            register(card)

    @hookspecs.hookimpl
    def register_tasks(register):
        for task in tasks:
            register(task)

    plugin.register_model_cards = register_model_cards
    plugin.register_tasks = register_tasks
    return plugin


def _import_path(spec: str):
    """Import a plugin given as a module name, a .py file, a package folder, or TOML files (a model card, a
    task definition, or a folder of them)."""
    path = Path(spec)
    if path.suffix == ".toml" or (path.is_dir() and not (path / "__init__.py").exists()
                                  and any(path.rglob("*.toml"))):
        return _toml_plugin(path.resolve())
    if path.suffix == ".py" or path.is_dir() or path.exists():
        path = path.resolve()
        if path.is_dir():
            init = path / "__init__.py"
            name = f"avharness_local_{path.name}"
            module_spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(path)])
        else:
            name = f"avharness_local_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load a plugin from {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def discover(extra: list[str] | tuple[str, ...] = (), entry_points: bool = True,
             modules: list | tuple = ()) -> Registry:
    """Load plugins and collect what they register. `modules` are already-imported plugin objects
    (tests register plugins this way, as simonw/llm's tests do)."""
    registry = Registry()
    candidates: list[tuple[str, object]] = []
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = _distribution(ep)
            if dist:
                registry.distributions[ep.name] = dist
            try:
                candidates.append((ep.name, ep.load()))
            except Exception as exc:  # a broken third-party plugin must not take the harness down
                name = dist.split()[0] if dist else ""
                where = f" (from the distribution {name}: `pip uninstall {name}` removes it)" if dist else ""
                registry.problems.append(PluginProblem(ep.name, "import", _short(exc) + where,
                                                       traceback.format_exc()))
    for spec in extra:
        try:
            candidates.append((str(spec), _import_path(str(spec))))
            registry.distributions[str(spec)] = _file_identity(Path(spec))
        except Exception as exc:
            registry.problems.append(PluginProblem(str(spec), "import", _short(exc), traceback.format_exc()))
    for i, module in enumerate(modules):
        candidates.append((getattr(module, "__name__", f"plugin{i}"), module))

    pm = _make_manager()
    for name, module in candidates:
        if pm.is_registered(module):
            continue
        try:
            pm.register(module, name=name)
        except Exception as exc:
            registry.problems.append(PluginProblem(name, "register", _short(exc)))
            continue
        ok = _collect(pm, name, module, registry)
        if ok:
            registry.loaded.append(name)
    return registry


def _distribution(ep) -> str:
    """ "name version" of the installed distribution that declares this entry point ("" when unknown), with a
    short digest of the hashes pip recorded for its Python files, so a reinstall of changed code under the
    same version is a changed plugin too (editable installs record no file hashes: their version alone)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ""
    import hashlib

    identity = f"{dist.metadata['Name']} {dist.version}"
    record = dist.read_text("RECORD") or ""
    hashed = sorted(line for line in record.splitlines() if ".py," in line and ",sha256=" in line)
    if hashed:
        identity += "+" + hashlib.sha256("\n".join(hashed).encode()).hexdigest()[:8]
    return identity


def _file_identity(path: Path) -> str:
    """A plugin loaded from a path: its path and the hash of its files, so an edited plugin is a changed one."""
    import hashlib

    path = Path(path)
    if not path.exists():
        return str(path)
    files = sorted(p for p in (path.rglob("*") if path.is_dir() else [path]) if p.is_file()
                   and p.suffix in (".py", ".toml", ".txt", ".json", ".jinja"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + f.read_bytes())
    return f"{path.resolve()} sha256:{digest.hexdigest()[:12]}"


def _collect(pm: pluggy.PluginManager, name: str, module, registry: Registry) -> bool:
    """Call each hook of one plugin on its own, so one failing hook is reported and the rest still count."""

    def reg_adapter(adapter_name, cls):
        registry.adapters[adapter_name] = cls
        registry.origin[("adapter", adapter_name)] = name

    def reg_card(card):
        if not isinstance(card, ModelCard):
            card = load_card(Path(card))
        registry.cards[card.name] = card
        registry.origin[("model", card.name)] = name

    def reg_task(task):
        if isinstance(task, (str, Path)) and str(task).endswith(".toml"):
            task = _task_from_file(Path(task))
        registry.tasks[task.name] = task
        registry.origin[("task", task.name)] = name

    def reg_strategy(strategy_name, cls):
        registry.strategies[strategy_name] = cls
        registry.origin[("strategy", strategy_name)] = name

    def reg_data_tool(tool_name, tool):
        registry.data_tools[tool_name] = tool
        registry.origin[("data tool", tool_name)] = name

    ok = True
    hooks = [("register_model_adapters", reg_adapter), ("register_model_cards", reg_card),
             ("register_tasks", reg_task), ("register_strategies", reg_strategy),
             ("register_data_tools", reg_data_tool)]
    for hook_name, register in hooks:
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is not module:
                continue
            try:
                impl.function(register=register)
            except Exception as exc:
                ok = False
                registry.problems.append(PluginProblem(name, hook_name, _short(exc), traceback.format_exc()))
    return ok
