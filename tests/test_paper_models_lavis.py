"""The AURELIA paper's models built on Salesforce LAVIS (X-InstructBLIP, CREMA), through their authors' code:
each worker is driven through a stand-in of the authors' repository with the same module paths, entry points,
config keys and processor signatures (read at the commits the cards pin), whose model answers with JSON
describing what it was given. The real repositories need GPUs and their weights."""

import os

import pytest

from aurelia_harness import environments
from aurelia_harness.cli import main
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.types import AudioPart, ImagePart, TextPart, VideoPart

from test_paper_models import (WAV_INFO, ask, card, check_golden_call, check_pinned_card, checkpoint_file, is_wav,
                               seen, write_tree)

MODULES = ["avharness_plugins.models.xinstructblip", "avharness_plugins.models.crema"]
REGISTRY = discover(extra=MODULES)

# OmegaConf as far as the workers use it (the harness's environment has no omegaconf): load YAML into nodes
OMEGACONF = '''
import yaml


class Node(dict):
    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc

    def __setattr__(self, key, value):
        self[key] = value


def node(value):
    return Node({k: node(v) for k, v in value.items()}) if isinstance(value, dict) else value


class OmegaConf:
    @staticmethod
    def load(path):
        with open(path) as fh:
            return node(yaml.safe_load(fh))
'''

# what the processors read, for the model's JSON answer
SEEN = '''
READ = []
'''

# LAVIS's registry, as both repositories' code uses it
REGISTRY_MODULE = '''
class Registry:
    models, processors = {}, {}

    def register_model(self, name):
        def add(cls):
            self.models[name] = cls
            return cls
        return add

    def register_processor(self, name):
        def add(cls):
            self.processors[name] = cls
            return cls
        return add

    def get_model_class(self, name):
        return self.models[name]

    def get_processor_class(self, name):
        return self.processors[name]


registry = Registry()
'''

LAVIS_BASE = {"omegaconf/__init__.py": OMEGACONF, "lavis/__init__.py": "", "lavis/seen.py": SEEN,
              "lavis/common/__init__.py": "", "lavis/common/registry.py": REGISTRY_MODULE}

XINSTRUCTBLIP = {
    **LAVIS_BASE,
    "projects/xinstructblip/demo/configs/vicuna13b.yaml": (
        "model:\n  arch: blip2_vicuna_xinstruct\n  model_type: vicuna13b\n  llm_model: /path/to/vicuna-13b\n"
        "  audio_encoder_kwargs: {}\n  modalities: [image, video, audio, pc]\n  prompt: ''\n  use_cues: true\n"),
    "lavis/models/__init__.py": "",
    "lavis/models/blip2_models/__init__.py": "",
    "lavis/models/blip2_models/blip2_vicuna_xinstruct.py": '''
import json, os

from lavis.common.registry import registry
from lavis.seen import READ


class Tokenizer:
    def encode(self, text, add_special_tokens=True):
        return text.split()


@registry.register_model("blip2_vicuna_xinstruct")
class Blip2VicunaXInstruct:
    @classmethod
    def from_config(cls, cfg):
        model = cls()
        model.cfg, model.moves, model.llm_tokenizer = dict(cfg), [], Tokenizer()
        return model

    def to(self, device):
        self.moves.append(str(device))
        return self

    def eval(self):
        self.moves.append("eval")
        return self

    def generate(self, samples, **kwargs):
        shapes = {k: list(v.shape) for k, v in samples.items() if k != "prompt"}
        answer = json.dumps({"prompt": samples["prompt"], "shapes": shapes, "kwargs": kwargs, "read": READ,
                             "cfg": self.cfg, "moves": self.moves, "pid": os.getpid()})
        READ.clear()
        return [answer]
''',
    "lavis/processors/__init__.py": "",
    "lavis/processors/alpro_processors.py": '''
import os
import torch

from lavis.seen import READ


class AlproVideoEvalProcessor:
    def __init__(self, image_size=256, mean=None, std=None, n_frms=1 << 30, full_video=True):
        self.image_size, self.n_frms = image_size, n_frms

    def __call__(self, vpath, start_sec=None, end_sec=None):
        READ.append({"video": os.path.basename(vpath)})
        return torch.zeros(3, self.n_frms, self.image_size, self.image_size)
''',
    "lavis/processors/audio_processors.py": WAV_INFO + '''
import torch

from lavis.seen import READ


class BeatsAudioProcessor:
    def __init__(self, model_name, sampling_rate, n_frames, frame_length, is_eval):
        self.settings = dict(model_name=model_name, sampling_rate=sampling_rate, n_frames=n_frames,
                             frame_length=frame_length, is_eval=is_eval)

    def __call__(self, aupath, start_sec=None, end_sec=None):
        shape = (self.settings["n_frames"], self.settings["frame_length"], 128)
        try:
            info = wav_info(aupath)
        except Exception:  # upstream's bare except: an unreadable file is zeros
            return torch.zeros(shape)
        READ.append({"audio": info, "settings": self.settings})
        return torch.ones(shape)
''',
    "lavis/processors/clip_processors.py": '''
import torch

from lavis.seen import READ


class ClipImageEvalProcessor:
    def __call__(self, item):
        READ.append({"image": list(item.size), "mode": item.mode})
        return torch.zeros(3, 224, 224)
''',
}

