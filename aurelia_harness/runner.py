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
from .cards import ModelCard
from .config import RunConfig
from .errors import ConfigError, FailedOnError, describe_exception
from .journal import Journal, record_key
from .media import MediaEmpty, MediaMissing, MediaStore
from .models import ModelHandle
from .plugins import Registry
from .strategy import Context, Strategy
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


def build_plan(config: RunConfig, registry: Registry, log=print) -> Plan:
    card_names = expand(config.models, registry.cards, {}, registry.card)
    cards = []
    skipped = []
    for name in card_names:
        card = registry.card(name).with_overrides(config.model_overrides.get(name, {}))
        if card.adapter not in registry.adapters:
            skipped.append(f"{name}: needs adapter '{card.adapter}', which no loaded plugin provides")
            continue
        cards.append(card)
    task_names = expand(config.tasks, registry.tasks, registry.task_groups(), registry.task)
    tasks = [registry.task(n) for n in task_names]
    strategies = []
    for name in expand(config.strategies, registry.strategies, {}, registry.strategy):
        cls = registry.strategy(name)
        settings = config.strategy_settings.get(name, {})
        try:
            strategies.append(cls(settings))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"strategy '{name}': bad settings in [strategy.{name}]: {exc}") from None
    samples, problems = {}, []
    for task in tasks:
        data = task.load(config)
        problems.extend(data.problems)
        chosen = data.samples
        if config.sample_ids:
            wanted = set(config.sample_ids)
            chosen = [s for s in chosen if s.id in wanted]
        if config.limit is not None:
            chosen = chosen[:config.limit]
        samples[task.name] = chosen
    return Plan(cards, tasks, strategies, samples, problems, skipped)


def _media_precheck(sample: Sample) -> None:
    """Cheap checks before any model work: every media file exists and is not empty."""
    for item in sample.media:
        if not item.path.exists():
            raise MediaMissing(item.path, "file does not exist")
        if item.path.stat().st_size == 0:
            raise MediaEmpty(item.path, "file is empty (0 bytes)")


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
        self.strategy_cache: dict = {}

    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        plan = build_plan(cfg, self.registry, self.log)
        for line in plan.skipped_models:
            self.log(f"skipping model {line}")
        for problem in plan.problems:
            self.log(f"data: {problem}")
        planned = [(c.name, c.hash, t.name, s.name, s.hash) for c in plan.cards for t in plan.tasks
                   for s in plan.strategies]
        existing = self.journal.read()
        if cfg.overwrite and self.shard.rank == 0:
            combos = {(m, t, s): (mh, sh) for m, mh, t, s, sh in planned}
            dropped = self.journal.discard(set(combos), combos)
            if dropped:
                self.log(f"--overwrite: discarded {dropped} earlier record(s) made with other settings")
            existing = self.journal.read()
        self.journal.check_settings(planned, existing)
        done = {r.key for r in existing}

        work: dict[str, list] = {}
        for index, (card, task, strategy, sample) in enumerate(plan.items()):
            if not self.shard.mine(index):
                continue
            if record_key(card.hash, task.name, strategy.hash, sample.id) in done:
                continue
            work.setdefault(card.name, []).append((task, strategy, sample))
        total = sum(len(v) for v in work.values())
        already = len([1 for c, t, s, x in plan.items()
                       if record_key(c.hash, t.name, s.hash, x.id) in done])
        if already:
            self.log(f"resuming: {already} record(s) already in {cfg.output}, {total} to do")

        result = RunResult(cfg.output, {})
        bar = _progress(total, cfg.progress and total > 0)
        try:
            for card in plan.cards:
                items = work.get(card.name)
                if not items:
                    continue
                self._run_model(card, plan, items, bar, result)
        except KeyboardInterrupt:
            result.interrupted = True
            self.log("\ninterrupted: every finished record is in the journal; rerun the same command to resume")
        finally:
            bar.close()
            self.journal.close()
            self.media.close()
        if result.interrupted:
            return result
        self._barrier()
        if self.shard.rank == 0:
            result.results = report.write(cfg, plan, self.journal.read(), result.model_problems,
                                          self.registry, elapsed=time.time() - started)
        return result

    def _run_model(self, card: ModelCard, plan: Plan, items: list, bar, result: RunResult) -> None:
        try:
            adapter_cls = self.registry.adapter(card.adapter)
            adapter = adapter_cls(card, self.media, _device(self.shard))
            adapter.load()
        except Exception as exc:  # no weights, not installed, out of memory: report once, go on
            info = describe_exception(exc)
            self.log(f"model {card.name} could not load: {info['type']}: {info['message']}; skipping it")
            result.model_problems.append({"model": card.name, **info})
            bar.update(len(items))
            return
        handle = ModelHandle(adapter, self.config.batch_size)
        try:
            asyncio.run(self._run_items(card, handle, items, bar, result))
        finally:
            adapter.close()

    async def _run_items(self, card, handle, items, bar, result: RunResult) -> None:
        limit = asyncio.Semaphore(self.config.concurrency)
        ctx_by_strategy = {}

        async def one(task, strategy, sample):
            async with limit:
                ctx = ctx_by_strategy.setdefault(
                    strategy.name, Context(cache=self.strategy_cache.setdefault(strategy.hash, {}),
                                           seed=self.config.seed))
                record = await self._one(card, handle, task, strategy, sample, ctx)
            self.journal.append(record)
            result.finished += 1
            result.errors += record.error is not None
            bar.update(1)
            if record.error and self.config.fail_on_error:
                raise FailedOnError(f"{card.name} x {task.name} x {strategy.name} x {sample.id}: "
                                   f"{record.error['type']}: {record.error['message']} (--fail-on-error)")

        await asyncio.gather(*(one(*item) for item in items))

    async def _one(self, card, handle, task: Task, strategy: Strategy, sample: Sample, ctx) -> Record:
        key = record_key(card.hash, task.name, strategy.hash, sample.id)
        rec = Record(model=card.name, task=task.name, strategy=strategy.name, sample_id=sample.id, key=key,
                     model_hash=card.hash, strategy_hash=strategy.hash, category=sample.category)
        start = time.perf_counter()
        try:
            _media_precheck(sample)
            outcome = await strategy(sample, handle, ctx)
            score = task.score(sample, outcome.text)
            rec.prediction, rec.trace, rec.usage, rec.notes = outcome.text, outcome.trace, outcome.usage, outcome.notes
            rec.parsed, rec.score, rec.unparseable = score.parsed, score.value, score.unparseable
            if score.detail:
                rec.trace = rec.trace + [{"step": "score", **score.detail}]
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # errors are data: this sample fails, the run goes on
            rec.error = describe_exception(exc)
        rec.seconds = time.perf_counter() - start
        return rec

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


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="sample", dynamic_ncols=True, file=sys.stderr,
                desc="avharness")
