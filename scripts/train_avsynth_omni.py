"""Train avsynth-omni: the real Qwen2.5-Omni thinker classes at about a million parameters, on AVSynth.

    nice python scripts/train_avsynth_omni.py --out model_cards/trained/avsynth-omni

Data: AVSynth's own builders (plugins/tasks/avsynth.py) draw clips from training seeds, never the
evaluation seed 0. Every tone's loudness is jittered and every small square nudged a few pixels (answers
unchanged), so no training file is byte-identical to an evaluation file; that is checked by content hash
against the evaluation set (the first `--eval-per-task` samples of seed 0, which every smaller seed-0 run
shares), and the script stops if any matches. Some categories have only a handful of distinct layouts
(caption and sync: 8 each), so a layout can repeat even when no file does; the manifest says how often.

Inputs: every training request is built exactly as a run builds it — the baseline strategy's prompt
(plugins/strategies/prompts.toml), `user_request`, then QwenOmniAdapter.processor_inputs with the card's
media policy (the avsynth-omni card) and the MediaStore — and the model's processor. Clips of a
pool of their own (never seen whole) go through the modality ablations (`restrict_modality`) with their true
answers, so a model missing a modality learns what the half it has tells, not an unseen-input habit or the
answer of a clip it recognises.

Seeded and deterministic for a given torch build and thread count. Writes the checkpoint (processor +
safetensors) and manifest.json (config, seeds, steps, losses, file hashes) to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aurelia_harness.calls import user_request
from aurelia_harness.cards import load_card
from aurelia_harness.config import default_cache_dir, read_toml
from aurelia_harness.media import MediaStore
from aurelia_harness.media.store import content_hash
from aurelia_harness.tasks import read_manifest
from aurelia_harness.types import VideoPart, restrict_modality
from plugins.strategies import Baseline
from plugins.tasks import avsynth

# the card's media policy is the one training uses
CARD = ROOT / "model_cards" / "avsynth-omni.toml"
MAX_FILE_BYTES = 16 * 1024 * 1024

# Clips per category (count and compositional clips carry several questions each; see `questions`).
CLIPS = {"count": 400, "caption": 160, "compositional": 300, "geo": 480, "sync": 360, "dance": 360}
# Categories with few distinct layouts: each layout is rendered in this many jittered variants (else one per clip).
VARIANTS = {"caption": 12, "dance": 8}
# How often a batch is drawn from each category: the cross-modal timing tasks need the most steps.
WEIGHTS = {"count": 3.5, "caption": 0.5, "compositional": 1.5, "geo": 1.5, "sync": 1.0, "dance": 3.0}
DESCRIPTION_WEIGHT = 0.5  # of the loss on the clip's description, taught after the answer's end
MOMENT_WEIGHT = 0.5  # of the loss on what each video and audio token shows or plays (see `moments`)
AGGREGATE_WEIGHT = 0.5  # of the loss on the running totals a task aggregates (see `aggregates`)
# Modality ablations: video-only and audio-only copies of clips from a pool of their own (ABLATION_CLIPS x each
# category's clip count, another stream of the training seed), never seen whole. A batch comes from those copies
# ABLATED_SHARE times as often as from the category's full inputs. Why a pool of their own: with copies of 12% of
# the full-input clips (the previous recipe) count audio-only scored 0.42 on training layouts but 0.20 on seed 0,
# below its 0.36 prior, as if answering from a clip it recognised by its sound; fresh clips can only teach what
# one half tells (docs/signal.md, "Count without the picture").
ABLATION_CLIPS = 0.5
ABLATED_SHARE = 0.12
HELD_OUT_EVERY = 12  # every 12th clip is held out (monitoring only, never trained on)
VOCAB_SIZE = 1024  # the BPE vocabulary trained on AVSynth's prompts (byte-level: any text still encodes)

MODEL = {  # the thinker's shape (Qwen2_5OmniThinkerConfig); ids and vocabulary come from the processor
    "text": {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 2, "rope_theta": 10000.0, "mrope_section": [8, 4, 4]},
    "vision": {"depth": 1, "hidden_size": 64, "intermediate_size": 256, "num_heads": 4},
    "audio": {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 256},
    # the audio/video interleave's chunk (the authors' 2 s by default): with 1 s, most events that a question
    # compares fall in different chunks, so the tokens' order follows time; within a chunk the time-aligned
    # rope positions still order them
    "seconds_per_chunk": 1,
}
TRAIN = {"steps": 4000, "batch_size": 8, "lr": 2e-3, "warmup": 100, "min_lr_ratio": 0.05,
         "weight_decay": 0.01, "clip": 1.0, "seed": 1234, "data_seed": 1, "eval_every": 300}


# ---- data ------------------------------------------------------------------------------------------

def answer_forms() -> dict[str, str]:
    """category -> the answer form its task declares (tasks/avsynth-*.toml)."""
    forms = {}
    for path in sorted((ROOT / "tasks").glob("avsynth-*.toml")):
        definition = read_toml(path)
        forms[definition["data"]["subset"]] = definition.get("answer_form", "auto")
    return forms


def layout_key(job: avsynth.ClipJob) -> str:
    """What a clip shows and plays (not where it is written)."""
    return json.dumps([job.seconds, job.boxes, job.tones, job.video, job.audio, job.path.suffix])


def jittered(job: avsynth.ClipJob, key: str, variant: int, folder: Path, category: str) -> avsynth.ClipJob:
    """The same layout with every tone's loudness scaled (0.7-1.3) and small boxes nudged up to 6 px."""
    rng = random.Random(f"{key}:{variant}")
    scale = round(rng.uniform(0.7, 1.3), 3)
    w, h = avsynth.SIZE
    boxes = []
    for colour, x, y, bw, bh, t0, t1 in job.boxes:
        if bw < w and bh < h:  # a square, not a full frame or a flag stripe
            x, y = x + rng.randint(-6, 6), y + rng.randint(-6, 6)
        boxes.append((colour, x, y, bw, bh, t0, t1))
    tones = [(f, t0, t1, round(a * scale, 3)) for f, t0, t1, a in job.tones]
    name = hashlib.sha1(f"{key}:{variant}:{scale}:{boxes}".encode()).hexdigest()[:16]
    return dataclasses.replace(job, path=folder / f"{category}_{name}{job.path.suffix}", boxes=boxes, tones=tones)


