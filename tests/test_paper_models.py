"""The AURELIA paper's research models that run through their authors' code (PandaGPT, NExT-GPT, Video-LLaMA,
OneLLM, video-SALMONN): each worker is driven through a stand-in of the authors' repository with the same
module paths, entry points and loader defaults (read at the commits the cards pin), whose entry point
answers with JSON describing what it was called with. The real repositories need GPUs and their weights."""

import json
import os
import sys
from pathlib import Path

import pytest

from aurelia_harness import environments
from aurelia_harness.cards import card_from_dict
from aurelia_harness.cli import main
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.types import AudioPart, ImagePart, Message, Request, TextPart, VideoPart

FAMILIES = ["pandagpt", "nextgpt", "videollama", "onellm", "video_salmonn"]
MODULES = [f"avharness_plugins.models.{f}" for f in FAMILIES]
REGISTRY = discover(extra=MODULES)
GOLDEN = Path(__file__).parent / "golden"

WAV_INFO = '''
def wav_info(path):
    import wave
    with wave.open(path) as w:
        return {"seconds": round(w.getnframes() / w.getframerate(), 2), "rate": w.getframerate(),
                "channels": w.getnchannels(), "width": w.getsampwidth()}
'''

# ImageBind's loaders as PandaGPT and NExT-GPT ship them: only the signatures matter to the worker
IMAGEBIND_DATA = '''
def load_and_transform_video_data(video_paths, device, clip_duration=2, clips_per_video=5, sample_rate=16000):
    raise AssertionError("read by the model's own encode_video")


def load_and_transform_audio_data(audio_paths, device, num_mel_bins=128, target_length=204, sample_rate=16000,
                                  clip_duration=2, clips_per_video=3, mean=-4.268, std=9.138):
    raise AssertionError("read by the model's own encode_audio")
'''

PANDAGPT = {
    "model/__init__.py": "",
    "model/ImageBind/__init__.py": "",
    "model/ImageBind/data.py": IMAGEBIND_DATA,
    "model/openllama.py": WAV_INFO + '''
import json, os


class OpenLLAMAPEFTModel:
    def __init__(self, **args):
        self.args, self.loaded, self.moves = args, None, []

    def load_state_dict(self, state, strict=True):
        self.loaded = {"keys": sorted(state), "strict": strict}

    def eval(self):
        self.moves.append("eval"); return self

    def half(self):
        self.moves.append("half"); return self

    def to(self, device):
        self.moves.append(str(device)); return self

    def generate(self, inputs):
        return json.dumps({"inputs": inputs, "args": self.args, "loaded": self.loaded, "moves": self.moves,
                           "audio": [wav_info(p) for p in inputs["audio_paths"]], "pid": os.getpid()})
''',
}

NEXTGPT = {
    "model/__init__.py": "",
    "model/ImageBind/__init__.py": "",
    "model/ImageBind/data.py": IMAGEBIND_DATA,
    "config/__init__.py": '''
import os


def load_config(args):
    assert os.path.exists("config/base.yaml"), "configs are read relative to the code folder"
    return {"pretrained_ckpt_path": "../ckpt/pretrained_ckpt/", "freeze_lm": False}
''',
    "config/base.yaml": "pretrained_ckpt_path: ../ckpt/pretrained_ckpt/\n",
    "model/anyToImageVideoAudio.py": WAV_INFO + '''
import json, os


class NextGPTModel:
    def __init__(self, **args):
        self.args = args

    def load_state_dict(self, state, strict=True):
        self.strict = strict

    def eval(self):
        return self

    def half(self):
        return self

    def to(self, device):
        return self

    def generate(self, inputs):
        inputs = dict(inputs, filter_value=str(inputs["filter_value"]))
        return [json.dumps({"inputs": inputs, "args": self.args, "cwd": os.getcwd(),
                            "audio": [wav_info(p) for p in inputs["audio_paths"]]})]
''',
}

