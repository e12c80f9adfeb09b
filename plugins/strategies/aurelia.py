"""AURELIA: test-time reasoning distillation by an actor-critic loop of agent models (arXiv 2503.23219).

For each sample: the Reasoner writes steps (without the answer), step answers and a final answer; the
Summarizer turns them into a caption of what the clip shows and sounds like (text only); the Evaluator
scores the caption against the media, 1..10; the Reasoner is re-prompted with its last scored steps and their
score until the score reaches the threshold (with `early_stop`) or the iterations run out. The chosen
reasoning's steps (never an answer) are then given to the target model as text beside its media. The
reasoning depends only on the sample and the agent settings, so it is computed once per sample and reused for
every target model (kept in the output folder's reasoning.jsonl, and loadable from an `avharness distill` file).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from aurelia_harness.media import content_hash
from aurelia_harness.strategy import Strategy, call, format_options, load_templates, media_parts
from aurelia_harness.types import Message, Outcome, Request, Sample, TextPart, VideoPart

from aurelia_harness.replies import parse_reasoning, parse_score

PROMPTS = load_templates(Path(__file__).with_name("aurelia_prompts.toml"))
ROLES = ("reasoner", "summarizer", "evaluator")
SELECTIONS = ("argmax", "first")
BELOW = ("keep_best", "baseline", "drop")
RECEIVES = ("steps", "steps_and_answers")
# Settings that change what the agents are asked or how often: the reasoning cache key holds these (and the
# threshold while it stops the loop). The others only pick from the iterations or shape the target's call.
AGENT_WORK = ("reasoner", "summarizer", "evaluator", "early_stop", "max_iterations", "reasks", "keyframes",
              "max_keyframes", "reasoner_tokens", "summarizer_tokens", "evaluator_tokens")


class AgentTimeout(Exception):
    kind = "agent_timeout"


class BelowThreshold(Exception):
    """`below_threshold = drop`: the sample gets no answer; reports count it under coverage, not as wrong."""
    kind = "below_threshold"


class Aurelia(Strategy):
    """AURELIA: agents refine step-by-step reasoning until a critic judges it grounded; the target gets it."""

    name = "aurelia"
    version = PROMPTS["version"]
    defaults = {
        "reasoner": "tiny-omni", "summarizer": "smollm2-135m", "evaluator": "tiny-omni",
        "threshold": 6, "max_iterations": 5, "early_stop": True, "selection": "argmax", "below_threshold": "keep_best",
        "target_receives": "steps", "keyframes": "uniform", "max_keyframes": 5, "reasks": 1,
        "reasoner_tokens": 512, "summarizer_tokens": 256, "evaluator_tokens": 32, "max_new_tokens": 64,
        "agent_timeout": 600.0,
    }

    store_name = "reasoning"  # OUTPUT/reasoning.jsonl: each sample's reasoning, reused across models and resumes

    def __init__(self, settings=None):
        super().__init__(settings)
        s = self.settings
        for key in ("threshold", "max_iterations", "reasks", "max_keyframes", "reasoner_tokens", "summarizer_tokens",
                    "evaluator_tokens", "max_new_tokens"):
            s[key] = int(s[key])  # "512" from text and 512 from TOML are one setting, and one cache key
        s["agent_timeout"] = float(s["agent_timeout"])
        if not 1 <= s["threshold"] <= 10 or s["max_iterations"] < 1:
            raise ValueError("threshold must be 1..10 and max_iterations at least 1")
        s["early_stop"] = _flag("early_stop", s["early_stop"])
        for key, allowed in (("selection", SELECTIONS), ("below_threshold", BELOW), ("target_receives", RECEIVES),
                             ("keyframes", ("uniform", "ssim"))):
            if s[key] not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {s[key]!r}")
        self.modality = "av"

    # -- wiring ----------------------------------------------------------------------------------------
    def roles(self) -> dict[str, str]:
        return {role: self.settings[role] for role in ROLES}

    def identity(self) -> str:
        payload = json.dumps([super().identity(), PROMPTS], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def setup(self, options) -> None:
        self.modality = options.modality  # agents see only these inputs too: part of the key

    # -- the store key: the sample's content and everything the agents' work depends on ------------------
    def work_key(self, sample: Sample) -> str:
        media = [[m.kind, m.role, content_hash(m.path) if m.path.exists() else f"missing:{m.path.name}"]
                 for m in sample.media]
        loop = {k: self.settings[k] for k in AGENT_WORK}
        if self.settings["early_stop"]:  # without early stopping every iteration runs, whatever the threshold
            loop["threshold"] = self.settings["threshold"]
        agents = {role: card.hash for role, card in sorted(self.role_cards.items())}
        payload = [media, sample.question, list(sample.options), agents, loop, self.version,
                   self.modality,
                   {k: v for k, v in PROMPTS.items() if k != "target"}]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]

    # -- strategy --------------------------------------------------------------------------------------
    async def run(self, sample: Sample, target, ctx) -> Outcome:
        reasoning = await self.reasoning(sample, ctx)
        source = reasoning.get("_source", "computed")
        outcome = Outcome("")
        choice = self.choose(reasoning["iterations"])
        outcome.trace.append({"step": "aurelia",
                              **{k: v for k, v in reasoning.items() if k not in ("usage", "_source")}, **choice,
                              "reasoning_usage": reasoning["usage"], "source": source})
        if source == "computed":  # reused reasoning was paid for where it was computed
            for role, use in reasoning["usage"].items():
                outcome.usage[role] = dict(use)
        chosen = choice["chosen"]
        use_reasoning = chosen is not None and (choice["reached_threshold"]
                                                or self.settings["below_threshold"] == "keep_best")
        if not choice["reached_threshold"] and self.settings["below_threshold"] == "drop":
            scored = [sc for sc in choice["scores"] if sc is not None]
            if scored:
                best = f"best score {max(scored)}/10"
            elif any(it["reasoning_parse_ok"] for it in reasoning["iterations"]):
                best = "the evaluator gave no score"
            else:
                best = "no reasoning could be read"
            dropped = BelowThreshold(f"dropped (below_threshold = drop): no readable reasoning reached "
                                     f"{self.settings['threshold']}/10 in {len(reasoning['iterations'])} "
                                     f"iteration(s); {best}")
            dropped.trace = outcome.trace  # the record keeps the loop that led here
            for role, use in outcome.usage.items():  # and its cost, in the sample's ledger
                ctx.usage[role] = dict(use)
            raise dropped
        prompt = self.target_prompt(sample, reasoning["iterations"][chosen] if use_reasoning else None)
        request = Request((Message("user", tuple(media_parts(sample)) + (TextPart(prompt),)),),
                          max_new_tokens=self.settings["max_new_tokens"])
        reply = await call(target, request, outcome, "target")
        outcome.text = reply.text
        outcome.trace.append({"step": "answer", "prompt": prompt, "reply": reply.text,
                              "with_reasoning": use_reasoning})
        return outcome

    def choose(self, iterations: list[dict]) -> dict:
        """r*: among iterations whose reasoning was read and that the evaluator scored, the best score
        (earliest on ties), or with `selection = first` the first at the threshold. Reasoning that could not
        be read, or that no evaluator scored, is never chosen. Done at run time, not stored, so the
        selection settings need not be part of the reasoning cache key."""
        threshold = self.settings["threshold"]
        scores = [it["score"] for it in iterations]
        candidates = [i for i, it in enumerate(iterations) if it["reasoning_parse_ok"] and it["score"] is not None]
        reached = [i for i in candidates if scores[i] >= threshold]
        if reached and self.settings["selection"] == "first":
            chosen = reached[0]
        else:
            chosen = max(candidates, key=lambda i: (scores[i], -i), default=None)
        best = None if chosen is None else iterations[chosen]
        return {"scores": scores, "chosen": chosen, "best_score": None if best is None else best["score"],
                "reached_threshold": bool(reached),
                "reasoning_steps": [] if best is None else best["steps"],
                "step_answers": [] if best is None else best["step_answers"],
                "final_answer": "" if best is None else best["final_answer"],
                "caption": None if best is None else best["caption"]}

    def target_prompt(self, sample: Sample, iteration: dict | None) -> str:
        form = sample.answer_form or ("mcq" if sample.options else "open")
        if iteration is None:  # no reasoning to give (below threshold with `baseline`, or none usable)
            from . import TEMPLATES

            return TEMPLATES["baseline"][form].format(question=sample.question, options=format_options(sample.options))
        lines = [f"{i + 1}. {step}" for i, step in enumerate(iteration["steps"])]
        if self.settings["target_receives"] == "steps_and_answers":
            answers = iteration["step_answers"]
            lines = [f"{line} -> {answers[i]}" if i < len(answers) else line for i, line in enumerate(lines)]
        return PROMPTS["target"][form].format(question=sample.question, options=format_options(sample.options),
                                              reasoning="\n".join(lines))

    async def reasoning(self, sample: Sample, ctx) -> dict:
        """The sample's reasoning: computed once per key for the whole run (or taken from the output folder's
        reasoning.jsonl or a distill file), with where it came from under "_source"."""
        key = self.work_key(sample)
        record, source = await ctx.store.once(key, lambda: self._compute(sample, ctx, key))
        return {**record, "_source": source}

    async def _ask(self, ctx, role: str, request: Request, outcome: Outcome, calls: list[dict],
                   reask: bool = False) -> str:
        """One agent call; its prompt and reply join `calls`, the iteration's audit log."""
        try:
            reply = await asyncio.wait_for(call(ctx.model(role), request, outcome, role),
                                           timeout=self.settings["agent_timeout"])
        except asyncio.TimeoutError:
            raise AgentTimeout(f"{role} did not answer within {self.settings['agent_timeout']}s") from None
        prompt = "".join(m.text for m in request.messages)  # the media are the sample's, per the settings
        calls.append({"role": role, "prompt": prompt, "reply": reply.text, "reask": reask})
        return reply.text

    def _media_request(self, sample: Sample, text: str, tokens: int) -> Request:
        parts = []
        for part in media_parts(sample):
            if isinstance(part, VideoPart):
                part = VideoPart(part.path, sampler=self.settings["keyframes"],
                                 max_frames=self.settings["max_keyframes"])
            parts.append(part)
        return Request((Message("user", tuple(parts) + (TextPart(text),)),), max_new_tokens=tokens)

    def _reasoner_prompt(self, sample: Sample, iterations: list[dict]) -> tuple[str, dict | None]:
        """The first prompt, or the feedback prompt with the latest steps the evaluator actually scored and
        that score. After a failed evaluation the reasoner is told nothing about the unscored attempt: it
        gets the last scored steps, or the first prompt again when none was scored."""
        options_block = ("Options:\n" + format_options(sample.options)) if sample.options else ""
        scored = [it for it in iterations if it["reasoning_parse_ok"] and it["score"] is not None]
        if not scored:
            return PROMPTS["reasoner"].format(question=sample.question, options_block=options_block), None
        prev = scored[-1]
        steps = "\n".join(f"{i + 1}. {x}" for i, x in enumerate(prev["steps"]))
        prompt = PROMPTS["reasoner_feedback"].format(question=sample.question, options_block=options_block,
                                                     previous_steps=steps, score=prev["score"])
        return prompt, {"iteration": prev["iteration"], "score": prev["score"]}

    async def _iteration(self, sample: Sample, ctx, t: int, iterations: list[dict], usage: Outcome) -> dict:
        s = self.settings
        calls: list[dict] = []
        prompt, feedback = self._reasoner_prompt(sample, iterations)
        raw = await self._ask(ctx, "reasoner", self._media_request(sample, prompt, s["reasoner_tokens"]), usage, calls)
        parsed = parse_reasoning(raw)
        notes = [f"reasoner: {n}" for n in parsed.notes]
        for _ in range(s["reasks"]):
            if parsed.ok:
                break
            raw = await self._ask(ctx, "reasoner", self._media_request(
                sample, prompt + "\n\n" + PROMPTS["reasoner_reask"], s["reasoner_tokens"]), usage, calls, reask=True)
            parsed = parse_reasoning(raw)
            notes += ["reasoner: re-asked"] + [f"reasoner: {n}" for n in parsed.notes]
        iteration = {"iteration": t, "feedback": feedback, "steps": parsed.steps, "step_answers": parsed.step_answers,
                     "final_answer": parsed.final_answer, "reasoning_parse_ok": parsed.ok, "reasoner_raw": raw,
                     "caption": None, "score": None, "evaluator_raw": None, "score_parse_failed": False,
                     "notes": notes, "calls": calls}
        if not parsed.ok:  # nothing to summarize or score: this iteration cannot become r*
            notes.append("reasoner: no readable steps; not summarized, not scored, not a candidate for r*")
            return iteration
        summary_prompt = PROMPTS["summarizer"].format(
            question=sample.question, steps="\n".join(f"{i + 1}. {x}" for i, x in enumerate(parsed.steps)),
            step_answers="\n".join(f"{i + 1}. {x}" for i, x in enumerate(parsed.step_answers)) or "(none given)",
            final_answer=parsed.final_answer or "(none given)")
        caption = (await self._ask(ctx, "summarizer", Request(
            (Message("user", (TextPart(summary_prompt),)),), max_new_tokens=s["summarizer_tokens"]),
            usage, calls)).strip()
        eval_prompt = PROMPTS["evaluator"].format(caption=caption)
        score_raw = await self._ask(ctx, "evaluator", self._media_request(sample, eval_prompt, s["evaluator_tokens"]),
                                    usage, calls)
        scored = parse_score(score_raw)
        for _ in range(s["reasks"]):
            if scored.score is not None:
                break
            score_raw = await self._ask(ctx, "evaluator", self._media_request(
                sample, eval_prompt + "\n\n" + PROMPTS["evaluator_reask"].format(), s["evaluator_tokens"]),
                usage, calls, reask=True)
            scored = parse_score(score_raw)
            notes.append("evaluator: re-asked")
        notes += [f"evaluator: {n}" for n in scored.notes]
        if scored.score is None:
            notes.append("evaluator: parse failure, no score (not fed back, not a candidate for r*)")
        iteration.update(caption=caption, score=scored.score, evaluator_raw=score_raw,
                         score_parse_failed=scored.score is None)
        return iteration

    async def _compute(self, sample: Sample, ctx, key: str) -> dict:
        s = self.settings
        usage = Outcome("")  # collects per-role usage
        iterations: list[dict] = []
        for t in range(1, s["max_iterations"] + 1):
            iteration = await self._iteration(sample, ctx, t, iterations, usage)
            iterations.append(iteration)
            if s["early_stop"] and iteration["score"] is not None and iteration["score"] >= s["threshold"]:
                break
        return {"key": key, "task": sample.task, "sample_id": sample.id, "query": sample.question,
                "options": list(sample.options), "media": [m.to_json() for m in sample.media],
                "video_path": next((str(m.path) for m in sample.media if m.kind == "video"), None),
                "audio_path": next((str(m.path) for m in sample.media if m.kind == "audio"), None),
                **self.choose(iterations), "iterations": iterations, "usage": usage.usage,
                "settings": {k: v for k, v in s.items()}, "prompt_version": self.version}

    def summarize(self, records: list) -> dict | None:
        """AURELIA's columns per model x task: iterations, how often the critic's threshold was reached,
        agent replies that could not be read, and how much reasoning was computed in this run or reused."""
        loops = [t for r in records for t in r.trace if t.get("step") == "aurelia"]
        if not loops:
            return None
        iterations = [it for t in loops for it in t.get("iterations", [])]
        return {
            "mean_iterations": sum(len(t.get("iterations", [])) for t in loops) / len(loops),
            "reached_threshold": sum(bool(t.get("reached_threshold")) for t in loops) / len(loops),
            "score_parse_failures": sum(bool(it.get("score_parse_failed")) for it in iterations),
            "reasoning_parse_failures": sum(not it.get("reasoning_parse_ok", True) for it in iterations),
            "computed_here": sum(t.get("source") == "computed" for t in loops),
            "reused": sum(t.get("source") != "computed" for t in loops),
        }

    async def distill(self, sample: Sample, ctx) -> dict:
        """The reasoning-enhanced data record for one sample (the paper's data generation)."""
        record = await self.reasoning(sample, ctx)
        return {k: v for k, v in record.items() if k != "_source"}


def _flag(name: str, value) -> bool:
    """A yes/no setting, from TOML (a bool) or typed text; anything else is a configuration error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
