"""config -> plan -> samples -> (media, strategy, model) -> score -> journal -> report.

The runner loads each model once and finishes all of its work before releasing it; keeps up to
`concurrency` samples in flight (local adapters batch what arrives together; server-backed ones stay
busy); writes every record to the journal before it counts; and under a data-parallel launcher
(`accelerate launch`, `torchrun`) takes only its share of the work, deterministically.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import report
from .calls import add_usage
from .cards import ModelCard
from .config import RunConfig
from .environments import status as environment_status
from .errors import ConfigError, FailedOnError, UnknownName, describe_exception
from .journal import Journal, record_key
from .jsonl import KeyedStore
from .media import MediaStore
from .models import ModelHandle
from .plugins import Registry
from .strategy import Context, RunOptions, SettingsError, Strategy
from .tasks import DataProblem, Task
from .types import Record, Sample


@dataclass
class Shard:
    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> "Shard":
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        return cls(rank, world) if world > 1 else cls()

    def mine(self, index: int) -> bool:
        return index % self.world == self.rank


@dataclass
class Plan:
    cards: list[ModelCard]
    tasks: list[Task]
    strategies: list[Strategy]
    samples: dict[str, list[Sample]]  # task name -> samples, in manifest order
    problems: list[DataProblem] = field(default_factory=list)
    skipped_models: list[str] = field(default_factory=list)  # (name, reason) lines

    def items(self):
        """Every (card, task, strategy, sample) of the run, in a fixed order."""
        for card in self.cards:
            for task in self.tasks:
                for strategy in self.strategies:
                    for sample in self.samples[task.name]:
                        yield card, task, strategy, sample


@dataclass
class RunResult:
    output: Path
    results: dict
    finished: int = 0
    errors: int = 0
    interrupted: bool = False
    model_problems: list = field(default_factory=list)


def expand(names: list[str], known: dict, groups: dict, lookup) -> list[str]:
    out = []
    for name in names:
        if name == "all":
            out.extend(sorted(known))
        elif name in groups:
            out.extend(groups[name])
        else:
            lookup(name)  # raises UnknownName with suggestions
            out.append(name)
    return list(dict.fromkeys(out))


def environment_ready(card) -> bool:
    """A card's own environment exists (a stale one still runs: `env list` says it is stale)."""
    return environment_status(card).startswith(("ready", "stale"))


def build_plan(config: RunConfig, registry: Registry, log=print, targets_needed: bool = True) -> Plan:
    for what in ("models", "tasks", "strategies") if targets_needed else ("tasks", "strategies"):
        if not getattr(config, what):
            raise ConfigError(f"no {what} to run: name them with --{what} (or in harness.toml's [run] {what} = [...])")
    # "all" means every card meant to be evaluated: agent-only cards (text models serving a role) stay out
    targets = {n: c for n, c in registry.cards.items() if not c.get("agent_only")}
    card_names = expand(config.models, targets, {}, registry.card)
    cards = []
    skipped = []
    for name in card_names:
        card = registry.card(name).with_overrides(config.model_overrides.get(name, {}))
        if card.adapter not in registry.adapters:
            skipped.append(f"{name}: needs adapter '{card.adapter}', which no loaded plugin provides")
            continue
        refusal = card.remote_code_refusal(config)
        if refusal:
            skipped.append(refusal)
            continue
        if card.get("environment") and not environment_ready(card):
            skipped.append(f"{name}: runs in its own Python environment, which is {environment_status(card)}; "
                           f"create it with `avharness env create {name}`")
            continue
        cards.append(card)
    groups = registry.task_groups()
    for name, settings in config.task_settings.items():  # every [task.NAME] table is checked, run or not
        if name not in registry.tasks:
            raise ConfigError(f"[task.{name}] in harness.toml: {UnknownName('task', name, list(registry.tasks))}")
        registry.tasks[name].configure(settings)
    # "all" means AVReasonBench's tasks where they are registered (generated sets stay opt-in by name or group)
    task_names = expand(config.tasks, {n: 1 for n in groups.get("avreasonbench", registry.tasks)}, groups,
                        registry.task)
    tasks = [registry.task(n) for n in task_names]
    for task in tasks:
        task.provenance = registry.provenance("task", task.name)
        for role, card_name in task.roles().items():
            registry.card(card_name)  # an unknown judge card is a configuration mistake, said now
    strategies = []
    for name in expand(config.strategies, registry.strategies, {}, registry.strategy):
        cls = registry.strategy(name)
        try:
            strategy = cls(config.strategy_settings.get(name, {}))
        except SettingsError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"strategy '{name}': bad settings in [strategy.{name}]: {exc}") from None
        role_cards = {}
        for role, card_name in strategy.roles().items():
            card = registry.card(card_name).with_overrides(config.model_overrides.get(card_name, {}))
            if card.adapter not in registry.adapters:
                raise ConfigError(f"strategy '{name}': its {role} '{card_name}' needs adapter '{card.adapter}', "
                                  "which no loaded plugin provides")
            if card.remote_code_refusal(config):
                raise ConfigError(f"strategy '{name}': its {role}: {card.remote_code_refusal(config)}")
            role_cards[role] = card
        strategy.bind(role_cards, registry.provenance("strategy", name))  # both are part of its identity (hash)
        strategies.append(strategy)
    samples, problems = {}, []
    for task in tasks:
        data = task.load_samples(config)
        problems.extend(data.problems)
        chosen = data.samples
        if config.sample_ids:
            wanted = set(config.sample_ids)
            chosen = [s for s in chosen if s.id in wanted]
        if config.limit is not None:
            chosen = chosen[:config.limit]
        samples[task.name] = chosen
    return Plan(cards, tasks, strategies, samples, problems, skipped)