VIDEOLLAMA = {
    "eval_configs/video_llama_eval_withaudio.yaml": "model:\n  arch: video_llama\n",
    "video_llama/__init__.py": "",
    "video_llama/common/__init__.py": "",
    "video_llama/common/registry.py": '''
class Registry:
    def get_model_class(self, name):
        from video_llama.models import VideoLLAMA
        assert name == "video_llama"
        return VideoLLAMA

    def get_processor_class(self, name):
        from video_llama.processors import Processor
        assert name == "alpro_video_eval"
        return Processor


registry = Registry()
''',
    "video_llama/common/config.py": '''
import os


class Node(dict):
    __getattr__ = dict.__getitem__

    def __setattr__(self, key, value):
        self[key] = value


class Config:
    def __init__(self, args):
        assert os.path.exists(args.cfg_path), args.cfg_path
        options = dict(o.split("=", 1) for o in args.options)
        self.model_cfg = Node(arch="video_llama", cfg_path=args.cfg_path,
                              **{k.split(".", 1)[1]: v for k, v in options.items()})
        self.datasets_cfg = Node(webvid=Node(vis_processor=Node(train=Node(name="alpro_video_eval", n_frms=8,
                                                                           image_size=224))))
''',
    "video_llama/models/__init__.py": '''
class VideoLLAMA:
    @classmethod
    def from_config(cls, cfg):
        model = cls()
        model.cfg = dict(cfg)
        return model

    def to(self, device):
        self.device = device
        return self

    def eval(self):
        return self
''',
    "video_llama/processors/__init__.py": '''
class Processor:
    @classmethod
    def from_config(cls, cfg):
        processor = cls()
        processor.n_frms = cfg["n_frms"]
        return processor
''',
    "video_llama/datasets/__init__.py": "",
    "video_llama/datasets/builders/__init__.py": "",
    "video_llama/runners/__init__.py": "",
    "video_llama/tasks/__init__.py": "",
    "video_llama/conversation/__init__.py": "",
    "video_llama/conversation/conversation_video.py": '''
import copy
import json
import os


class Conversation:
    def __init__(self, name, system, roles):
        self.name, self.system, self.roles, self.messages = name, system, roles, []

    def copy(self):
        return copy.deepcopy(self)

    def append_message(self, role, message):
        self.messages.append([role, message])


default_conversation = Conversation("default_conversation", "", ("Human", "Assistant"))
conv_llava_llama_2 = Conversation("conv_llava_llama_2", "You are a helpful language and vision assistant.",
                                  ("USER", "ASSISTANT"))


class Chat:
    def __init__(self, model, vis_processor, device="cuda:0"):
        self.model, self.vis_processor, self.device = model, vis_processor, device

    def upload_video(self, video_path, conv, img_list):
        if "broken-audio" not in video_path:  # upstream falls back to frames when its audio load fails
            img_list.append("audio embedding")
        img_list.append("frames embedding")
        conv.append_message(conv.roles[0], "upload_video " + os.path.basename(video_path))

    def upload_video_without_audio(self, video_path, conv, img_list):
        img_list.append("frames embedding")
        conv.append_message(conv.roles[0], "upload_video_without_audio " + os.path.basename(video_path))

    def upload_img(self, image, conv, img_list):
        img_list.append("image embedding")
        conv.append_message(conv.roles[0], "upload_img " + os.path.basename(image))

    def ask(self, text, conv):
        conv.messages[-1][1] += " " + text

    def answer(self, conv, img_list, **kwargs):
        text = json.dumps({"conversation": conv.name, "system": conv.system, "messages": conv.messages,
                           "img_list": img_list, "kwargs": kwargs, "model": self.model.cfg,
                           "device": self.device, "pid": os.getpid()})
        return text, [0] * 5
''',
}

