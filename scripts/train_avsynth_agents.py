"""Train AURELIA in miniature: an agent model for the roles that see and hear, and a weaker target that reads
a reasoning block. Both are the real Qwen2.5-Omni thinker classes, trained on AVSynth training seeds only.

    nice python scripts/train_avsynth_agents.py agent    # -> model_cards/trained/avsynth-agent
    nice python scripts/train_avsynth_agents.py reader   # -> model_cards/trained/avsynth-reader

agent  -- fine-tuned from the shipped avsynth-omni weights (its encoders already see and hear AVSynth; they
          stay frozen), for the three agent roles of plugins/strategies/aurelia.py, with the strategy's own
          prompts and media requests (`Aurelia._media_request`, the agent card's policy), beside
          avsynth-omni's own baseline lessons:
          * reasoner: the three-part JSON (the final answer, the answer to each step, and steps that say what
            to look at or listen for), first prompt and feedback prompt alike; targets come from the parameters
            that made the clip (`facts`), the same facts the generator's reasoning text states;
          * summarizer: the caption those steps and answers describe (`caption_of`), also from perturbed
            answers, so it writes what it is given rather than what it believes;
          * evaluator: {"score": n} for a caption against the clip, from matching captions and captions with
            one to three facts replaced by another clip's (wrong colour, pitch, order, count, flag, tempo),
            graded by how many are wrong (`SCORES`).
reader -- a weaker target trained from scratch: it sees 2 frames a second instead of 10 (a 0.2 s flash is
          mostly missed), on half the clips and fewer steps, with the baseline prompt and AURELIA's target
          prompt mixed (`READER_MIX`): no block, a steps-only block, or a steps-and-answers block whose
          answers are sometimes wrong (`READER_NOISE`), always taught the clip's true answer. It learns to use
          a block as an instruction-tuned model uses a hint, and not to trust it blindly.

Training clips come from train_avsynth_omni.build_training_data (data seed 1, never the evaluation seed 0;
checked by content hash against the evaluation set, as for avsynth-omni). No evaluation clip, its reasoning
or any agent output on it is used. Both models keep avsynth-omni's 691-token vocabulary (byte-level BPE:
JSON and any other text still encode).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import train_avsynth_omni as base  # noqa: E402  (the data, the collate, the model and the loss are shared)

from aurelia_harness.calls import user_request  # noqa: E402
from aurelia_harness.cards import load_card  # noqa: E402
from aurelia_harness.config import default_cache_dir  # noqa: E402
from aurelia_harness.media import MediaStore  # noqa: E402
from aurelia_harness.strategy import format_options  # noqa: E402
from aurelia_harness.tasks import read_manifest  # noqa: E402
from aurelia_harness.types import Message, Request, TextPart, VideoPart  # noqa: E402
from plugins.strategies import Baseline  # noqa: E402
from plugins.strategies.aurelia import PROMPTS, Aurelia  # noqa: E402
from plugins.tasks import avsynth  # noqa: E402

TRAINED = ROOT / "model_cards" / "trained"
# Evaluator scores by how many of a caption's facts are wrong: only a wholly right caption clears the
# strategy's default threshold of 6.
SCORES = {0: 9, 1: 5, 2: 3, 3: 1}
WRONG_FACTS = [0, 1, 2, 3]
# Equal shares: with 0.4/0.3/0.2/0.1 the first critic scored every caption 9, the commonest training score.
WRONG_WEIGHTS = [0.25, 0.25, 0.25, 0.25]
# The reader's prompts: share of each kind (block answers are wrong in READER_NOISE of the answered blocks).
# Reading a block (find the last step's answer, then its option letter) is learned late (after ~1,500 steps
# with a share of 0.4 in a first run): steps_and_answers blocks get the largest share.
READER_MIX = {"baseline": 0.35, "steps": 0.15, "steps_and_answers": 0.5}
READER_NOISE = 0.15
AGENT_SETTINGS = {"max_keyframes": 60}  # harness.toml's [strategy.aurelia]: the agents see every frame

RECIPES = {
    # The agent keeps what avsynth-omni sees and hears: its encoders are frozen, its own baseline lessons stay
    # in the mix, and the rate is half avsynth-omni's (a first agent, all weights at 2e-3, lost most of it).
    "agent": {"card": "avsynth-agent", "init": "avsynth-omni", "clips_scale": 1.0, "freeze": ["audio_tower", "visual"],
              "kinds": {"baseline": 1.0, "reasoner": 3.0, "feedback": 1.0, "summarizer": 1.5, "evaluator": 3.0},
              "train": {**base.TRAIN, "steps": 2400, "lr": 1e-3, "warmup": 50, "eval_every": 800}},
    "reader": {"card": "avsynth-reader", "init": None, "clips_scale": 0.5, "freeze": [],
               "kinds": dict(READER_MIX),
               "train": {**base.TRAIN, "steps": 2500, "eval_every": 500}},
}


# ---- what a clip holds, as steps, step answers and a caption -----------------------------------------

def _asked(sample) -> str:
    return sample.question.rstrip("?").split()[-1]  # "... while the screen is red?"


def _relation(question: str) -> str:
    return "first after" if "first after" in question else "last before"  # AVSynth v3's two compositional asks


def _option(sample) -> str:
    return sample.options[ord(str(sample.answer)) - ord("A")]


def facts(category: str, sample) -> tuple[list[str], list[str], str]:
    """(steps, step answers, final answer) for a clip and its question, from the parameters that made it. Steps
    say what to look at or listen for; the findings are the step answers (as the strategy asks). Kept short: a
    model of this size writes a long reply wrong somewhere (the first recipe, with every time stamp spelled out,
    broke the JSON on most clips). The final answer is avsynth-omni's own answer form (target_text)."""
    p, final = sample.metadata["params"], base.target_text(category, sample)
    if category == "count":
        return (["Note the colours of the screen, in order.",
                 f"Count the beeps while the screen is {_asked(sample)}."],
                [", then ".join(c for c, _, _ in p["spans"]), str(sample.answer)], final)
    if category == "caption":
        return (["Note the colour of the screen.", "Note the pitch of the tone."], [p["colour"], p["pitch"]], final)
    if category == "compositional":
        ev = p["events"]
        return (["Note the order of the tones and of the screen turning blue.",
                 f"Find the tone that sounds {_relation(sample.question)} the screen turns blue."],
                [", then ".join(sorted(ev, key=ev.get)), _option(sample)], final)
    if category == "geo":
        return (["Note which flags are shown, in order.", "Find the flag on screen while the tone sounds."],
                [", then ".join(c for c, _, _ in p["flags"]), _option(sample)], final)
    if category == "sync":
        verdict = "each click sounds when the square flashes" if p["in_sync"] else "the clicks fall between the flashes"
        return (["Note how often the square flashes.", "Compare the clicks with the flashes."],
                [f"every {p['period']}s", verdict], final)
    if category == "dance":
        bpm, match = p["tempos_bpm"], p["match"]
        return (["Note how often the square flashes.", "Find the clip that beats at that tempo."],
                [f"{bpm[match - 1]} times a minute", f"Clip {match}"], final)
    raise ValueError(category)