def count_inside(params: dict, colour: str) -> int:
    """Beeps that sound wholly while the screen is `colour` (the count builder's rule)."""
    return sum(1 for b in params["beeps"]
               if any(c == colour and t0 <= b and b + 0.15 <= t1 for c, t0, t1 in params["spans"]))


def questions(category: str, line: dict) -> list[dict]:
    """The clip's manifest line, plus the other questions its media answers: a count clip is asked about
    each of its three colours, a compositional clip about the tone after and the tone before the blue (where
    there is one)."""
    if category == "count":
        out = []
        for colour, _, _ in line["params"]["spans"]:
            answer = str(count_inside(line["params"], colour))
            if colour == line["params"]["target"]:
                assert answer == line["answer"], "count rule drifted from the generator"
            last = f"{line['answer']} of them fall while the screen is {line['params']['target']}."
            reasoning = line["reasoning"].replace(last, f"{answer} of them fall while the screen is {colour}.")
            out.append({**line, "id": f"{line['id']}-{colour}", "answer": answer, "reasoning": reasoning,
                        "question": f"How many beeps sound while the screen is {colour}?"})
        return out
    if category == "compositional":
        events, out = line["params"]["events"], []
        for ask in ("after", "before"):
            truth = avsynth.compositional_answer(events, ask)
            if truth is None:  # no tone on that side of the blue
                continue
            answer = avsynth._letters(3)[line["options"].index(truth)]
            if ask == line["params"]["ask"]:
                assert answer == line["answer"], "compositional rule drifted from the generator"
            out.append({**line, "id": f"{line['id']}-{ask}", "answer": answer,
                        "reasoning": avsynth.compositional_reasoning(events, ask),
                        "question": avsynth.compositional_question(ask), "params": {**line["params"], "ask": ask}})
        return out
    return [line]


def build_training_data(folder: Path, clips: dict[str, int], seed: int, workers: int = 2) -> dict[str, Path]:
    """Render the training clips of every category under folder; return category -> manifest path."""
    manifests = {}
    for category, n in clips.items():
        out = folder / category
        manifest = out / "manifest.jsonl"
        manifests[category] = manifest
        if manifest.exists():
            continue
        media = out / "media"
        media.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"avsynth:{seed}:{category}")  # the generator's own stream, at a training seed
        pick = random.Random(f"avsynth-omni:variants:{seed}:{category}")
        lines, jobs = [], {}
        for i in range(n):
            line, clip_jobs = avsynth.BUILDERS[category](rng, i, media)
            line = {"id": f"{category}-{i:04d}", **line, "split": "held-out" if i % HELD_OUT_EVERY == 0 else "train"}
            renamed = {}
            for job in clip_jobs:
                key = layout_key(job)
                variant = pick.randrange(VARIANTS[category]) if category in VARIANTS else i
                new = jittered(job, key, variant, media, category)
                renamed[f"media/{job.path.name}"] = f"media/{new.path.name}"
                jobs.setdefault(new.path.name, new)
            line["media"] = [{**item, "path": renamed[item["path"]]} for item in line["media"]]
            line["layout"] = hashlib.sha1("|".join(layout_key(j) for j in clip_jobs).encode()).hexdigest()[:16]
            lines.extend(questions(category, line))
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(avsynth.render, jobs.values()))
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
        tmp.replace(manifest)
    return manifests


def evaluation_layouts(per_task: int, seed: int = 0) -> dict[str, set[str]]:
    """Layout keys of the evaluation samples (the builders' parameters; nothing rendered)."""
    out = {}
    for category in avsynth.CATEGORIES:
        rng = random.Random(f"avsynth:{seed}:{category}")
        keys = set()
        for i in range(per_task):
            _, jobs = avsynth.BUILDERS[category](rng, i, Path("media"))
            keys.add(hashlib.sha1("|".join(layout_key(j) for j in jobs).encode()).hexdigest()[:16])
        out[category] = keys
    return out


