"""Scripted agent models for AURELIA tests: each card's `role` option says how it answers; every request
it receives is kept (class attribute `seen`) so tests can read the prompts."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict

from aurelia_harness import hookimpl
from aurelia_harness.cards import ModelCard
from aurelia_harness.models import Accepts, ModelAdapter
from aurelia_harness.types import Reply


class AgentScript(ModelAdapter):
    accepts = Accepts(max_audio_items=8)
    seen: list = []  # (card name, prompt text)
    counters: dict = defaultdict(int)
    scores: list = [3, 7]  # the evaluator's answers per question, in order (tests set this)
    raw_scores: list | None = None  # or raw evaluator replies
    reasoner_raw: str | list | None = None  # a raw reasoner reply for every call, or one per call (None: scripted)

    def generate_batch(self, requests):
        out = []
        for request in requests:
            text = " ".join(m.text for m in request.messages)
            AgentScript.seen.append((self.card.name, text))
            out.append(Reply(self.answer(text), input_tokens=len(text.split()), output_tokens=5, seconds=0.001))
        return out

    def answer(self, text: str) -> str:
        role = self.card.get("role")
        if role == "sleepy":
            time.sleep(float(self.card.get("sleep", 0.05)))
            role = self.card.get("then", "reasoner")
        question = re.search(r"Question: (.*)", text) or re.search(r'to the question "(.*?)"', text) \
            or re.search(r"CAPTION\[(.*?)\]", text)
        q = question.group(1) if question else "?"
        if role == "reasoner":
            AgentScript.counters[("reasoner", q)] += 1
            k = AgentScript.counters[("reasoner", q)]
            raw = AgentScript.reasoner_raw
            if isinstance(raw, list):
                raw = raw[min(k, len(raw)) - 1]
            if raw is not None:
                return raw
            return json.dumps({"steps": [f"STEP-{k}-A watch {q}", f"STEP-{k}-B listen"],
                               "step_answers": [f"ANSWER-{k}-A", f"ANSWER-{k}-B"], "final_answer": f"FINAL-{k}"})
        if role == "summarizer":
            return f"CAPTION[{q}] from {len(re.findall('STEP-', text))} steps"
        if role == "evaluator":
            AgentScript.counters[("evaluator", q)] += 1
            k = AgentScript.counters[("evaluator", q)] - 1
            if AgentScript.raw_scores is not None:
                return AgentScript.raw_scores[min(k, len(AgentScript.raw_scores) - 1)]
            scores = AgentScript.scores
            if isinstance(scores, dict):  # per question: {"Q0": [...], "Q1": [...]}, by the question's first word
                scores = scores[q.split(":")[0]]
            return json.dumps({"score": scores[min(k, len(scores) - 1)]})
        if role == "judge":
            return '{"score": 8, "rationale": "names the colour and the tone"}'
        if role == "raises":
            raise RuntimeError("agent exploded")
        return self.card.get("answer", "A")

    @classmethod
    def reset(cls, scores=(3, 7), raw_scores=None, reasoner_raw=None):
        cls.seen, cls.counters = [], defaultdict(int)
        cls.scores = dict(scores) if isinstance(scores, dict) else list(scores)
        cls.raw_scores, cls.reasoner_raw = raw_scores, reasoner_raw

    @classmethod
    def calls(cls, name: str) -> int:
        return sum(1 for n, _ in cls.seen if n == name)


class NoLoad(ModelAdapter):
    def load(self):
        raise OSError("agent weights missing")


@hookimpl
def register_model_adapters(register):
    register("agent-script", AgentScript)
    register("agent-noload", NoLoad)


@hookimpl
def register_model_cards(register):
    for role in ("reasoner", "summarizer", "evaluator", "raises", "judge"):
        register(ModelCard(name=f"{role}-s", adapter="agent-script", options={"role": role}))
    register(ModelCard(name="sleepy-reasoner", adapter="agent-script", options={"role": "sleepy", "sleep": 2.0}))
    register(ModelCard(name="target-1", adapter="agent-script", options={"role": "target", "answer": "A"}))
    register(ModelCard(name="target-2", adapter="agent-script", options={"role": "target", "answer": "B"}))
    register(ModelCard(name="missing-agent", adapter="agent-noload"))