def caption_of(category: str, answers: list[str], question: str) -> str:
    """The caption the summarizer writes from step answers (and the evaluator scores)."""
    a = list(answers) + [""] * 2
    asked = question.rstrip("?").split()[-1]
    return {
        "count": lambda: f"The screen is {a[0]}; {a[1]} beeps sound while it is {asked}.",
        "caption": lambda: f"A {a[0]} screen with a {a[1]} tone.",
        "compositional": lambda: f"Events: {a[0]}; {a[1]} sounds {_relation(question)} the screen turns blue.",
        "geo": lambda: f"The flags of {a[0]}; the tone sounds during the flag of {a[1]}.",
        "sync": lambda: f"The square flashes {a[0]}: {a[1]}.",
        "dance": lambda: f"The square flashes {a[0]}; {a[1]} matches.",
    }[category]()


def perturbed(answers: list[str], pool: list[list[str]], wrong: int, rng: random.Random) -> tuple[list[str], int]:
    """The step answers with up to `wrong` of them replaced by another clip's answer to the same step (one that
    differs); returns them with how many were replaced."""
    out, replaced = list(answers), 0
    for index in rng.sample(range(len(answers)), min(wrong, len(answers))):
        others = [o[index] for o in rng.sample(pool, min(20, len(pool))) if o[index] != answers[index]]
        if others:
            out[index], replaced = others[0], replaced + 1
    return out, replaced