def disjointness(train: dict[str, Path], evaluation: dict[str, Path], eval_per_task: int) -> dict:
    """Content hashes of every media file on both sides: any training file equal to an evaluation file is
    an error. Also reports how many evaluation samples share a layout with a training clip."""
    eval_hashes = {}
    for manifest in evaluation.values():
        for sample in read_manifest(manifest, "eval").samples:
            for item in sample.media:
                eval_hashes[content_hash(item.path)] = f"{manifest.parent.name}/{item.path.name}"
    clashes, files, layouts = [], 0, {}
    for category, manifest in train.items():
        seen = set()
        for line in map(json.loads, manifest.read_text().splitlines()):
            layouts.setdefault(category, set()).add(line["layout"])
            for item in line["media"]:
                path = manifest.parent / item["path"]
                if path in seen:
                    continue
                seen.add(path)
                files += 1
                digest = content_hash(path)
                if digest in eval_hashes:
                    clashes.append(f"{category}/{item['path']} == {eval_hashes[digest]}")
    if clashes:
        raise SystemExit("training clips equal evaluation clips:\n  " + "\n  ".join(clashes[:20]))
    shared = {}
    for category, keys in evaluation_layouts(eval_per_task).items():
        reused = len(keys & layouts.get(category, set()))
        shared[category] = {"evaluation_layouts": len(keys), "also_in_training": reused}
    return {"hash": "blake2b-128 of each media file (aurelia_harness.media.store.content_hash)",
            "training_files": files, "evaluation_files": len(eval_hashes), "identical_files": 0,
            "evaluation_seed": 0, "evaluation_per_task": eval_per_task, "layouts": shared}


# ---- inputs: the adapter's own path --------------------------------------------------------------

def target_text(category: str, sample) -> str:
    """What the model is taught to answer: the option letter, the count, a caption naming both keywords, or
    (compositional) the right option's own words, which the scorer maps to its letter as for any model that
    answers so. Why the words there: at this size the model learnt which event came first or last (its probes
    read both at 1.00) but not which shuffled letter names it (held-out at chance in five 600-step runs,
    docs/signal.md); naming the event needs no such look-up."""
    if category == "caption":
        params = sample.metadata["params"]
        return f"A {params['colour']} screen with a {params['pitch']} tone."
    if category == "compositional":
        words = sample.options[avsynth._letters(len(sample.options)).index(sample.answer)]
        return f"{words[0].upper()}{words[1:]}."
    return str(sample.answer)


def _during(t: float, starts, length: float) -> bool:
    return any(a <= t < a + length for a in starts)


def moments(category: str, params: dict):
    """What the clip shows and plays at a moment, from the parameters that made it: (on_screen(t),
    heard(t, audio_input)) -> a word or None (not taught there). These are dense training labels for the
    video and audio tokens (MOMENT_WEIGHT): the encoders learn to see and hear each moment, and where the task
    joins the two, a sound token is taught what is on screen when it sounds (the binding the question needs)."""
    if category == "count":
        colour = lambda t: next((c for c, a, z in params["spans"] if a <= t < z), None)
        return colour, lambda t, k: colour(t) if _during(t, params["beeps"], 0.15) else "silence"
    if category == "caption":
        return lambda t: params["colour"], lambda t, k: params["pitch"]
    if category == "compositional":
        events = params["events"]
        screen = lambda t: "blue" if t >= events["the screen turning blue"] else "dark"
        def heard(t, k):
            for word in avsynth.TONES:
                if _during(t, [events[f"the {word} tone"]], 0.4):
                    return word
            return "silence"
        return screen, heard
    if category == "geo":
        flag = lambda t: next((c for c, a, z in params["flags"] if a <= t < z), None)
        a, z = params["tone"]
        return flag, lambda t, k: flag(t) if a <= t < z else "silence"
    if category == "sync":
        period, start = params["period"], params["start"]
        flashes = [start + n * period for n in range(int(6.0 / period) + 1)]
        first_click = (start + params["offset"]) % period
        clicks = [first_click + n * period for n in range(int(6.0 / period) + 1)]
        screen = lambda t: "flash" if _during(t, flashes, 0.2) else "dark"
        return screen, lambda t, k: screen(t) if _during(t, clicks, 0.05) else "silence"
    if category == "dance":
        bpm = params["tempos_bpm"]
        beat = lambda period: [0.1 + n * period for n in range(int(6.0 / period) + 2)]
        shown = beat(60 / bpm[params["match"] - 1])
        return (lambda t: "flash" if _during(t, shown, 0.15) else "dark",
                lambda t, k: "beat" if _during(t, beat(60 / bpm[k]), 0.08) else "silence")
    raise ValueError(category)


# Training-only probes (one linear layer over the thinker's last hidden state, never saved): what has
# accumulated by a media token's moment, for the tasks whose answer is an aggregate over the clip rather than
# one moment. Per category: (probe name, classes).
AGGREGATE_HEADS = {
    "count": [("red", 8), ("green", 8), ("blue", 8)],  # beeps begun so far under each colour
    # none / low / middle / high: the first tone since the blue, the latest before it, and of those two the one
    # the question asks for (the question precedes the clip, so its media tokens can carry the asked one)
    "compositional": [("after", 4), ("before", 4), ("asked", 4)],
    "dance": [("tempo", len(avsynth.TEMPOS)), ("matches", 2), ("clip", 4)],  # an input's tempo; does this clip match; which does
}
TONE_CLASSES = tuple(f"the {p} tone" for p in avsynth.TONES)


def aggregate_layout() -> dict[str, list[tuple[int, int]]]:
    """Per category, each probe's (offset, classes) in the one output layer that holds them all."""
    layout, offset = {}, 0
    for category, heads in AGGREGATE_HEADS.items():
        layout[category] = []
        for _, classes in heads:
            layout[category].append((offset, classes))
            offset += classes
    return layout