CREMA = {
    **LAVIS_BASE,
    "lavis/projects/crema/eval/music_avqa_eval.yaml": "model:\n  arch: crema\n",
    "lavis/common/config.py": '''
import ast
import os

from omegaconf import node


class Config:
    """music_avqa_eval.yaml's model and dataset sections, with the options merged over them."""
    def __init__(self, args):
        assert os.path.exists(args.cfg_path), args.cfg_path
        options = dict(o.split("=", 1) for o in args.options)
        model = {"arch": "crema", "model_type": "pretrain_flant5xl", "frame_num": 4, "modalities": "rgb",
                 "downstream_task": "oeqa", "finetuned": ""}
        model.update({k.split(".", 1)[1]: v for k, v in options.items() if k.startswith("model.")})
        dataset = {"data_type": ["video", "audio"],
                   "video_processor": {"eval": {"name": "blip_video_eval", "n_frms": 4, "image_size": 224}},
                   "audio_processor": {"eval": {"name": "beats_audio", "sampling_rate": 16000, "is_eval": False}},
                   "text_processor": {"eval": {"name": "blip_question"}}}
        dataset["data_type"] = ast.literal_eval(options["datasets.musicavqa_mm_instruct.data_type"])
        self.model_cfg = node(model)
        self.datasets_cfg = node({"musicavqa_mm_instruct": dataset})
''',
    "lavis/datasets/__init__.py": "",
    "lavis/datasets/builders/__init__.py": "",
    "lavis/tasks/__init__.py": "",
    "lavis/processors/__init__.py": WAV_INFO + '''
import torch

from lavis.common.registry import registry
from lavis.seen import READ


@registry.register_processor("blip_video_eval")
class BlipVideoEvalProcessor:
    def __init__(self, image_size=384, n_frms=1 << 30):
        self.image_size, self.n_frms = image_size, n_frms

    @classmethod
    def from_config(cls, cfg):
        return cls(image_size=cfg.get("image_size", 256), n_frms=cfg.get("n_frms", 1 << 30))

    def __call__(self, vpath, clip_proposal=None):
        READ.append({"video": vpath})
        return torch.zeros(3, self.n_frms, self.image_size, self.image_size), [5, 15, 25, 35], 10.0


@registry.register_processor("beats_audio")
class BeatsAudioProcessor:
    def __init__(self, sampling_rate, n_frames, frame_length, is_eval):
        self.sampling_rate, self.n_frames, self.frame_length, self.is_eval = sampling_rate, n_frames, frame_length, is_eval

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.get("sampling_rate", 16000), cfg.get("n_frames", 2), cfg.get("frame_length", 512),
                   cfg.get("is_eval", False))

    def __call__(self, aupath):
        READ.append({"audio": wav_info(aupath)})
        return torch.ones(self.n_frames, self.frame_length, 128)


@registry.register_processor("blip_question")
class BlipQuestionProcessor:
    @classmethod
    def from_config(cls, cfg):
        return cls()

    def __call__(self, question):
        return question.lower().replace(".", "")
''',
    "lavis/models/beats_encoder.py": '''
ckp_path = "/nas-hdd/shoubin/pretrained_model/BEATs_iter3_plus_AS2M.pt"


class BeatsEncoder:
    def __init__(self, checkpoint_path=ckp_path):
        self.checkpoint_path = checkpoint_path
''',
    "lavis/models/__init__.py": '''
import json, os

from lavis.common.registry import registry
from lavis.models.beats_encoder import BeatsEncoder
from lavis.seen import READ


class Tokens:
    def __init__(self, ids):
        self.input_ids = ids


class Tokenizer:
    def __call__(self, text, add_special_tokens=True):
        return Tokens(text.split() + (["</s>"] if add_special_tokens else []))


@registry.register_model("crema")
class CREMA:
    @classmethod
    def from_config(cls, cfg):
        model = cls()
        model.cfg, model.moves, model.t5_tokenizer = dict(cfg), [], Tokenizer()
        model.modalities = [m.split("-")[0] for m in cfg["modalities"].split("_")]
        model.beats = BeatsEncoder().checkpoint_path  # as init_audio_encoder builds it: no arguments
        return model

    def to(self, device):
        self.moves.append(str(device))
        return self

    def eval(self):
        self.moves.append("eval")
        return self

    def predict_answers(self, samples, num_beams=5, inference_method="generate", max_len=10, min_len=1,
                        num_ans_candidates=128, answer_list=None, prompt="", length_penalty=-1, **kwargs):
        tensors = {k: {"shape": list(samples[k].shape), "sum": float(samples[k].sum())} for k in self.modalities}
        answer = json.dumps({"qa_input": samples["qa_input"], "qa_output": samples["qa_output"], "tensors": tensors,
                             "predict": dict(num_beams=num_beams, inference_method=inference_method, max_len=max_len,
                                             min_len=min_len, num_ans_candidates=num_ans_candidates,
                                             answer_list=answer_list, prompt=prompt),
                             "read": READ, "cfg": self.cfg, "beats": self.beats, "moves": self.moves,
                             "pid": os.getpid()})
        READ.clear()
        return [answer]
''',
}