def reasoner_json(steps: list[str], answers: list[str], final: str) -> str:
    # The final answer first, in avsynth-omni's own answer form (target_text), then the findings, then the
    # steps: the strategy reads the three keys in any order, and the reply's first tokens after the prompt are
    # where the answering skill the agent starts from sits. A model this small does not reason across its own
    # output: written last, after ~100 tokens of its own, the answer was right on 20% of clips (docs/aurelia.md).
    return json.dumps({"final_answer": final, "step_answers": answers, "steps": steps})


# ---- lessons: (request, target text) pairs built through the strategy's own prompts ----------------

@dataclasses.dataclass
class Lesson:
    sample: object
    category: str
    kind: str
    request: object
    target: str
    media: bool  # whether the request carries the clip (moment labels are taught there)


def agent_lessons(sample, category: str, pool: list[list[str]], rng: random.Random) -> list[Lesson]:
    strategy = Aurelia({**AGENT_SETTINGS})
    steps, answers, final = facts(category, sample)
    options_block = ("Options:\n" + format_options(sample.options)) if sample.options else ""
    reply = reasoner_json(steps, answers, final)
    out = [Lesson(sample, category, "baseline", user_request(sample, Baseline().prompt(sample), 64),
                  base.target_text(category, sample), True)]  # avsynth-omni's own lesson, so its answers stay
    first = PROMPTS["reasoner"].format(question=sample.question, options_block=options_block)
    out.append(Lesson(sample, category, "reasoner", strategy._media_request(sample, first, 512), reply, True))
    numbered = "\n".join(f"{i + 1}. {x}" for i, x in enumerate(steps))
    feedback = PROMPTS["reasoner_feedback"].format(question=sample.question, options_block=options_block,
                                                   previous_steps=numbered, score=rng.randint(1, 9))
    out.append(Lesson(sample, category, "feedback", strategy._media_request(sample, feedback, 512), reply, True))
    given, _ = perturbed(answers, pool, rng.choices(WRONG_FACTS, WRONG_WEIGHTS)[0], rng)
    summary = PROMPTS["summarizer"].format(
        question=sample.question, steps=numbered, step_answers="\n".join(f"{i + 1}. {x}" for i, x in enumerate(given)),
        final_answer=final)
    out.append(Lesson(sample, category, "summarizer", Request((Message("user", (TextPart(summary),)),), max_new_tokens=256),
                      caption_of(category, given, sample.question), False))
    shown, wrong = perturbed(answers, pool, rng.choices(WRONG_FACTS, WRONG_WEIGHTS)[0], rng)
    prompt = PROMPTS["evaluator"].format(caption=caption_of(category, shown, sample.question))
    out.append(Lesson(sample, category, "evaluator", strategy._media_request(sample, prompt, 32),
                      json.dumps({"score": SCORES[wrong]}), True))
    return out