def _media_precheck(sample: Sample, timeout: float | None = None) -> None:
    """The checks of `avharness data validate`, per sample before any model work: every media file exists,
    is not empty, is media, and has the stream its kind needs (a file that stalls when opened: decode_timeout)."""
    from .validate import first_media_error

    error = first_media_error(sample, timeout=timeout)
    if error is not None:
        raise error


def _device(shard: Shard) -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', shard.rank)) % torch.cuda.device_count()}"
    except ImportError:  # pragma: no cover
        pass
    return "cpu"


class Runner:
    def __init__(self, config: RunConfig, registry: Registry, log=None):
        self.config = config
        self.registry = registry
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.shard = Shard.from_env()
        self.media = MediaStore(config.cache_dir / "media", timeout=config.decode_timeout)
        self.journal = Journal(config.output, self.shard.rank, self.shard.world)
        self.options = RunOptions(modality=config.modality, output=config.output, work_file=config.reasoning_file,
                                  seed=config.seed)
        self.agents: dict[str, ModelHandle] = {}  # card name -> loaded agent or judge model, for the whole run
        self.stores: dict[str, KeyedStore] = {}  # strategy name -> its durable per-sample work

    def plugins_of(self, card: ModelCard, task: Task, strategy: Strategy) -> dict:
        """Which plugin distribution (and version) provided each part of a record: the resume check compares it."""
        reg = self.registry
        return {k: v for k, v in {"adapter": reg.provenance("adapter", card.adapter),
                                  "card": reg.provenance("model", card.name),
                                  "task": task.provenance, "strategy": strategy.provenance}.items() if v}

    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        plan = build_plan(cfg, self.registry, self.log)
        for line in plan.skipped_models:
            self.log(f"skipping model {line}")
        for problem in plan.problems:
            self.log(f"data: {problem}")
        planned = [(c.name, c.hash, t.name, s.name, s.hash, cfg.modality, self.plugins_of(c, t, s))
                   for c in plan.cards for t in plan.tasks for s in plan.strategies]
        existing = self.journal.read()
        if cfg.overwrite and self.shard.rank == 0:
            dropped = self.journal.discard(planned)
            if dropped:
                self.log(f"--overwrite: discarded {dropped} earlier record(s) made with other settings")
            existing = self.journal.read()
        self.journal.check_settings(planned, existing)
        done = {r.key for r in existing}

        work: dict[str, list] = {}
        already = 0
        for index, (card, task, strategy, sample) in enumerate(plan.items()):
            if record_key(card.hash, task.name, strategy.hash, sample.id, cfg.modality) in done:
                already += 1
            elif self.shard.mine(index):  # shards cut the whole plan, so any process count resumes
                work.setdefault(card.name, []).append((task, strategy, sample))
        total = sum(len(v) for v in work.values())
        if already:
            self.log(f"resuming: {already} record(s) already in {cfg.output}, {total} to do")

        result = RunResult(cfg.output, {})
        bar = _progress(total, cfg.progress and total > 0)
        for strategy in plan.strategies:
            strategy.setup(self.options)
        try:
            asyncio.run(self._run_all(plan, work, bar, result))  # one event loop for the whole run
        except KeyboardInterrupt:
            result.interrupted = True
            self.log("\ninterrupted: every finished record is in the journal; rerun the same command to resume")
        finally:
            bar.close()
            for strategy in plan.strategies:
                strategy.finish()
            for handle in {id(h): h for h in self.agents.values() if h}.values():
                handle.close()
            for store in self.stores.values():
                store.close()
            self.journal.close()
            self.media.close()
        if result.interrupted:
            return result
        self._barrier()
        if self.shard.rank == 0:
            result.results = report.write(cfg, plan, self.journal.read(), result.model_problems,
                                          self.registry, elapsed=time.time() - started,
                                          agent_cards=[h.adapter.card for h in self.agents.values()])
        return result

    async def _run_all(self, plan: Plan, work: dict, bar, result: RunResult) -> None:
        _enough_threads(self.config.concurrency)
        self._load_agents(plan, work, bar, result)
        for card in plan.cards:
            items = work.get(card.name)
            if items:
                await self._run_model(card, items, bar, result)

    def _load(self, card: ModelCard):
        adapter_cls = self.registry.adapter(card.adapter)
        adapter = adapter_cls(card, self.media, _device(self.shard))
        adapter.load()
        return adapter

    def _load_agents(self, plan: Plan, work: dict, bar, result: RunResult) -> None:
        """Load every model that strategies with work left (agents) and tasks (judges) need, once for the
        whole run. A strategy whose agent cannot load is skipped with one message (its samples stay undone,
        for a later resume); a task whose judge cannot load scores with its automatic metric, said once."""
        pending = {s.name for items in work.values() for _, s, _ in items}
        skip = self.load_agents([s for s in plan.strategies if s.name in pending], result)
        if skip:
            for card_name, items in work.items():
                kept = [item for item in items if item[1].name not in skip]
                bar.update(len(items) - len(kept))
                work[card_name] = kept
        for task in plan.tasks:
            for role, name in task.roles().items():
                if name in self.agents:
                    continue
                card = self.registry.card(name).with_overrides(self.config.model_overrides.get(name, {}))
                if not self._load_role(card, role, f"{role} model {name} of task {task.name}", task.name,
                                       f"scoring {task.name} with {task.metric}", result):
                    self.agents[name] = None

    def _handle(self, adapter, role: str = "target") -> ModelHandle:
        return ModelHandle(adapter, self.config.batch_size, role=role, modality=self.config.modality,
                           prefetch=self.config.prefetch)

    def load_agents(self, strategies: list[Strategy], result: RunResult) -> set[str]:
        """Load the agents of these strategies; return the names of strategies that cannot run."""
        broken: set[str] = set()
        for strategy in strategies:
            for role, name in strategy.roles().items():
                if name in self.agents or name in broken:
                    continue
                card = strategy.role_cards.get(role) or self.registry.card(name)
                if not self._load_role(card, role, f"agent model {name} ({role} of {strategy.name})", strategy.name,
                                       f"skipping {strategy.name}", result):
                    broken.add(name)
        return {s.name for s in strategies if set(s.roles().values()) & broken}

    def _load_role(self, card: ModelCard, role: str, who: str, owner: str, then: str, result: RunResult) -> bool:
        """Load a model that serves a role for the whole run; a failure is said once and recorded."""
        try:
            self.agents[card.name] = self._handle(self._load(card), role)
            return True
        except Exception as exc:
            info = describe_exception(exc)
            self.log(f"{who} could not load: {info['type']}: {info['message']}; {then}")
            result.model_problems.append({"model": card.name, "role": f"{owner}.{role}", **info})
            return False

    def store(self, strategy: Strategy) -> KeyedStore | None:
        """The strategy's durable per-sample work: OUTPUT/<store_name>.jsonl, plus a --reasoning file."""
        if strategy.store_name is None:
            return None
        if strategy.name not in self.stores:
            path = Path(self.config.output) / f"{strategy.store_name}.jsonl" if self.config.output else None
            sources = [self.options.work_file] if self.options.work_file else []
            self.stores[strategy.name] = KeyedStore(path, sources)
        return self.stores[strategy.name]

    def context(self, strategy: Strategy) -> Context:
        """A fresh context for one sample: the strategy's agents by role, its store, an empty usage ledger."""
        return Context(models={role: self.agents[name] for role, name in strategy.roles().items()},
                       store=self.store(strategy), options=self.options)

    def _task_context(self, task: Task, ctx: Context) -> Context:
        """The scoring stage's context: the task's models (a judge) by role; usage and notes go to the same
        sample ledger as the strategy's."""
        models = {role: self.agents[name] for role, name in task.roles().items() if self.agents.get(name)}
        return Context(models=models, options=self.options, usage=ctx.usage, notes=ctx.notes)

    async def _run_model(self, card: ModelCard, items: list, bar, result: RunResult) -> None:
        shared = self.agents.get(card.name)
        if shared is not None and shared.adapter.card.hash == card.hash:
            handle = shared  # the target is also an agent: one loaded copy serves both
        else:
            try:
                handle = self._handle(self._load(card))
            except Exception as exc:  # no weights, not installed, out of memory: report once, go on
                info = describe_exception(exc)
                self.log(f"model {card.name} could not load: {info['type']}: {info['message']}; skipping it")
                result.model_problems.append({"model": card.name, **info})
                bar.update(len(items))
                return
        try:
            await self._run_items(card, handle, items, bar, result)
        finally:
            if handle is not shared:
                handle.close()

    async def _run_items(self, card, handle, items, bar, result: RunResult) -> None:
        limit = asyncio.Semaphore(self.config.concurrency)

        async def one(task, strategy, sample):
            async with limit:
                record = await self._one(card, handle, task, strategy, sample)
            self.journal.append(record)
            result.finished += 1
            result.errors += record.error is not None
            bar.update(1)
            if record.error and self.config.fail_on_error:
                raise FailedOnError(f"{card.name} x {task.name} x {strategy.name} x {sample.id}: "
                                   f"{record.error['type']}: {record.error['message']} (--fail-on-error)")

        await asyncio.gather(*(one(*item) for item in items))

    async def _one(self, card, handle, task: Task, strategy: Strategy, sample: Sample) -> Record:
        """media check -> strategy -> scoring stage, for one sample; every exception becomes the record's error."""
        modality = self.config.modality
        key = record_key(card.hash, task.name, strategy.hash, sample.id, modality)
        rec = Record(model=card.name, task=task.name, strategy=strategy.name, sample_id=sample.id, key=key,
                     model_hash=card.hash, strategy_hash=strategy.hash, category=sample.category, modality=modality,
                     metric=task.metric, graded=task.is_graded, plugins=self.plugins_of(card, task, strategy))
        ctx = self.context(strategy)
        start = time.perf_counter()
        outcome = None
        try:
            # it opens files: keep the event loop free
            await asyncio.to_thread(_media_precheck, sample, self.config.decode_timeout)
            outcome = await strategy(sample, handle, ctx)
            rec.prediction, rec.trace = outcome.text, list(outcome.trace)
            scoring = time.perf_counter()
            score = await task.grade(sample, outcome.text, self._task_context(task, ctx))
            rec.score_seconds = time.perf_counter() - scoring
            rec.parsed, rec.score, rec.unparseable = score.parsed, score.value, score.unparseable
            if score.detail:
                rec.trace.append({"step": "score", **score.detail})
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # errors are data: this sample fails, the run goes on
            rec.error = describe_exception(exc)
            rec.trace = rec.trace or list(getattr(exc, "trace", []))  # what a strategy did before it gave up
        rec.usage = add_usage(add_usage({}, outcome.usage if outcome else {}), ctx.usage)
        rec.media = [*(outcome.media if outcome else []), *ctx.media]
        rec.notes = list(dict.fromkeys([*(outcome.notes if outcome else []), *ctx.notes]))
        self._check_audio(rec, task, handle)
        rec.seconds = time.perf_counter() - start
        return rec

    def _check_audio(self, rec: Record, task: Task, handle) -> None:
        """The guard against a soundtrack that silently stopped reaching the model: a sample of an
        audio-visual task, run with audio, given to a target that hears, whose every target call received no
        audio (by the adapter's receipt) is flagged; with --require-audio it is that sample's error."""
        if rec.error or not getattr(task, "needs_audio", True) or rec.modality not in ("av", "audio"):
            return
        if not handle.adapter.accepts.audio:
            return
        received = [m for m in rec.media if m.get("role") == "target"]
        if not received or any(m.get("audio") for m in received):
            return  # no receipt (the adapter does not report one), or audio arrived
        rec.audio_missing = True
        message = f"{rec.model} hears, but no audio reached it for this audio-visual sample"
        if self.config.require_audio:
            rec.error = {"type": "audio_missing", "message": message + " (--require-audio)"}
        elif f"audio_missing: {message}" not in rec.notes:
            rec.notes.append(f"audio_missing: {message}")

    def _barrier(self) -> None:
        """Under a data-parallel launcher, wait until every process has written its journal shard."""
        if self.shard.world == 1:
            return
        import datetime

        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo works on CPU and beside NCCL; a long timeout because shards can finish far apart
            dist.init_process_group("gloo", rank=self.shard.rank, world_size=self.shard.world,
                                    timeout=datetime.timedelta(days=7))
        dist.barrier()
        dist.destroy_process_group()