ONELLM = {
    "config/llama2/7B.json": "{}",
    "config/llama2/tokenizer.model": "",
    "fairscale/__init__.py": "",
    "fairscale/nn/__init__.py": "",
    "fairscale/nn/model_parallel/__init__.py": "",
    "fairscale/nn/model_parallel/initialize.py": '''
GROUP = []


def initialize_model_parallel(size):
    GROUP.append(size)
''',
    "util/__init__.py": "",
    "util/misc.py": '''
import contextlib


@contextlib.contextmanager
def default_tensor_type(dtype, device):
    yield
''',
    "data/__init__.py": "",
    "data/conversation_lib.py": '''
class Conversation:
    roles = ("Human", "Assistant")

    def __init__(self):
        self.messages = []

    def copy(self):
        return Conversation()

    def append_message(self, role, message):
        self.messages.append((role, message))

    def get_prompt(self):
        return "SYSTEM ###" + "".join(f" {r}: {m}###" if m else f" {r}:" for r, m in self.messages)


conv_templates = {"v1": Conversation()}
''',
    "data/video_utils.py": '''
import torch


def load_and_transform_video_data(video_file, video_path, clip_duration=2, clips_per_video=5, sample_rate=16000,
                                  with_audio=False):
    assert not with_audio
    return torch.zeros(clips_per_video * 3, 3, clip_duration, 8, 8)
''',
    "data/data_utils.py": '''
import torch


def make_audio_features(wav_name, mel_bins=128, target_length=1024, aug=False):
    return torch.zeros(target_length, mel_bins)
''',
    "model/__init__.py": "",
    "model/meta.py": '''
import json, os


class Tokenizer:
    def encode(self, text, bos, eos):
        return text.split()


class MetaModel:
    def __init__(self, llama_type, llama_config, llama_ckpt_dir=None, tokenizer_path=None):
        assert os.path.exists(llama_config) and os.path.exists(tokenizer_path), "paths relative to the root"
        self.built = [llama_type, llama_config, llama_ckpt_dir, tokenizer_path]
        self.tokenizer = Tokenizer()

    def load_state_dict(self, state, strict=True):
        self.strict = strict

    def half(self):
        return self

    def to(self, device):
        return self

    def eval(self):
        return self

    def generate(self, prompts, images, max_gen_len, temperature=0.8, top_p=0.95, modal=["image"]):
        from fairscale.nn.model_parallel.initialize import GROUP
        seen = {"shape": list(images.shape), "dtype": str(images.dtype), "max_gen_len": max_gen_len,
                "temperature": temperature, "top_p": top_p, "modal": modal, "prompt": prompts[0].replace("###", "<sep>"),
                "built": self.built, "group": GROUP}
        return [prompts[0] + " " + json.dumps(seen) + "###Human: invented next turn"]
''',
}

SALMONN = {
    "config/__init__.py": "",
    "config/test.yaml": "use_whisper: 'true'\n",
    "config/config.py": '''
import os


class Config:
    def __init__(self, args):
        assert os.path.exists(args.cfg_path), "configs are read relative to the repository root"
        self.config = {"use_whisper": "true", "sin_pos": False, "return_raw": True, "cache_dir": "./ckpt/pretrained_ckpt",
                       "vicuna_ckpt_path": "/scratch/vicuna", "max_tgt_len": 512}
        self.config.update(o.split("=", 1) for o in args.options)
''',
    "dummy/dummy_audio.json": "[]",
    "datasets/__init__.py": WAV_INFO + '''
import json


class SupervisedAudioVisualDataset4Test:
    def __init__(self, data_type, audio_data_path="", video_data_path="", sample_per_clip=2, clip_duration=1,
                 use_whisper="", training=True, sin_pos=False, return_raw=False, cache_dir="", **kwargs):
        assert not training
        self.data_type, self.sample_per_clip, self.clip_duration = data_type, sample_per_clip, clip_duration
        self.items = json.load(open(video_data_path if data_type == "audiovideoimage" else audio_data_path))
        self.settings = {"audio_data_path": audio_data_path, "use_whisper": use_whisper, "cache_dir": cache_dir}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        files = item["image_name"] if isinstance(item["image_name"], list) else [item["image_name"]]
        return {"item": item, "wav": wav_info(files[-1]), "data_type": self.data_type, "settings": self.settings}

    def collate(self, batch):
        return {"batch": batch}
''',
    "model/__init__.py": "",
    "model/openllama.py": '''
import json


class OpenLLAMAPEFTModel:
    def __init__(self, **args):
        self.args = args

    def load_state_dict(self, state, strict=True):
        self.strict = strict

    def eval(self):
        return self

    def half(self):
        return self

    def to(self, device):
        return self

    def __call__(self, inputs, generate=False, generate_config=None):
        assert generate
        return [[json.dumps({"batch": inputs["batch"], "generate_config": generate_config,
                             "args": {k: str(v) for k, v in self.args.items()}})]]
''',
}

STAND_INS = {"pandagpt": PANDAGPT, "next-gpt": NEXTGPT, "videollama": VIDEOLLAMA, "onellm": ONELLM,
             "video-salmonn": SALMONN}