def reader_lessons(sample, category: str, pool: list[list[str]], rng: random.Random) -> list[Lesson]:
    """Two prompts per question, of two different kinds drawn by READER_MIX; the target is always the truth."""
    truth = base.target_text(category, sample)
    kinds = list(READER_MIX)
    first = rng.choices(kinds, [READER_MIX[k] for k in kinds])[0]
    rest = [k for k in kinds if k != first]
    out = []
    for kind in (first, rng.choices(rest, [READER_MIX[k] for k in rest])[0]):
        if kind == "baseline":
            request = user_request(sample, Baseline().prompt(sample), 64)
        else:
            steps, answers, _ = facts(category, sample)
            if kind == "steps_and_answers" and rng.random() < READER_NOISE:
                answers, _ = perturbed(answers, pool, rng.choice([1, 2]), rng)
            strategy = Aurelia({"target_receives": kind})
            request = user_request(sample, strategy.target_prompt(sample, {"steps": steps, "step_answers": answers}), 64)
        out.append(Lesson(sample, category, kind, request, truth, True))
    return out


# ---- encoding: the processor once per clip, the text of every other prompt spliced after its media -------

class Encoder:
    """Tensors for each lesson exactly as the adapter's processor builds them. The media part of a request's
    input ids (everything up to the last media end token) depends only on the clip and the card's policy, so
    the processor runs once per clip and later prompts on the same clip reuse its media tensors and ids; the
    first few splices are checked against a full processor call."""

    def __init__(self, adapter, checks: int = 6):
        self.adapter, self.cache, self.checks = adapter, {}, checks
        tok = adapter.processor.tokenizer
        self.ends = [tok.convert_tokens_to_ids(t) for t in ("<|vision_eos|>", "<|audio_eos|>")]
        self.end_texts = ["<|vision_eos|>", "<|audio_eos|>"]

    def _head(self, text: str) -> int:
        return max(text.rfind(t) + len(t) for t in self.end_texts if t in text)

    def encode(self, request):
        import torch

        kwargs, generate_kwargs, _ = self.adapter.processor_inputs(request)
        text = kwargs["text"] if isinstance(kwargs.get("text"), str) else kwargs["text"][0]
        has_media = any(k in kwargs for k in ("videos", "audio", "images"))
        if not has_media:
            return self.adapter.processor(**kwargs, return_tensors="pt")["input_ids"][0], {}, False
        cut = self._head(text)
        # The clip itself is part of the key: the text holds only placeholders, which are the same for every
        # clip of a category with the same question (until 2026-12-04 the key was the text alone, and most of
        # a category's lessons were trained on the media of its first clip).
        key = (tuple((p.path, getattr(p, "sampler", None), getattr(p, "max_frames", None)) for m in request.messages
                     for p in m.parts if not isinstance(p, TextPart)), text[:cut])
        if key in self.cache and self.checks <= 0:
            head_ids, media = self.cache[key]
            tail = self.adapter.processor.tokenizer(text[cut:], add_special_tokens=False)["input_ids"]
            return torch.cat([head_ids, torch.tensor(tail)]), media, bool(generate_kwargs.get("use_audio_in_video"))
        inputs = self.adapter.processor(**kwargs, return_tensors="pt")
        ids = inputs["input_ids"][0]
        media = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        if "input_features" in media:  # keep the valid frames only: the encoder reads no further
            length = int(media["feature_attention_mask"].sum(-1).max())
            media["input_features"] = media["input_features"][..., :length].contiguous()
            media["feature_attention_mask"] = media["feature_attention_mask"][..., :length].contiguous()
        end = max(int((ids == e).nonzero().max()) for e in self.ends if (ids == e).any()) + 1
        if key in self.cache:  # a check: the splice must equal the processor's own ids
            head_ids, _ = self.cache[key]
            tail = self.adapter.processor.tokenizer(text[cut:], add_special_tokens=False)["input_ids"]
            assert torch.equal(torch.cat([head_ids, torch.tensor(tail)]), ids), "spliced ids differ from the processor's"
            self.checks -= 1
        else:
            self.cache[key] = (ids[:end].clone(), media)
        return ids, self.cache[key][1], bool(generate_kwargs.get("use_audio_in_video"))


