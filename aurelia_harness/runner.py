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
from .environments import status as environment_status
from .config import RunConfig
from .errors import ConfigError, FailedOnError, describe_exception
from .journal import Journal, record_key
from .media import MediaStore
from .models import ModelHandle
from .plugins import Registry
from .strategy import Context, Strategy
from .tasks import DataProblem, Task
from .types import Record, Request, Sample


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


def build_plan(config: RunConfig, registry: Registry, log=print) -> Plan:
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
    # "all" means AVReasonBench's tasks where they are registered (AVSynth stays opt-in by name or group)
    task_names = expand(config.tasks, {n: 1 for n in groups.get("avreasonbench", registry.tasks)}, groups,
                        registry.task)
    tasks = [registry.task(n) for n in task_names]
    strategies = []
    for name in expand(config.strategies, registry.strategies, {}, registry.strategy):
        cls = registry.strategy(name)
        settings = config.strategy_settings.get(name, {})
        try:
            strategy = cls(settings)
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
        strategy.bind(role_cards)  # part of the strategy's identity (hash) where it uses agents
        strategies.append(strategy)
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
    """The checks of `avharness data validate`, per sample before any model work: every media file exists,
    is not empty, is media, and has the stream its kind needs."""
    from .validate import first_media_error

    error = first_media_error(sample)
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
        self.strategy_cache: dict = {}
        self.agents: dict[str, ModelHandle] = {}  # card name -> loaded agent model, for the whole run
        self.judges: dict[str, ModelHandle | None] = {}  # judge card name -> loaded model (None: failed)

    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        plan = build_plan(cfg, self.registry, self.log)
        for line in plan.skipped_models:
            self.log(f"skipping model {line}")
        for problem in plan.problems:
            self.log(f"data: {problem}")
        planned = [(c.name, c.hash, t.name, s.name, s.hash, cfg.modality) for c in plan.cards for t in plan.tasks
                   for s in plan.strategies]
        existing = self.journal.read()
        if cfg.overwrite and self.shard.rank == 0:
            combos = {(m, t, s, mo): (mh, sh) for m, mh, t, s, sh, mo in planned}
            dropped = self.journal.discard(set(combos), combos)
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
            strategy.setup(cfg.output, {"reasoning_file": cfg.reasoning_file, "modality": cfg.modality})
        try:
            self._load_agents(plan, work, bar, result)
            self._load_judges(plan, result)
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
            for strategy in plan.strategies:
                strategy.finish()
            for handle in {id(h): h for h in [*self.agents.values(), *self.judges.values()] if h}.values():
                handle.close()
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

    def _load(self, card: ModelCard):
        adapter_cls = self.registry.adapter(card.adapter)
        adapter = adapter_cls(card, self.media, _device(self.shard))
        adapter.load()
        return adapter

    def _load_agents(self, plan: Plan, work: dict, bar, result: RunResult) -> None:
        """Load every agent model that strategies with work left need, once for the whole run. A strategy
        whose agent cannot load is skipped with one message (its samples stay undone, for a later resume)."""
        pending = {s.name for items in work.values() for _, s, _ in items}
        skip = self.load_agents([s for s in plan.strategies if s.name in pending], result)
        if skip:
            for card_name, items in work.items():
                kept = [item for item in items if item[1].name not in skip]
                bar.update(len(items) - len(kept))
                work[card_name] = kept

    def _load_judges(self, plan: Plan, result: RunResult) -> None:
        """Judge models of tasks that score with one; a judge that cannot load leaves its task on its
        automatic metric, said once."""
        for task in plan.tasks:
            name = getattr(task, "judge", None)
            if not name or name in self.judges:
                continue
            try:
                card = self.registry.card(name).with_overrides(self.config.model_overrides.get(name, {}))
                self.judges[name] = self.agents.get(name) or ModelHandle(self._load(card), self.config.batch_size,
                                                                         role="judge", modality=self.config.modality)
            except Exception as exc:
                info = describe_exception(exc)
                self.log(f"judge model {name} of task {task.name} could not load: {info['type']}: {info['message']}; "
                         f"scoring {task.name} with its automatic metric")
                result.model_problems.append({"model": name, "role": f"{task.name}.judge", **info})
                self.judges[name] = None

    async def _judge(self, task, sample: Sample, outcome, rec: Record) -> None:
        """Score with the task's judge model and rubric; keep its score and rationale in the record."""
        from .replies import parse_score, rationale
        from .strategy import call, media_parts
        from .types import Message, TextPart

        handle = self.judges.get(task.judge)
        if handle is None:
            rec.notes.append(f"judge {task.judge} unavailable: scored with {task.metric}")
            return
        prompt = task.judge_request_text(sample, outcome.text)
        request = Request((Message("user", tuple(media_parts(sample)) + (TextPart(prompt),)),), max_new_tokens=128)
        reply = await call(handle, request, outcome, "judge")
        parsed = parse_score(reply.text)
        if parsed.score is None:  # one re-ask, then the answer counts as unparseable
            reply = await call(handle, request, outcome, "judge")
            parsed = parse_score(reply.text)
        rec.usage = outcome.usage
        rec.trace.append({"step": "judge", "model": task.judge, "score": parsed.score, "notes": parsed.notes,
                          "rationale": rationale(reply.text), "reply": reply.text, "automatic": rec.score})
        rec.score = None if parsed.score is None else parsed.score / 10
        rec.unparseable = parsed.score is None

    def load_agents(self, strategies: list[Strategy], result: RunResult) -> set[str]:
        """Load the agents of these strategies; return the names of strategies that cannot run."""
        broken: set[str] = set()
        for strategy in strategies:
            for role, name in strategy.roles().items():
                if name in self.agents or name in broken:
                    continue
                card = strategy.role_cards.get(role) or self.registry.card(name)
                try:
                    self.agents[name] = ModelHandle(self._load(card), self.config.batch_size, role=role,
                                                    modality=self.config.modality)
                except Exception as exc:
                    info = describe_exception(exc)
                    self.log(f"agent model {name} ({role} of {strategy.name}) could not load: "
                             f"{info['type']}: {info['message']}; skipping {strategy.name}")
                    result.model_problems.append({"model": name, "role": f"{strategy.name}.{role}", **info})
                    broken.add(name)
        return {s.name for s in strategies if set(s.roles().values()) & broken}

    def context(self, strategy: Strategy) -> Context:
        return Context(models={role: self.agents[name] for role, name in strategy.roles().items()},
                       cache=self.strategy_cache.setdefault(strategy.hash, {}), seed=self.config.seed,
                       workdir=self.config.output)

    def _run_model(self, card: ModelCard, plan: Plan, items: list, bar, result: RunResult) -> None:
        shared = self.agents.get(card.name)
        if shared is not None and shared.adapter.card.hash == card.hash:
            handle = shared  # the target is also an agent: one loaded copy serves both
        else:
            try:
                handle = ModelHandle(self._load(card), self.config.batch_size, modality=self.config.modality)
            except Exception as exc:  # no weights, not installed, out of memory: report once, go on
                info = describe_exception(exc)
                self.log(f"model {card.name} could not load: {info['type']}: {info['message']}; skipping it")
                result.model_problems.append({"model": card.name, **info})
                bar.update(len(items))
                return
        try:
            asyncio.run(self._run_items(card, handle, items, bar, result))
        finally:
            if handle is not shared:
                handle.close()

    async def _run_items(self, card, handle, items, bar, result: RunResult) -> None:
        _enough_threads(self.config.concurrency)
        limit = asyncio.Semaphore(self.config.concurrency)
        ctx_by_strategy = {}

        async def one(task, strategy, sample):
            async with limit:
                if strategy.name not in ctx_by_strategy:
                    ctx_by_strategy[strategy.name] = self.context(strategy)
                ctx = ctx_by_strategy[strategy.name]
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
        modality = self.config.modality
        key = record_key(card.hash, task.name, strategy.hash, sample.id, modality)
        rec = Record(model=card.name, task=task.name, strategy=strategy.name, sample_id=sample.id, key=key,
                     model_hash=card.hash, strategy_hash=strategy.hash, category=sample.category, modality=modality,
                     metric=task.metric, graded=task.graded)
        start = time.perf_counter()
        try:
            _media_precheck(sample)
            outcome = await strategy(sample, handle, ctx)
            score = task.score(sample, outcome.text)
            rec.prediction, rec.trace, rec.usage, rec.notes = outcome.text, outcome.trace, outcome.usage, outcome.notes
            rec.parsed, rec.score, rec.unparseable = score.parsed, score.value, score.unparseable
            if score.detail:
                rec.trace = rec.trace + [{"step": "score", **score.detail}]
            if getattr(task, "judge", None):
                await self._judge(task, sample, outcome, rec)
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


