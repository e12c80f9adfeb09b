"""The single-model strategies: `baseline` (answer directly) and `cot` (reason step by step, then answer)."""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.strategy import Strategy, call, format_options, load_templates, user_request
from aurelia_harness.types import Outcome, Sample

TEMPLATES = load_templates(Path(__file__).with_name("prompts.toml"))


def answer_form(sample: Sample) -> str:
    """The form the task declared for this sample (mcq, open or caption)."""
    return sample.answer_form or ("mcq" if sample.options else "open")


class PromptStrategy(Strategy):
    """Fill the template for the sample's answer form and ask the target model once."""

    template_set = ""

    def __init__(self, settings=None):
        super().__init__(settings)
        self.templates = TEMPLATES[self.template_set]
        self.version = TEMPLATES["version"]

    def identity(self) -> str:  # the templates are part of what the results depend on
        from hashlib import sha256

        return sha256((super().identity() + repr(sorted(self.templates.items()))).encode()).hexdigest()[:16]

    def prompt(self, sample: Sample) -> str:
        return self.templates[answer_form(sample)].format(question=sample.question,
                                                          options=format_options(sample.options))

    async def run(self, sample, target, ctx):
        outcome = Outcome("")
        prompt = self.prompt(sample)
        request = user_request(sample, prompt, self.settings["max_new_tokens"], self.settings.get("system"))
        reply = await call(target, request, outcome, "target")
        outcome.text = reply.text
        outcome.trace.append({"step": "answer", "prompt": prompt, "reply": reply.text,
                              "input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens})
        return outcome


class Baseline(PromptStrategy):
    """Question (+ options) beside the media; answer directly."""

    name = "baseline"
    template_set = "baseline"
    defaults = {"max_new_tokens": 64, "system": None}


class ChainOfThought(PromptStrategy):
    """Reason step by step about what is seen and heard, then answer on a last 'Answer:' line."""

    name = "cot"
    template_set = "cot"
    defaults = {"max_new_tokens": 512, "system": None}


@hookimpl
def register_strategies(register):
    from .aurelia import Aurelia

    register("baseline", Baseline)
    register("cot", ChainOfThought)
    register("aurelia", Aurelia)