def encode_lessons(encoder: Encoder, lessons: list[Lesson], with_moments: bool) -> list[dict]:
    import torch

    adapter = encoder.adapter
    tokenizer = adapter.processor.tokenizer
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    word_ids = {w: tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in base.MOMENT_WORDS}
    tokens = {kind: tokenizer.convert_tokens_to_ids(getattr(adapter.processor, f"{kind}_token"))
              for kind in ("video", "audio")}
    out = []
    for lesson in lessons:
        ids, media, from_video = encoder.encode(lesson.request)
        labels = torch.full_like(ids, -100)
        if with_moments and lesson.media and media:
            video = next(item for item in lesson.sample.media if item.kind == "video")
            part = next(p for m in lesson.request.messages for p in m.parts if isinstance(p, VideoPart))
            stamps = adapter.policy.video(adapter.media, VideoPart(video.path, sampler=part.sampler,
                                                                   max_frames=part.max_frames), []).timestamps.tolist()
            labels = base.moment_labels(ids, media, stamps, lesson.category, lesson.sample.metadata["params"],
                                        word_ids, tokens)
        target = tokenizer(lesson.target, add_special_tokens=False)["input_ids"] + [eos]
        out.append({"id": lesson.sample.id, "category": lesson.category, "modality": lesson.kind,
                    "prompt": ids, "moments": labels, "target": torch.tensor(target),
                    "description": torch.tensor([], dtype=torch.long), "media": media, "audio_in_video": from_video})
    return out