def distill(config: RunConfig, registry: Registry, out: Path, strategy_name: str = "aurelia", log=None) -> dict:
    """Run only a strategy's agent loop over the tasks' samples and write one reasoning record per sample to
    `out` (JSON Lines, appended and fsynced; a rerun skips what is there). Returns counts."""
    import dataclasses
    import json

    log = log or (lambda msg: print(msg, file=sys.stderr))
    cfg = dataclasses.replace(config, models=[], strategies=[strategy_name])
    runner = Runner(cfg, registry, log)
    plan = build_plan(cfg, registry, log)
    strategy = plan.strategies[0]
    if not hasattr(strategy, "distill"):
        raise ConfigError(f"strategy '{strategy_name}' has no agent loop to distill")
    for problem in plan.problems:
        log(f"data: {problem}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strategy.setup(None, {"reasoning_file": out, "modality": cfg.modality})
    samples = [s for t in plan.tasks for s in plan.samples[t.name]]
    todo = [s for s in samples if strategy.key(s) not in strategy.done]
    counts = {"samples": len(samples), "already": len(samples) - len(todo), "written": 0, "errors": 0}
    result = RunResult(cfg.output, {})
    if todo and runner.load_agents([strategy], result):
        raise ConfigError("cannot distill: " + "; ".join(f"{p['model']}: {p['message']}" for p in result.model_problems))
    bar = _progress(len(todo), cfg.progress and bool(todo))

    async def main():
        _enough_threads(cfg.concurrency)
        limit = asyncio.Semaphore(cfg.concurrency)
        ctx = runner.context(strategy)
        with open(out, "a", encoding="utf-8") as fh:
            async def one(sample):
                async with limit:
                    try:
                        _media_precheck(sample)
                        record = await strategy.distill(sample, ctx)
                    except (KeyboardInterrupt, asyncio.CancelledError):
                        raise
                    except Exception as exc:
                        info = describe_exception(exc)
                        log(f"{sample.task} {sample.id}: {info['type']}: {info['message']}")
                        counts["errors"] += 1
                        bar.update(1)
                        return
                fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
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
        for handle in runner.agents.values():
            handle.close()
        runner.media.close()
    return counts