def loaded(adapter, checkpoint, package, tmp_path, worker=None, **media):
    model = REGISTRY.adapter(adapter)(card(adapter, checkpoint, package, worker, **media), MediaStore(tmp_path / "m"),
                                      "cpu")
    model.load()
    return model


def answer(model, *parts, tokens=16):
    """One request: the stand-in's record of it (`read`: what its processors read for it), and the reply."""
    reply = model.generate([ask(*parts, tokens=tokens)])[0]
    return seen(reply), reply


def test_xinstructblip_gets_frames_and_the_soundtrack_as_its_audio_input(clips, tmp_path):
    package = write_tree(tmp_path / "src", XINSTRUCTBLIP)
    with pytest.raises(Exception, match="needs \\[worker\\] llm_model"):
        loaded("x-instructblip", tmp_path, package, tmp_path)
    model = loaded("x-instructblip", tmp_path, package, tmp_path,
                   {"llm_model": "~/vicuna-13b", "beats_checkpoint": "~/beats.pt", "modalities": ["image", "video", "audio"],
                    "num_beams": 5, "repetition_penalty": 1.5})
    try:
        got, reply = answer(model, VideoPart(clips["av"]), TextPart("Which colour?"))
        assert got["prompt"] == "Which colour?"
        assert got["shapes"] == {"video": [1, 3, 4, 224, 224], "audio": [1, 2, 512, 128]}
        assert got["kwargs"] == {"length_penalty": 1.0, "repetition_penalty": 1.5, "num_beams": 5, "min_length": 1,
                                 "top_p": 0.9, "use_nucleus_sampling": False, "max_length": 16,
                                 "special_qformer_input_prompt": "Which colour?"}
        video, audio = got["read"]
        assert video == {"video": "av.mp4"} and is_wav(audio["audio"], 4.0)  # the soundtrack, as a 16 kHz WAV
        assert audio["settings"] == {"model_name": "iter3", "sampling_rate": 16000, "n_frames": 2, "frame_length": 512,
                                     "is_eval": False}
        cfg = got["cfg"]
        assert cfg["arch"] == "blip2_vicuna_xinstruct" and cfg["modalities"] == ["image", "video", "audio"]
        assert "~" not in cfg["llm_model"] and cfg["llm_model"].endswith("vicuna-13b")
        assert cfg["audio_encoder_kwargs"]["checkpoint_path"].endswith("beats.pt")
        assert got["moves"] == ["cpu", "eval"]
        assert got["pid"] != os.getpid()
        assert reply.media["video"] == [{"frames": 4, "size": [224, 224], "soundtrack": True}]
        track = reply.media["audio"][0]
        assert track["seconds"] == pytest.approx(4.0, abs=0.06) and track["windows"] == 2
        assert (track["window_seconds"], track["rate"], track["soundtrack"], track["read"]) == (5.12, 16000, True, True)
        assert reply.output_tokens == len(reply.text.split())

        silent, silent_reply = answer(model, VideoPart(clips["silent"]), TextPart("q"))
        assert list(silent["shapes"]) == ["video"] and silent_reply.media["audio"] == []
        assert "silent.mp4 has no audio track: fed video only" in silent_reply.notes
        muted, _ = answer(model, VideoPart(clips["av"], with_audio=False), TextPart("q"))
        assert list(muted["shapes"]) == ["video"]

        # a WebM clip reaches BEATs' processor as the harness decoded it: a 16-bit mono WAV at 16 kHz
        heard, heard_reply = answer(model, AudioPart(clips["webm"]), TextPart("What sound?"))
        assert list(heard["shapes"]) == ["audio"] and is_wav(heard["read"][0]["audio"], 3.0)
        assert heard_reply.media["audio"][0]["soundtrack"] is False and heard_reply.media["video"] == []

        from PIL import Image

        Image.new("L", (8, 6)).save(tmp_path / "p.png")
        both, both_reply = answer(model, ImagePart(tmp_path / "p.png"), AudioPart(clips["wav"]), TextPart("q"))
        assert list(both["shapes"]) == ["image", "audio"] and both["read"][0] == {"image": [8, 6], "mode": "RGB"}
        assert both_reply.media["images"] == 1 and both_reply.media["audio"][0]["seconds"] == pytest.approx(2.0, abs=0.06)

        refused = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q")),
                                  ask(ImagePart(tmp_path / "p.png"), ImagePart(tmp_path / "p.png"), TextPart("q")),
                                  ask(TextPart("q"))])
        assert [r.error_kind for r in refused] == ["request_refused"] * 3
        assert "one audio input" in refused[0].error and "needs a video" in refused[2].error
        # the same clip and a video whose soundtrack the request leaves out: one audio input
        fine, _ = answer(model, VideoPart(clips["av"], with_audio=False), AudioPart(clips["wav"]), TextPart("q"))
        assert list(fine["shapes"]) == ["video", "audio"] and is_wav(fine["read"][1]["audio"], 2.0)
        assert model.generate([ask(VideoPart(tmp_path / "gone.mp4"), TextPart("q"))])[0].error
    finally:
        model.close()