# ---- main ------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, default=None, help="default: model_cards/trained/<card name>")
    parser.add_argument("--work", type=Path, default=None, help="training data and media cache (default: the harness cache)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--clips-scale", type=float, default=None)
    parser.add_argument("--eval-per-task", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    cfg = {**recipe["train"], **({"steps": args.steps} if args.steps else {})}
    scale = args.clips_scale if args.clips_scale is not None else recipe["clips_scale"]
    out = args.out or TRAINED / recipe["card"]

    import torch
    from transformers import AutoProcessor
    from transformers.utils import logging as hf_logging

    from plugins.models.qwen_omni import QwenOmniAdapter

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    started = time.time()
    log = lambda msg: print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)
    cache = default_cache_dir()
    work = args.work or cache / "train-avsynth-omni"  # the clips are avsynth-omni's (same seed, same renderer)
    clips = {c: max(2, round(n * scale)) for c, n in base.CLIPS.items()}

    eval_root = avsynth.dataset_dir(cache / "data", args.eval_per_task, 0)
    evaluation = avsynth.generate(eval_root, args.eval_per_task, 0)
    # avsynth-omni's training clips; a smaller scale is a prefix of them (the generator draws in order), so
    # the full set is used when it is already rendered, else only the clips needed are
    folder = lambda x: work / f"data-v{avsynth.GENERATOR_VERSION}-s{cfg['data_seed']}-x{x:g}"
    rendered = all((folder(1) / c / "manifest.jsonl").exists() for c in base.CLIPS)
    full = base.build_training_data(folder(1) if rendered else folder(scale), base.CLIPS if rendered else clips,
                                    cfg["data_seed"])
    disjoint = base.disjointness(full, evaluation, args.eval_per_task)
    log(f"no training file equals an evaluation file ({disjoint['training_files']} vs {disjoint['evaluation_files']})")
    data_seconds = time.time() - started

    card_path = ROOT / "model_cards" / f"{recipe['card']}.toml"
    card = load_card(card_path)
    processor = AutoProcessor.from_pretrained(TRAINED / "avsynth-omni")  # its trained vocabulary
    adapter = QwenOmniAdapter(card, MediaStore(work / "media-cache"), "cpu")
    adapter.processor, adapter.audio_rate = processor, adapter.policy.audio_rate
    # The interleave chunk the saved model's config will hold, which evaluation hands to the processor: with no
    # model loaded the processor would fall back to its 2 s, and training would see other inputs than a run.
    adapter.seconds_per_chunk = (json.loads((TRAINED / recipe["init"] / "config.json").read_text())["thinker_config"]
                                 ["seconds_per_chunk"] if recipe["init"] else base.MODEL["seconds_per_chunk"])
    forms = base.answer_forms()
    rng = random.Random(cfg["seed"])
    encoder = Encoder(adapter)
    train_items, held_items = [], []
    make = agent_lessons if args.recipe == "agent" else reader_lessons
    for category, manifest in full.items():
        lines = {json.loads(x)["id"]: json.loads(x) for x in manifest.read_text().splitlines()}
        samples = [dataclasses.replace(s, answer_form=forms[category])
                   for s in read_manifest(manifest, f"avsynth-{category}").samples]
        samples = [s for s in samples if int(s.id.split("-")[1]) < clips[category]]  # the first clips of the set
        pool = [facts(category, s)[1] for s in samples]
        for split, items in (("train", train_items), ("held-out", held_items)):
            chosen = [s for s in samples if lines[s.id]["split"] == split]
            lessons = [lesson for s in chosen for lesson in make(s, category, pool, rng)]
            items += encode_lessons(encoder, lessons, with_moments=True)
        log(f"  {category}: {sum(1 for i in train_items if i['category'] == category)} training lessons")
    encode_seconds = time.time() - started - data_seconds

    torch.manual_seed(cfg["seed"])
    if recipe["init"]:
        from transformers import Qwen2_5OmniForConditionalGeneration

        model = Qwen2_5OmniForConditionalGeneration.from_pretrained(TRAINED / recipe["init"], enable_audio_output=False,
                                                                    torch_dtype=torch.float32)
    else:
        model = base.build_model(processor, base.MODEL)
    thinker = model.thinker.train()
    modules = dict(thinker.named_modules())
    for part in recipe["freeze"]:  # thinker.audio_tower, or thinker.model.audio_tower in newer transformers
        next(m for name, m in modules.items() if name.split(".")[-1] == part).requires_grad_(False)
    pad = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    log(f"thinker: {sum(p.numel() for p in thinker.parameters()):,} parameters; {len(train_items)} training lessons, "
        f"{len(held_items)} held out")
    per_lesson = lambda item: f"{item['modality']}/{item['category']}"  # modality holds the lesson kind
    train_start = time.time()
    losses, history = base.train_steps(thinker, train_items, lambda c, kind: base.WEIGHTS[c] * recipe["kinds"][kind], cfg,
                                       rng, pad, lambda: base.held_out_accuracy(thinker, held_items, pad, cfg["batch_size"],
                                                                                per_lesson), log)
    record = {
        "model": recipe["card"], "recipe": args.recipe, "card": str(card_path.relative_to(ROOT)),
        "script": "scripts/train_avsynth_agents.py",
        "architecture": "Qwen2_5OmniForConditionalGeneration (thinker trained; no talker)",
        "initialised_from": f"model_cards/trained/{recipe['init']}" if recipe["init"] else "random (seed below)",
        "initial_weights_sha256": base.sha256(TRAINED / recipe["init"] / "model.safetensors") if recipe["init"] else None,
        "shape": base.MODEL, "training": cfg, "clips": clips, "lesson_weights": recipe["kinds"], "frozen": recipe["freeze"],
        "category_weights": base.WEIGHTS, "moment_weight": base.MOMENT_WEIGHT,
        "evaluator_scores_by_wrong_facts": SCORES, "reader_mix": READER_MIX, "reader_noise": READER_NOISE,
        "agent_settings": AGENT_SETTINGS, "vocabulary": len(processor.tokenizer),
        "seconds_per_chunk": adapter.seconds_per_chunk,
        "data": {"generator": f"avsynth-v{avsynth.GENERATOR_VERSION}", "seed": cfg["data_seed"],
                 "training_lessons": len(train_items), "held_out_lessons": len(held_items)},
        "disjoint_from_evaluation": disjoint,
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4) if losses else None,
        "history": history,
        "seconds": {"data": round(data_seconds, 1), "encode": round(encode_seconds, 1),
                    "train": round(time.time() - train_start, 1), "total": round(time.time() - started, 1)},
        "threads": args.threads,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    base.save(model, processor, out, record)
    log(f"wrote {out} (final loss {record['final_loss']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