def _enough_threads(concurrency: int) -> None:
    """Model calls run in worker threads; asyncio's default pool has cpu_count + 4 of them, which would cap
    server-backed agents below --concurrency on small machines."""
    import concurrent.futures

    workers = max(8, 4 * concurrency)
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model"))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="sample", dynamic_ncols=True, file=sys.stderr,
                desc="avharness")


def distill(config: RunConfig, registry: Registry, out: Path, strategy_name: str, log=None) -> dict:
    """Run only a strategy's agent work over the tasks' samples, keeping one record per sample in `out` (the
    strategy's store, JSON Lines, appended and fsynced; a rerun skips what is there). Any strategy that declares
    agent work (`store_name`, `work_key`, `distill`) can be distilled. Returns counts."""
    import dataclasses

    log = log or (lambda msg: print(msg, file=sys.stderr))
    cfg = dataclasses.replace(config, models=[], strategies=[strategy_name], output=None, reasoning_file=None)
    plan = build_plan(cfg, registry, log, targets_needed=False)
    strategy = plan.strategies[0]
    if not strategy.has_agent_work():
        raise ConfigError(f"strategy '{strategy_name}' declares no agent work to distill")
    for problem in plan.problems:
        log(f"data: {problem}")
    out = Path(out)
    runner = Runner(dataclasses.replace(cfg, output=out.parent), registry, log)
    runner.options = RunOptions(modality=cfg.modality, output=None, seed=cfg.seed)
    store = KeyedStore(out)
    runner.stores[strategy.name] = store
    strategy.setup(runner.options)
    samples = [s for t in plan.tasks for s in plan.samples[t.name]]
    todo = [s for s in samples if strategy.work_key(s) not in store]
    counts = {"samples": len(samples), "already": len(samples) - len(todo), "written": 0, "errors": 0}
    result = RunResult(out.parent, {})
    if todo and runner.load_agents([strategy], result):
        raise ConfigError("cannot distill: " + "; ".join(f"{p['model']}: {p['message']}" for p in result.model_problems))
    bar = _progress(len(todo), cfg.progress and bool(todo))

    async def main():
        _enough_threads(cfg.concurrency)
        limit = asyncio.Semaphore(cfg.concurrency)

        async def one(sample):
            async with limit:
                try:
                    await asyncio.to_thread(_media_precheck, sample, cfg.decode_timeout)
                    record = await strategy.distill(sample, runner.context(strategy))
                except (KeyboardInterrupt, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    info = describe_exception(exc)
                    log(f"{sample.task} {sample.id}: {info['type']}: {info['message']}")
                    counts["errors"] += 1
                    bar.update(1)
                    return
            key = strategy.work_key(sample)
            if key not in store:  # a strategy that did not keep its record in ctx.store itself
                store.put(key, record)
            counts["written"] += 1
            bar.update(1)

        await asyncio.gather(*(one(s) for s in todo))

    try:
        if todo:
            asyncio.run(main())
    except KeyboardInterrupt:
        counts["interrupted"] = True
        log("\ninterrupted: every finished record is in the file; rerun the same command to resume")
    finally:
        bar.close()
        strategy.finish()
        for handle in runner.agents.values():
            handle.close()
        store.close()
        runner.journal.close()
        runner.media.close()
    return counts