def test_xinstructblip_says_when_its_audio_processor_gave_zeros(clips, tmp_path):
    files = dict(XINSTRUCTBLIP)
    files["lavis/processors/audio_processors.py"] = files["lavis/processors/audio_processors.py"].replace(
        "info = wav_info(aupath)", "raise OSError('no backend')")
    model = loaded("x-instructblip", tmp_path, write_tree(tmp_path / "src", files), tmp_path, {"llm_model": "/v"})
    try:
        _, reply = answer(model, AudioPart(clips["wav"]), TextPart("q"))
        assert reply.media["audio"][0]["read"] is False
        assert "X-InstructBLIP's audio processor could not read the audio (it gave zeros): fed silence" in reply.notes
    finally:
        model.close()


def test_crema_reads_frames_and_soundtrack_through_its_musicavqa_processors(clips, tmp_path):
    package = write_tree(tmp_path / "src", CREMA)
    weights = checkpoint_file(tmp_path / "ckpt", "crema_pretrained.pth")
    with pytest.raises(Exception, match="needs \\[worker\\] beats_checkpoint"):
        loaded("crema", tmp_path / "ckpt", package, tmp_path)
    model = loaded("crema", tmp_path / "ckpt", package, tmp_path, {"beats_checkpoint": "~/BEATs.pt", "num_beams": 5})
    try:
        got, reply = answer(model, VideoPart(clips["av"]), TextPart("Which colour first?"), tokens=10)
        assert got["qa_input"] == ["Question: which colour first? Based on the frames and audio information, answer "
                                   "the question using a single word or phase."] and got["qa_output"] == [""]
        assert got["tensors"]["rgb"]["shape"] == [1, 3, 4, 224, 224]
        assert got["tensors"]["audio"] == {"shape": [1, 2, 512, 128], "sum": 2 * 512 * 128}
        assert got["predict"] == {"num_beams": 5, "inference_method": "generate", "max_len": 10, "min_len": 1,
                                  "num_ans_candidates": 128, "answer_list": None, "prompt": "Question: {} Answer:"}
        video, audio = got["read"]
        assert video == {"video": str(clips["av"])} and is_wav(audio["audio"], 4.0)
        cfg = got["cfg"]  # the inference script's options over music_avqa_eval.yaml
        assert (cfg["modalities"], cfg["frame_num"], cfg["downstream_task"]) == ("audio_rgb-skip", "4", "oeqa")
        assert cfg["finetuned"] == str(weights) and got["moves"] == ["cpu", "eval"]
        assert got["beats"].endswith("BEATs.pt") and "~" not in got["beats"]  # the README's edit, made at load
        assert reply.media["video"] == [{"frames": 4, "size": [224, 224], "frame_indices": [5, 15, 25, 35],
                                         "soundtrack": True}]
        track = reply.media["audio"][0]
        assert track["seconds"] == pytest.approx(4.0, abs=0.06) and (track["windows"], track["window_seconds"]) == (2, 5.12)
        assert track["zeros"] is False and reply.media["text"]["truncated"] is False
        assert reply.input_tokens == len(got["qa_input"][0].split()) + 1 and reply.notes == []

        silent, silent_reply = answer(model, VideoPart(clips["silent"]), TextPart("q"))
        assert silent["tensors"]["audio"] == {"shape": [1, 2, 512, 128], "sum": 0.0}  # upstream's empty audio
        assert [r for r in silent["read"] if "audio" in r] == []
        assert silent_reply.media["audio"][0]["zeros"] is True and silent_reply.media["video"][0]["soundtrack"] is False
        assert any("its audio processor's empty input (zeros) went in" in n for n in silent_reply.notes)
        muted, _ = answer(model, VideoPart(clips["av"], with_audio=False), TextPart("q"))
        assert muted["tensors"]["audio"]["sum"] == 0.0

        long_question = " ".join(["word"] * 90)
        _, long_reply = answer(model, VideoPart(clips["av"]), TextPart(long_question))
        assert long_reply.media["text"]["truncated"] is True and long_reply.input_tokens == 77

        refused = model.generate([ask(AudioPart(clips["wav"]), TextPart("q")), ask(TextPart("q"))])
        assert [r.error_kind for r in refused] == ["request_refused"] * 2
        assert "exactly one video" in refused[1].error
    finally:
        model.close()