def write_tree(folder: Path, files: dict) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def checkpoint_file(folder: Path, name: str) -> Path:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"delta.weight": torch.zeros(1)}, folder / name)
    return folder / name


def card(adapter, checkpoint, package, worker=None, **media):
    return card_from_dict({"name": f"fake-{adapter}", "adapter": adapter, "checkpoint": str(checkpoint),
                           "media": media, "worker": worker or {},
                           "environment": {"python": sys.executable, "pythonpath": [str(package)],
                                           "request_timeout_s": 60}})


def loaded(adapter, checkpoint, package, tmp_path, worker=None, **media):
    model = REGISTRY.adapter(adapter)(card(adapter, checkpoint, package, worker, **media), MediaStore(tmp_path / "m"),
                                      "cpu")
    model.load()
    return model


def ask(*parts, tokens=16, system=None):
    messages = ((Message("system", (TextPart(system),)),) if system else ()) + (Message("user", tuple(parts)),)
    return Request(messages, max_new_tokens=tokens)


def is_wav(info, seconds):
    """16-bit mono WAV at 16 kHz of about `seconds` (AAC adds a few ms of priming)."""
    return info["seconds"] == pytest.approx(seconds, abs=0.06) and (info["rate"], info["channels"], info["width"]) \
        == (16000, 1, 2)


def seen(reply):
    assert reply.error is None, reply.error
    return json.loads(reply.text)


def test_pandagpt_gets_the_video_and_its_soundtrack_as_a_separate_wav(clips, tmp_path):
    package = write_tree(tmp_path / "src", PANDAGPT)
    delta = checkpoint_file(tmp_path / "ckpt", "pytorch_model.pt")
    with pytest.raises(Exception, match="needs \\[worker\\] imagebind_ckpt_path and vicuna_ckpt_path"):
        loaded("pandagpt", delta, package, tmp_path)
    model = loaded("pandagpt", delta, package, tmp_path, {"imagebind_ckpt_path": "~/ib", "vicuna_ckpt_path": "/v",
                                                          "top_p": 0.01, "temperature": 1.0})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), system="Be brief.")])[0]
        got = seen(reply)
        inputs = got["inputs"]
        assert inputs["prompt"] == "Be brief.\nWhich colour?" and inputs["video_paths"] == [str(clips["av"])]
        assert len(inputs["audio_paths"]) == 1 and inputs["audio_paths"][0].endswith(".wav")
        assert len(got["audio"]) == 1 and is_wav(got["audio"][0], 4.0)  # the 4 s soundtrack
        assert inputs["top_p"] == 0.01 and inputs["temperature"] == 1.0 and inputs["max_tgt_len"] == 16
        assert inputs["image_paths"] == [] and inputs["thermal_paths"] == [] and inputs["modality_embeds"] == []
        assert got["args"]["stage"] == 2 and got["args"]["lora_r"] == 32 and got["args"]["delta_ckpt_path"] == str(delta)
        assert "~" not in got["args"]["imagebind_ckpt_path"] and got["loaded"] == {"keys": ["delta.weight"],
                                                                                 "strict": False}
        assert got["moves"] == ["eval", "half", "cpu"] and got["pid"] != os.getpid()
        assert reply.media["video"] == [{"frames": 10, "clips": 5, "size": [224, 224], "soundtrack": True}]
        track = reply.media["audio"][0]
        assert track["seconds"] == pytest.approx(4.0, abs=0.06)  # under the 3 x 2 s its loader takes
        assert (track["rate"], track["clips"], track["soundtrack"]) == (16000, 3, True)

        silent = model.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        assert seen(silent)["inputs"]["audio_paths"] == [] and silent.media["video"][0]["soundtrack"] is False
        assert "silent.mp4 has no audio track: fed video only" in silent.notes
        muted = seen(model.generate([ask(VideoPart(clips["av"], with_audio=False), TextPart("q"))])[0])
        assert muted["inputs"]["audio_paths"] == []

        # a WebM clip reaches torchaudio as the harness decoded it: 16-bit mono WAV at the card's rate
        clip = model.generate([ask(AudioPart(clips["webm"]), TextPart("What sound?"))])[0]
        assert is_wav(seen(clip)["audio"][0], 3.0)
        assert clip.media["audio"][0]["soundtrack"] is False and clip.media["video"] == []
        assert model.generate([ask(VideoPart(tmp_path / "gone.mp4"), TextPart("q"))])[0].error
    finally:
        model.close()