def aggregates(category: str, params: dict):
    """(seen(t), heard(t, audio_input), after) -> one class per probe of AGGREGATE_HEADS[category] (None: not
    taught there), or None for a category without probes. `after` is taught on every text token after the
    media (the question and options): the clip's totals, carried to where the answer is read. Audio tokens of
    a clip's own soundtrack come after the frames of their 2 s chunk (the processor's interleave), so the
    running totals are taught on them."""
    if category == "count":
        colour_at = lambda b: next(c for c, a, z in params["spans"] if a <= b < z)
        under = [(b, colour_at(b)) for b in params["beeps"]]
        totals = lambda t: [min(7, sum(1 for b, c in under if b <= t and c == name)) for name, _ in AGGREGATE_HEADS[category]]
        return (lambda t: None), (lambda t, k: totals(t)), totals(float("inf"))
    if category == "compositional":
        events = params["events"]

        def so_far(t):
            begun = {e: v for e, v in events.items() if v <= t}
            after, before = [1 + TONE_CLASSES.index(e) if e else 0
                             for e in (avsynth.compositional_answer(begun, ask) if "the screen turning blue" in begun
                                       else (None if ask == "after" else max(begun, key=begun.get, default=None))
                                       for ask in ("after", "before"))]
            return [after, before, after if params["ask"] == "after" else before]
        return (lambda t: None), (lambda t, k: so_far(t)), so_far(float("inf"))
    if category == "dance":
        bpm, match = params["tempos_bpm"], params["match"] - 1
        # a tempo needs a few beats to show: taught from 2 s of frames (the frames come first, alone) and 1 s of
        # a clip (the audio encoder reads 2 s windows both ways); the match once both are in view
        seen = lambda t: [avsynth.TEMPOS.index(bpm[match]), None, None] if t >= 2.0 else None
        heard = lambda t, k: [avsynth.TEMPOS.index(bpm[k]), int(k == match), None] if t >= 1.0 else None
        return seen, heard, [avsynth.TEMPOS.index(bpm[match]), None, match]
    return None