GOLDEN_CARDS = {"x-instructblip": "x-instructblip-13b", "crema": "crema-4b"}


@pytest.mark.parametrize("adapter", sorted(GOLDEN_CARDS))
def test_the_call_into_the_authors_code_golden_snapshot(adapter, clips, tmp_path):
    check_golden_call(REGISTRY, adapter, GOLDEN_CARDS[adapter], adapter, clips["av"], tmp_path)


def test_the_lavis_cards_pin_their_code_and_cite_every_setting():
    for adapter, name in GOLDEN_CARDS.items():
        paper_card = check_pinned_card(REGISTRY, adapter, name)
        source = paper_card.get("environment.source")
        assert paper_card.get("environment.requirements_files") == ["requirements.txt"]
        assert "test_paper_models_lavis.py" in paper_card.get("verified")
        sources = paper_card.get("sources")
        for key in paper_card.get("worker"):
            assert f"worker.{key}" in sources, f"{name}: [worker] {key} cites no source"
        assert all(f"@ {source['rev'][:7]}" in text or text.startswith("ours:") for text in sources.values()), name
    assert "pre-extracted" in REGISTRY.card("crema-4b").get("weights")


def test_env_create_paper_makes_the_lavis_environments_from_their_checkouts(capsys):
    plugins = [arg for module in MODULES for arg in ("--plugin", module)]
    assert main(["env", "create", "--paper", "--dry-run", *plugins]) == 0
    out = capsys.readouterr().out
    for name in GOLDEN_CARDS.values():
        folder = environments.environment_dir(REGISTRY.card(name))
        block = out.split(f"{name}: would create")[1].split(" would create ")[0]
        clone, pip = block.index("git clone"), block.index("pip install")
        assert clone < pip and f"-r {folder / 'source'}/requirements.txt" in block, block
        assert not environments.environment_python(REGISTRY.card(name)).exists()