def test_nextgpt_tags_the_media_in_the_prompt_as_its_demo_and_synthesises_nothing(clips, tmp_path):
    package = write_tree(tmp_path / "src", NEXTGPT)
    checkpoint_file(tmp_path / "ckpt", "pytorch_model.pt")
    model = loaded("next-gpt", tmp_path / "ckpt", package, tmp_path, {"pretrained_ckpt_path": "~/pre"})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("What happens?"))])[0]
        got = seen(reply)
        inputs = got["inputs"]
        wav = inputs["audio_paths"][0]
        assert inputs["prompt"] == f"### Human: <Audio>{wav}</Audio> <Video>{clips['av']}</Video>  What happens?"
        assert inputs["video_paths"] == [str(clips["av"])] and is_wav(got["audio"][0], 4.0)
        assert (inputs["max_num_imgs"], inputs["max_num_vids"], inputs["max_num_auds"], inputs["load_sd"]) == (0, 0, 0, False)
        assert inputs["stops_id"] == [[835]] and inputs["min_word_tokens"] == 10 and inputs["filter_value"] == "-inf"
        assert got["args"]["stage"] == 3 and got["args"]["mode"] == "validate"
        assert got["args"]["nextgpt_ckpt_path"] == str(tmp_path / "ckpt") and "~" not in got["args"]["pretrained_ckpt_path"]
        assert got["cwd"] == str(package)  # the worker works from the code folder, as upstream's relative configs need
        assert reply.media["soundtracks_as_audio"] == 1 and reply.media["video"] == [{"frames": 10, "size": [224, 224]}]
    finally:
        model.close()


def test_videollama_chat_reads_the_soundtrack_from_the_file_and_says_when_it_could_not(clips, tmp_path):
    package = write_tree(tmp_path / "src", VIDEOLLAMA)
    weights = tmp_path / "weights"
    weights.mkdir()
    model = loaded("videollama", weights, package, tmp_path, {"model_type": "llama_v2", "seed": 42})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), tokens=9)])[0]
        got = seen(reply)
        assert got["conversation"] == "conv_llava_llama_2" and got["system"] == ""
        assert got["messages"] == [["USER", "upload_video av.mp4 Which colour?"]]
        assert got["img_list"] == ["audio embedding", "frames embedding"]
        assert got["kwargs"] == {"num_beams": 1, "temperature": 1.0, "max_new_tokens": 9}
        assert got["model"]["ckpt"] == str(weights / "VL_LLaMA_2_7B_Finetuned.pth")
        assert got["model"]["ckpt_2"] == str(weights / "AL_LLaMA_2_7B_Finetuned.pth")
        assert got["model"]["imagebind_ckpt_path"] == str(weights)
        assert got["model"]["cfg_path"] == str(package / "eval_configs" / "video_llama_eval_withaudio.yaml")
        assert reply.media["video"] == [{"frames": 8, "size": [224, 224], "soundtrack": True}]
        assert reply.media["audio"][0]["clips"] == 8 and reply.output_tokens == 5

        silent = model.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        assert seen(silent)["messages"][0][1].startswith("upload_video_without_audio")
        assert "silent.mp4 has no audio track: fed video only" in silent.notes

        broken = tmp_path / "broken-audio.mp4"
        broken.write_bytes(clips["av"].read_bytes())
        fallback = model.generate([ask(VideoPart(broken), TextPart("q"))])[0]
        assert seen(fallback)["img_list"] == ["frames embedding"] and fallback.media["video"][0]["soundtrack"] is False
        assert "Video-LLaMA could not read the soundtrack from the file: fed frames only" in fallback.notes

        from PIL import Image

        Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
        image = seen(model.generate([ask(ImagePart(tmp_path / "p.png"), TextPart("q"))])[0])
        assert image["messages"][0][1].startswith("upload_img") and image["system"].startswith("You are able")
        assert model.generate([ask(AudioPart(clips["wav"]), TextPart("q"))])[0].error_kind == "request_refused"
        two = model.generate([ask(VideoPart(clips["av"]), ImagePart(tmp_path / "p.png"), TextPart("q"))])[0]
        assert two.error_kind == "request_refused" and "exactly one" in two.error
    finally:
        model.close()