def aggregate_labels(ids, media: dict, timestamps: list, category: str, params: dict, tokens: dict):
    """Per position of `ids`, one class per probe of the category (-100 where not taught); None without probes."""
    import torch

    rules = aggregates(category, params)
    if rules is None:
        return None
    seen, heard, after = rules
    labels = torch.full((len(ids), len(AGGREGATE_HEADS[category])), -100, dtype=torch.long)

    def put(position, classes):
        if classes is not None:
            labels[position] = torch.tensor([-100 if c is None else c for c in classes])
    video_at = (ids == tokens["video"]).nonzero().flatten().tolist()
    if video_at:
        grid = media["video_grid_thw"][0].tolist()
        per_step = grid[1] * grid[2] // 4
        for n, position in enumerate(video_at):
            put(position, seen(timestamps[min(len(timestamps) - 1, 2 * (n // per_step) + 1)]))
    audio_at = (ids == tokens["audio"]).nonzero().flatten().tolist()
    if audio_at:
        counts = [audio_tokens(int(m.sum())) for m in media["feature_attention_mask"]]
        n = 0
        for k, count in enumerate(counts):
            for j in range(count):
                put(audio_at[n], heard(0.04 * j + 0.04, k))  # the token's 40 ms, to its end
                n += 1
    media_at = video_at + audio_at
    for position in range(max(media_at) + 1 if media_at else len(ids), len(ids)):
        put(position, after)
    return labels


MOMENT_WORDS = sorted({"silence", "dark", "flash", "beat", *avsynth.TONES, *avsynth.COLOURS, *avsynth.FLAGS})


def audio_tokens(frames: int) -> int:
    """Audio placeholder tokens for one input of `frames` mel frames (the encoder's two stride-2 steps)."""
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


def moment_labels(ids, media: dict, timestamps: list, category: str, params: dict, word_ids: dict, tokens: dict):
    """A label per position of `ids`: the word for what that video or audio token holds, else -100."""
    import torch

    labels = torch.full_like(ids, -100)
    screen, heard = moments(category, params)
    video_at = (ids == tokens["video"]).nonzero().flatten().tolist()
    if video_at:
        grid = media["video_grid_thw"][0].tolist()
        per_step = grid[1] * grid[2] // 4  # merged tokens per temporal step (2 x 2 patches each)
        for n, position in enumerate(video_at):
            step = n // per_step
            seen = [screen(t) for t in timestamps[2 * step:2 * step + 2]]
            # one token holds two frames: taught where they agree; a flash train by its first frame (a flash
            # can be shorter than the token, and the train's rhythm is what sync and dance ask about)
            word = seen[0] if len(set(seen)) == 1 or category in ("sync", "dance") else None
            if word is not None:
                labels[position] = word_ids[word]
    audio_at = (ids == tokens["audio"]).nonzero().flatten().tolist()
    if audio_at:
        counts = [audio_tokens(int(m.sum())) for m in media["feature_attention_mask"]]
        assert sum(counts) == len(audio_at), (counts, len(audio_at))
        n = 0
        for k, count in enumerate(counts):
            for j in range(count):
                word = heard(0.04 * j + 0.02, k)  # 40 ms of sound per token
                if word is not None:
                    labels[audio_at[n]] = word_ids[word]
                n += 1
    return labels


def train_tokenizer(byte_tokenizer, texts: list[str]):
    """A BPE vocabulary over the texts a run sends (prompts, answers, descriptions), on the same byte-level
    Qwen2 tokenizer class: each word becomes a token or two instead of one token per character, so requests
    are shorter and a word in the question matches its option as one token."""
    words = " ".join(MOMENT_WORDS)
    return byte_tokenizer.train_new_from_iterator(texts + [words, " " + words], vocab_size=VOCAB_SIZE,
                                                  new_special_tokens=["<|im_start|>"])


def encode(adapter, samples: list, category: str, form: str, modalities: tuple, log) -> list[dict]:
    """Each sample, once per modality ("av", "video", "audio"; see `restrict_modality`), as the exact tensors a
    baseline run feeds the model, plus its target tokens and the labels of its media tokens."""
    import torch

    strategy, tokenizer = Baseline(), adapter.processor.tokenizer
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    word_ids = {w: tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in MOMENT_WORDS}
    tokens = {kind: tokenizer.convert_tokens_to_ids(getattr(adapter.processor, f"{kind}_token"))
              for kind in ("video", "audio")}
    has_audio = lambda path: adapter.media.probe(path).has_audio
    shared_media: dict[tuple, dict] = {}
    out = []
    for sample in samples:
        sample = dataclasses.replace(sample, answer_form=form)
        base = user_request(sample, strategy.prompt(sample), strategy.settings["max_new_tokens"])
        for modality in modalities:
            kwargs, generate_kwargs, _ = adapter.processor_inputs(restrict_modality(base, modality, has_audio))
            inputs = adapter.processor(**kwargs, return_tensors="pt")
            media = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
            if "input_features" in media:  # keep the valid frames only: the encoder reads no further
                length = int(media["feature_attention_mask"].sum(-1).max())
                media["input_features"] = media["input_features"][..., :length].contiguous()
                media["feature_attention_mask"] = media["feature_attention_mask"][..., :length].contiguous()
            key = (tuple(str(i.path) for i in sample.media), modality)
            if key in shared_media:  # another question on the same clip: the same arrays, stored once
                assert all(torch.equal(shared_media[key][k], v) for k, v in media.items())
                media = shared_media[key]
            else:
                shared_media[key] = media
            target = tokenizer(target_text(category, sample), add_special_tokens=False)["input_ids"] + [eos]
            # past the end of the answer (never generated): what the clip shows and plays, and when; a dense
            # signal that teaches the encoders the events and their times. Not for ablated inputs: the
            # missing half cannot be described.
            said = sample.reasoning if modality == "av" and sample.reasoning else ""
            extra = tokenizer(said, add_special_tokens=False)["input_ids"] + [eos] if said else []
            ids = inputs["input_ids"][0]
            if modality == "av":  # an ablated input cannot show what its missing half held
                video = next(item for item in sample.media if item.kind == "video")
                stamps = adapter.policy.video(adapter.media, VideoPart(video.path), []).timestamps.tolist()
                labels = moment_labels(ids, media, stamps, category, sample.metadata["params"], word_ids, tokens)
                totals = aggregate_labels(ids, media, stamps, category, sample.metadata["params"], tokens)
            else:
                labels, totals = torch.full_like(ids, -100), None
            out.append({"id": sample.id, "category": category, "modality": modality,
                        "prompt": ids, "moments": labels, "aggregates": totals, "target": torch.tensor(target),
                        "description": torch.tensor(extra, dtype=torch.long), "media": media,
                        "audio_in_video": bool(generate_kwargs.get("use_audio_in_video"))})
    log(f"  {category} ({', '.join(modalities)}): {len(out)} requests")
    return out


def collate(items: list[dict], pad: int) -> dict:
    """One batch (a single category and modality, so all share `use_audio_in_video`), right-padded."""
    import torch

    width = max(len(i["prompt"]) + len(i["target"]) + len(i["description"]) for i in items)
    ids = torch.full((len(items), width), pad, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    described = torch.full((len(items), width), -100, dtype=torch.long)
    moments = torch.full((len(items), width), -100, dtype=torch.long)
    for row, item in enumerate(items):
        n, m, k = len(item["prompt"]), len(item["target"]), len(item["description"])
        ids[row, :n], ids[row, n:n + m], ids[row, n + m:n + m + k] = item["prompt"], item["target"], item["description"]
        mask[row, :n + m + k] = 1
        labels[row, n:n + m] = item["target"]
        described[row, n + m:n + m + k] = item["description"]
        moments[row, :n] = item["moments"]
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels, "described": described,
             "moments": moments, "use_audio_in_video": items[0]["audio_in_video"]}
    probed = [i.get("aggregates") for i in items]
    if any(p is not None for p in probed):  # one category per batch: the same probes for every row
        heads = next(p for p in probed if p is not None).shape[1]
        totals = torch.full((len(items), width, heads), -100, dtype=torch.long)
        for row, (item, p) in enumerate(zip(items, probed)):
            if p is not None:
                totals[row, :len(item["prompt"])] = p
        batch["aggregates"] = (items[0]["category"], totals)
    keys = set().union(*(i["media"] for i in items))
    for key in ("pixel_values_videos", "video_grid_thw", "video_second_per_grid", "pixel_values", "image_grid_thw"):
        if key in keys:
            batch[key] = torch.cat([i["media"][key] for i in items if key in i["media"]])
    if "input_features" in keys:
        feats = [f for i in items if "input_features" in i["media"] for f in i["media"]["input_features"]]
        masks = [m for i in items if "input_features" in i["media"] for m in i["media"]["feature_attention_mask"]]
        longest = max(f.shape[-1] for f in feats)
        batch["input_features"] = torch.stack([torch.nn.functional.pad(f, (0, longest - f.shape[-1])) for f in feats])
        batch["feature_attention_mask"] = torch.stack([torch.nn.functional.pad(m, (0, longest - m.shape[-1]))
                                                       for m in masks])
    return batch


# ---- model -----------------------------------------------------------------------------------------

def build_model(processor, shape: dict):
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    from plugins.models.qwen_omni import SPECIAL_TOKENS

    vocab = processor.tokenizer.get_vocab()
    ids = {k: vocab[v] for k, v in SPECIAL_TOKENS.items()}
    text, vision, audio = shape["text"], shape["vision"], shape["audio"]
    hidden = text["hidden_size"]
    thinker = {
        "audio_config": dict(num_mel_bins=128, output_dim=hidden, **audio),
        "vision_config": dict(out_hidden_size=hidden, fullatt_block_indexes=list(range(vision["depth"])), **vision),
        "text_config": dict(vocab_size=len(vocab), max_position_embeddings=8192,
                         rope_parameters={"rope_type": "default", "rope_theta": text["rope_theta"],
                                          "mrope_section": text["mrope_section"]},
                         eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"],
                         **{k: v for k, v in text.items() if k not in ("rope_theta", "mrope_section")}),
        "audio_token_index": ids["audio_token"], "image_token_index": ids["image_token"],
        "video_token_index": ids["video_token"], "audio_start_token_id": ids["audio_bos_token"],
        "audio_end_token_id": ids["audio_eos_token"], "vision_start_token_id": ids["vision_bos_token"],
        "seconds_per_chunk": shape["seconds_per_chunk"]}
    # no talker is built (text out) but its config is validated: keep its ids inside the vocabulary
    talker = {"tts_text_start_token_id": 1, "tts_text_end_token_id": 2, "tts_text_pad_token_id": 0,
                  "vision_start_token_id": 3, "vision_end_token_id": 4, "audio_start_token_id": 5, "audio_end_token_id": 6}
    config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker, enable_audio_output=False)
    return Qwen2_5OmniForConditionalGeneration(config)


def aggregate_probe(hidden: int):
    """The training-only probes of AGGREGATE_HEADS as one linear layer (not part of the saved model)."""
    import torch

    return torch.nn.Linear(hidden, sum(c for heads in AGGREGATE_HEADS.values() for _, c in heads))


def answer_loss(thinker, batch: dict, probe=None):
    """Cross-entropy of the answer tokens, plus DESCRIPTION_WEIGHT x that of the description after them, plus
    MOMENT_WEIGHT x that of the media tokens' labels (`moment_labels`), plus AGGREGATE_WEIGHT x that of the
    running totals read by `probe` from the last hidden state (`aggregate_labels`)."""
    import torch.nn.functional as F

    labels, described, moments = batch.pop("labels"), batch.pop("described"), batch.pop("moments")
    totals = batch.pop("aggregates", None)
    probed = probe is not None and totals is not None
    out = thinker(**batch, output_hidden_states=probed)
    logits, probe_loss = out.logits.float(), None
    if probed:
        category, targets = totals
        read = probe(out.hidden_states[-1].float())
        parts = [F.cross_entropy(read[..., offset:offset + classes].reshape(-1, classes), targets[..., h].reshape(-1),
                                 ignore_index=-100)
                 for h, (offset, classes) in enumerate(aggregate_layout()[category]) if (targets[..., h] != -100).any()]
        probe_loss = sum(parts) if parts else None
    flat = logits[:, :-1].reshape(-1, logits.shape[-1])
    loss = F.cross_entropy(flat, labels[:, 1:].reshape(-1), ignore_index=-100)
    if (described != -100).any():
        loss = loss + DESCRIPTION_WEIGHT * F.cross_entropy(flat, described[:, 1:].reshape(-1), ignore_index=-100)
    if (moments != -100).any():  # read at the media token itself, not as a next token
        loss = loss + MOMENT_WEIGHT * F.cross_entropy(logits.reshape(-1, logits.shape[-1]), moments.reshape(-1),
                                                      ignore_index=-100)
    if probe_loss is not None:
        loss = loss + AGGREGATE_WEIGHT * probe_loss
    return loss


def learning_rate(step: int, cfg: dict) -> float:
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    progress = (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"])
    floor = cfg["min_lr_ratio"]
    return cfg["lr"] * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def held_out_accuracy(thinker, items: list[dict], pad: int, batch_size: int,
                      label=lambda item: item["category"] if item["modality"] == "av" else None, probe=None):
    """Per label (default: the category, full-input requests only; None leaves an item out): share of held-out
    requests whose every target token is the argmax (teacher forced); and, with `probe` (else empty), each
    aggregate probe's accuracy at the position the answer is generated from: does the model hold the clip's
    totals there, whether or not it then answers from them."""
    import torch

    groups: dict[tuple, list] = {}
    for item in items:
        if label(item) is not None:  # a batch shares one modality (collate)
            groups.setdefault((label(item), item["modality"]), []).append(item)
    right: dict[str, list] = {}
    probed: dict[str, list] = {}
    thinker.eval()
    with torch.inference_mode():
        for (name, _), group in sorted(groups.items()):
            for start in range(0, len(group), batch_size):
                batch = collate(group[start:start + batch_size], pad)
                labels = batch.pop("labels")
                batch.pop("described"), batch.pop("moments")
                totals = batch.pop("aggregates", None)
                out = thinker(**batch, output_hidden_states=probe is not None and totals is not None)
                guess = out.logits[:, :-1].argmax(-1)
                gold, where = labels[:, 1:], labels[:, 1:] != -100
                ok = ((guess == gold) | ~where).all(-1)
                right.setdefault(name, []).extend(ok.tolist())
                if probe is not None and totals is not None:
                    # each probe read where the answer is generated (the last prompt position)
                    category, targets = totals
                    read = probe(out.hidden_states[-1].float())
                    last = where.float().argmax(-1)  # the first target token's label sits one after the prompt
                    rows = torch.arange(len(last))
                    for h, ((offset, classes), (head, _)) in enumerate(zip(aggregate_layout()[category],
                                                                           AGGREGATE_HEADS[category])):
                        gold_h = targets[rows, last, h]
                        keep = gold_h != -100
                        hit = read[rows, last, offset:offset + classes].argmax(-1) == gold_h
                        probed.setdefault(f"{category}.{head}", []).extend(hit[keep].tolist())
    thinker.train()
    share = lambda hits: {k: round(sum(v) / len(v), 3) for k, v in hits.items() if v}
    return share(right), share(probed)


def train_steps(thinker, items: list[dict], weight, cfg: dict, rng: random.Random, pad: int, evaluate, log, probe=None):
    """AdamW over batches of one (category, modality) pool each, drawn with weight(category, modality);
    `evaluate()` (-> held_out_accuracy's pair) every cfg["eval_every"] steps and at the end; `probe` (aggregate_probe) trained beside the
    thinker where given. Returns (losses, history)."""
    import itertools

    import torch

    pools: dict[tuple, list] = {}
    for item in items:
        pools.setdefault((item["category"], item["modality"]), []).append(item)
    keys = sorted(pools)
    weights = [weight(c, m) for c, m in keys]
    params = list(itertools.chain(thinker.parameters(), probe.parameters() if probe is not None else []))
    optimizer = torch.optim.AdamW(params, lr=cfg["lr"], betas=(0.9, 0.98),
                                  weight_decay=cfg["weight_decay"])
    losses, history = [], []
    for step in range(cfg["steps"]):
        key = rng.choices(keys, weights)[0]
        batch = collate(rng.sample(pools[key], min(cfg["batch_size"], len(pools[key]))), pad)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss = answer_loss(thinker, batch, probe)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg["clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if (step + 1) % 50 == 0:
            log(f"step {step + 1}/{cfg['steps']} loss {sum(losses[-50:]) / 50:.4f} lr {learning_rate(step, cfg):.2e}")
        if (step + 1) % cfg["eval_every"] == 0 or step + 1 == cfg["steps"]:
            accuracy, probes = evaluate()
            history.append({"step": step + 1, "loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
                            "held_out_exact": accuracy, **({"held_out_probes": probes} if probes else {})})
            log(f"held-out exact: {accuracy}" + (f"; probes at the answer: {probes}" if probes else ""))
    return losses, history


# ---- main ------------------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model, processor, out: Path, record: dict) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    processor.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    dtype = torch.float32 if params * 4 < MAX_FILE_BYTES * 0.9 else torch.float16
    model.to(dtype).save_pretrained(out, max_shard_size="15MB")
    torch.save({}, out / "spk_dict.pt")  # from_pretrained insists on a speaker table; no voices here
    files = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in sorted(out.iterdir()) if p.is_file()}
    too_big = [name for name, f in files.items() if f["bytes"] > MAX_FILE_BYTES]
    if too_big:
        raise SystemExit(f"files over 16 MB: {too_big}")
    record = {**record, "parameters": params, "weights_dtype": str(dtype).replace("torch.", ""), "files": files}
    (out / "manifest.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "model_cards" / "trained" / "avsynth-omni")
    parser.add_argument("--work", type=Path, default=None,
                        help="training data and decoded-media cache (default: the harness cache)")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"])
    parser.add_argument("--clips-scale", type=float, default=1.0, help="scale every category's clip count")
    parser.add_argument("--eval-per-task", type=int, default=50,
                        help="evaluation samples per category (seed 0) that training must not contain")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--categories", default=",".join(CLIPS),
                        help="comma-separated categories to train on (default: all; fewer for experiments)")
    parser.add_argument("--no-aggregates", action="store_true", help="train without the aggregate probes")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    started = time.time()
    log = lambda msg: print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)
    cache = default_cache_dir()
    work = args.work or cache / "train-avsynth-omni"
    chosen = [c.strip() for c in args.categories.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(CLIPS))
    if unknown:
        parser.error(f"unknown categories {unknown}; known: {', '.join(CLIPS)}")
    clips = {c: max(2, round(n * args.clips_scale)) for c, n in CLIPS.items() if c in chosen}
    cfg = {**TRAIN, "steps": args.steps}

    log(f"evaluation set: AVSynth seed 0, {args.eval_per_task} per category")
    eval_root = avsynth.dataset_dir(cache / "data", args.eval_per_task, 0)
    evaluation = avsynth.generate(eval_root, args.eval_per_task, 0)
    log(f"training clips (seed {cfg['data_seed']}): {clips}")
    data_dir = work / f"data-v{avsynth.GENERATOR_VERSION}-s{cfg['data_seed']}-x{args.clips_scale:g}"
    train_manifests = build_training_data(data_dir, clips, cfg["data_seed"])
    ablation_clips = {c: max(1, round(n * ABLATION_CLIPS)) for c, n in clips.items()}
    log(f"ablation clips (seed {cfg['data_seed']}, its own stream): {ablation_clips}")
    ablation_manifests = build_training_data(data_dir / "ablation", ablation_clips, f"{cfg['data_seed']}-ablation")
    disjoint = disjointness(train_manifests, evaluation, args.eval_per_task)
    disjoint["ablation"] = disjointness(ablation_manifests, evaluation, args.eval_per_task)
    log(f"no training file equals an evaluation file ({disjoint['training_files']} + "
        f"{disjoint['ablation']['training_files']} vs {disjoint['evaluation_files']})")
    data_seconds = time.time() - started

    from transformers import AutoProcessor, Qwen2_5OmniProcessor

    from plugins.models.qwen_omni import QwenOmniAdapter, build_tiny

    card = load_card(CARD)
    processor = AutoProcessor.from_pretrained(build_tiny(cache / "models" / "tiny-qwen2.5-omni-v1"))
    adapter = QwenOmniAdapter(card, MediaStore(work / "media-cache"), "cpu")
    adapter.processor, adapter.audio_rate = processor, adapter.policy.audio_rate  # its request path; no model
    adapter.seconds_per_chunk = MODEL["seconds_per_chunk"]  # what the built model's config will say
    forms = answer_forms()
    splits = {}
    for category, manifest in train_manifests.items():
        lines = {json.loads(x)["id"]: json.loads(x)["split"] for x in manifest.read_text().splitlines()}
        samples = [dataclasses.replace(s, answer_form=forms[category])
                   for s in read_manifest(manifest, f"avsynth-{category}").samples]
        splits[category] = ([s for s in samples if lines[s.id] == "train"], [s for s in samples if lines[s.id] == "held-out"])
    ablation = {category: read_manifest(manifest, f"avsynth-{category}").samples  # every line: none is held out
                for category, manifest in ablation_manifests.items()}
    log("training the tokenizer on the training requests' texts")
    texts = []
    for category, (train, _) in splits.items():
        for sample in train:
            request = user_request(sample, Baseline().prompt(sample), 16)
            texts += [adapter.prompt_text(request), target_text(category, sample), sample.reasoning or ""]
    processor = Qwen2_5OmniProcessor(image_processor=processor.image_processor, video_processor=processor.video_processor,
                                     feature_extractor=processor.feature_extractor,
                                     tokenizer=train_tokenizer(processor.tokenizer, texts),
                                     chat_template=processor.chat_template)
    adapter.processor = processor
    log(f"vocabulary: {len(processor.tokenizer)} tokens")
    rng = random.Random(cfg["seed"])
    train_items, held_items = [], []
    log("encoding requests through QwenOmniAdapter.processor_inputs")
    for category, (train, held) in splits.items():
        train_items += encode(adapter, train, category, forms[category], ("av",), log)
        train_items += encode(adapter, ablation[category], category, forms[category], ("video", "audio"), log)
        held_items += encode(adapter, held, category, forms[category], ("av",), log)
    encode_seconds = time.time() - started - data_seconds

    torch.manual_seed(cfg["seed"])
    model = build_model(processor, MODEL)
    thinker = model.thinker.train()
    probe = None if args.no_aggregates else aggregate_probe(MODEL["text"]["hidden_size"])
    pad = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    log(f"thinker: {sum(p.numel() for p in thinker.parameters()):,} parameters; "
        f"{len(train_items)} training requests, {len(held_items)} held out")
    train_start = time.time()
    losses, history = train_steps(thinker, train_items, lambda c, m: WEIGHTS[c] * (1.0 if m == "av" else ABLATED_SHARE),
                                  cfg, rng, pad, lambda: held_out_accuracy(thinker, held_items, pad, cfg["batch_size"], probe=probe), log,
                                  probe)
    train_seconds = time.time() - train_start
    record = {
        "model": "avsynth-omni", "card": str(CARD.relative_to(ROOT)), "script": "scripts/train_avsynth_omni.py",
        "architecture": "Qwen2_5OmniForConditionalGeneration (thinker trained; no talker)", "shape": MODEL,
        "training": cfg, "clips": clips, "variants": VARIANTS, "batch_weights": WEIGHTS,
        "ablated_share": ABLATED_SHARE, "ablation_clips": ablation_clips, "description_weight": DESCRIPTION_WEIGHT, "held_out_every": HELD_OUT_EVERY,
        "moment_weight": MOMENT_WEIGHT, "moment_words": MOMENT_WORDS, "vocabulary": len(processor.tokenizer),
        "aggregate_weight": 0.0 if probe is None else AGGREGATE_WEIGHT,
        "aggregate_heads": {} if probe is None else {c: [n for n, _ in h] for c, h in AGGREGATE_HEADS.items()},
        "data": {"generator": f"avsynth-v{avsynth.GENERATOR_VERSION}", "seed": cfg["data_seed"],
                 "training_requests": len(train_items), "held_out_requests": len(held_items)},
        "disjoint_from_evaluation": disjoint,
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4) if losses else None,
        "history": history,
        "seconds": {"data": round(data_seconds, 1), "encode": round(encode_seconds, 1), "train": round(train_seconds, 1),
                    "total": round(time.time() - started, 1)},
        "threads": args.threads,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    save(model, processor, args.out, record)
    log(f"wrote {args.out} (final loss {record['final_loss']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