def test_onellm_takes_one_modality_per_call_and_a_video_as_frames_only(clips, tmp_path):
    package = write_tree(tmp_path / "src", ONELLM)
    weights = checkpoint_file(tmp_path / "ckpt", "consolidated.00-of-01.pth")
    model = loaded("onellm", weights, package, tmp_path, {"temperature": 0.1, "top_p": 0.75, "dtype": "float32"})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("What is shown?"), tokens=12)])[0]
        got = seen(reply)  # what follows the prompt, cut at the first "###"
        assert got["modal"] == ["video"] and got["shape"] == [1, 15, 3, 8, 8]
        assert got["prompt"] == "SYSTEM <sep> Human: What is shown?<sep> Assistant:"
        assert (got["max_gen_len"], got["temperature"], got["top_p"]) == (12, 0.1, 0.75) and got["group"] == [1]
        assert got["built"] == ["onellm", "config/llama2/7B.json", None, "config/llama2/tokenizer.model"]
        assert "invented next turn" not in reply.text
        assert "fake-onellm takes a video's frames only: soundtrack not fed" in reply.notes
        assert reply.media["video"] == [{"frames": 5, "crops": 3, "size": [224, 224], "soundtrack": False}]

        heard = model.generate([ask(AudioPart(clips["wav"]), TextPart("What sound?"))])[0]
        assert json.loads(heard.text)["modal"] == ["audio"] and json.loads(heard.text)["shape"] == [1, 1, 128, 1024]
        assert heard.media["audio"] == [{"fbank_frames": 1024, "seconds": 10.24, "rate": 16000, "soundtrack": False}]
        both = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
        assert both.error_kind == "request_refused" and "one modality per call" in both.error
    finally:
        model.close()


def test_video_salmonn_reads_a_data_file_of_video_and_wav_through_its_dataset(clips, tmp_path):
    package = write_tree(tmp_path / "src", SALMONN)
    checkpoint_file(tmp_path / "ckpt", "pytorch_model_4_5001.pt")
    model = loaded("video-salmonn", tmp_path / "ckpt", package, tmp_path, {"vicuna_ckpt_path": "~/vicuna-13b"})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("Describe it."), tokens=20)])[0]
        got = seen(reply)
        item = got["batch"][0]
        assert item["data_type"] == "audiovideoimage" and item["settings"]["audio_data_path"] == "./dummy/dummy_audio.json"
        video, wav = item["item"]["image_name"]
        assert video == str(clips["av"]) and is_wav(item["wav"], 4.0)
        assert item["item"]["conversation"] == [{"from": "human", "value": "Describe it."},
                                                {"from": "gpt", "value": "None"}]
        assert got["generate_config"] == {"max_new_tokens": 20}
        assert got["args"]["delta_ckpt_path"] == str(tmp_path / "ckpt" / "pytorch_model_4_5001.pt")
        assert "~" not in got["args"]["vicuna_ckpt_path"]
        assert reply.media["video"] == [{"frames_per_second": 2.0, "soundtrack": True}]

        silent = model.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        assert is_wav(seen(silent)["batch"][0]["wav"], 3.0)  # silence as long as the 3 s video
        assert silent.media["audio"][0]["silent_stand_in"] is True and silent.media["video"][0]["soundtrack"] is False
        assert any("a silent one of the video's length went in" in n for n in silent.notes)
        clip = seen(model.generate([ask(AudioPart(clips["wav"]), TextPart("q"))])[0])
        assert clip["batch"][0]["data_type"] == "audio" and is_wav(clip["batch"][0]["wav"], 2.0)
        assert model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0].error_kind \
            == "request_refused"
    finally:
        model.close()
    with pytest.raises(ValueError, match="audio_rate must be 16000"):
        REGISTRY.adapter("video-salmonn")(card("video-salmonn", tmp_path, package, audio_rate=22050),
                                          MediaStore(tmp_path / "m"))


GOLDEN_CARDS = {"pandagpt": ("pandagpt-13b", "pandagpt"), "next-gpt": ("next-gpt-7b", "next-gpt"),
                "videollama": ("videollama-7b", "videollama"), "onellm": ("onellm-7b", "onellm"),
                "video-salmonn": ("video-salmonn-7b", "video-salmonn")}


GOLDEN_QUESTION = "Which comes first?\nA. red\nB. blue\nAnswer with the letter."


def check_golden_call(registry, adapter: str, name: str, golden_name: str, video: Path, tmp_path: Path) -> None:
    """The paper card's own settings, one fixed request: the exact call the worker makes into the authors' code."""
    model = registry.adapter(adapter)(registry.card(name), MediaStore(tmp_path / "m"))
    text = model.prompt_text(ask(VideoPart(video), TextPart(GOLDEN_QUESTION)))
    golden = GOLDEN / f"{golden_name}.txt"
    assert text == golden.read_text(), f"the call into {adapter}'s code changed; review, then update {golden}"


def check_pinned_card(registry, adapter: str, name: str):
    """A paper card names its adapter, pins its code at a full commit, and says what its soundtrack becomes."""
    paper_card = registry.card(name)
    assert paper_card.adapter == adapter and adapter in registry.adapters
    source = paper_card.get("environment.source")
    assert len(source["rev"]) == 40 and source["rev"] in paper_card.get("code")
    assert paper_card.get("environment.requirements_files") and paper_card.get("soundtrack")
    assert paper_card.get("sources") and paper_card.get("verified")
    return paper_card


@pytest.mark.parametrize("adapter", sorted(GOLDEN_CARDS))
def test_the_call_into_the_authors_code_golden_snapshot(adapter, clips, tmp_path):
    check_golden_call(REGISTRY, adapter, *GOLDEN_CARDS[adapter], clips["av"], tmp_path)


def test_paper_cards_pin_their_code_and_say_what_happens_to_the_soundtrack():
    for adapter, (name, _) in GOLDEN_CARDS.items():
        check_pinned_card(REGISTRY, adapter, name)
    for name in ("av-llm-13b", "bay-cat-7b"):
        assert "no public" in REGISTRY.card(name).get("weights") or "no published" in REGISTRY.card(name).get("weights")
    assert "Google Drive" in REGISTRY.card("avicuna-7b").get("weights")


def test_env_create_paper_clones_each_pinned_checkout_before_its_requirement_files(capsys):
    plugins = [arg for module in MODULES for arg in ("--plugin", module)]
    assert main(["env", "create", "--paper", "--dry-run", *plugins]) == 0
    out = capsys.readouterr().out
    for name, environment in [("pandagpt-13b", "pandagpt"), ("next-gpt-7b", "next-gpt"),
                              ("videollama-7b", "videollama"), ("onellm-7b", "onellm"),
                              ("video-salmonn-7b", "video-salmonn")]:
        folder = environments.environment_dir(REGISTRY.card(name))
        block = out.split(f"{name}: would create")[1].split(" would create ")[0]
        clone, pip = block.index("git clone"), block.index("pip install")
        assert clone < pip and f"-r {folder / 'source'}/" in block, block
        assert str(folder).endswith(environment)
    assert "anygpt-7b: skipped (no adapter)" in out
    assert "videollama2.1" not in out and out.count("videollama2-7b: would create") == 1
    assert not any(environments.environment_python(REGISTRY.card(n)).exists() for n, _ in GOLDEN_CARDS.values())
    assert main(["env", "create", *plugins]) == 2  # neither a card nor --paper
    assert "name one card, or --paper" in capsys.readouterr().err


def test_requirement_files_are_part_of_what_an_environment_is_made_of(tmp_path):
    base = {"name": "e", "adapter": "pandagpt", "environment": {"name": "e", "source": {"git": "g", "rev": "r"}}}
    plain = card_from_dict(base)
    with_files = card_from_dict({**base, "environment": {**base["environment"], "requirements_files": ["req.txt"]}})
    assert environments.requirements_hash(plain) != environments.requirements_hash(with_files)
    from aurelia_harness.errors import HarnessError

    orphan = card_from_dict({"name": "o", "adapter": "x", "environment": {"name": "o", "requirements_files": ["r"]}})
    with pytest.raises(HarnessError, match="names no source"):
        environments.create(orphan, dry_run=True)
