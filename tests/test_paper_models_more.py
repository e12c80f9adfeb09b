"""Three more of the AURELIA paper's research models through their authors' code (Macaw-LLM, ImageBind-LLM,
VITA), driven as tests/test_paper_models.py drives the first five: through a stand-in of the authors'
repository with the same module paths, entry points and loader defaults (read at the commits the cards pin),
whose entry point answers with JSON describing what it was called with."""


import pytest

from aurelia_harness import environments
from aurelia_harness.cli import main
from aurelia_harness.media import MediaStore, ffmpeg_path
from aurelia_harness.plugins import discover
from aurelia_harness.types import AudioPart, ImagePart, TextPart, VideoPart
from avharness_plugins.models.authors_code import load_family

from test_paper_models import (WAV_INFO, ask, card, check_golden_call, check_pinned_card, checkpoint_file,
                               is_wav, seen, write_tree)

FAMILIES = ["macaw_llm", "imagebind_llm", "vita"]
MODULES = [f"avharness_plugins.models.{f}" for f in FAMILIES]
REGISTRY = discover(extra=MODULES)

# OpenCV as Macaw-LLM's preprocessing uses it: frames read one by one (here decoded with ffmpeg, BGR), JPEGs written
CV2 = '''
import subprocess
import numpy as np
from PIL import Image
import modeling


class VideoCapture:
    def __init__(self, path):
        raw = subprocess.run([FFMPEG, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "32x24",
                              "pipe:1"], check=True, capture_output=True).stdout
        self.frames = list(np.frombuffer(raw, np.uint8).reshape(-1, 24, 32, 3))

    def read(self):
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def release(self):
        pass


def imwrite(path, frame):
    modeling.SEEN.setdefault("jpegs", []).append(path.rsplit("/", 1)[-1])
    Image.fromarray(frame[:, :, ::-1]).save(path)
'''

MACAW = {
    "modeling.py": '''
import torch

SEEN = {}


def described(value):
    if not hasattr(value, "shape"):
        return value
    return {"shape": list(value.shape), "dtype": str(value.dtype), "nonzero": bool(value.abs().sum() > 0),
            "values": value.tolist() if value.numel() < 64 else None}


class MM_LLMs_Config:
    def __init__(self, **kwargs):
        self.kwargs = {k: getattr(v, "path", v) for k, v in kwargs.items()}


class LLM:
    def generate(self, inputs_embeds=None, **kwargs):
        SEEN["generate"] = {"embeds": list(inputs_embeds.shape), **kwargs}
        return torch.ones(1, 3, dtype=torch.long)


class MM_LLMs:
    @classmethod
    def from_pretrained(cls, path, config=None):
        model = cls()
        model.path, model.config, model.moves, model.llm = path, config.kwargs, [], LLM()
        return model

    def half(self):
        self.moves.append("half"); return self

    def to(self, device):
        self.moves.append(str(device)); return self

    def eval(self):
        self.moves.append("eval"); return self

    def prepare_inputs_for_generation(self, inputs):
        SEEN["inputs"] = {k: described(v) for k, v in inputs.items()}
        SEEN["model"] = {"path": self.path, "config": self.config, "moves": self.moves}
        return torch.zeros(1, 4, 8), None, None
''',
    "preprocess_data.py": '''
import numpy as np


def draw_samples(lis, ratio):
    samples = ratio if ratio > 1 else int(ratio * len(lis))
    return [lis[i] for i in np.random.choice(len(lis), samples, replace=samples > len(lis))]
''',
    "transformers.py": '''
import json
import os


class Config:
    @classmethod
    def from_pretrained(cls, path):
        config = cls()
        config.path = path
        return config


class CLIPConfig(Config):
    pass


class WhisperConfig(Config):
    pass


class AutoConfig(Config):
    pass


class LlamaTokenizer:
    eos_token_id = 2
    ids = {"<image>": 32000, "</image>": 32001, "<audio>": 32002, "</audio>": 32003, "<video>": 32004, "</video>": 32005}

    @classmethod
    def from_pretrained(cls, path):
        tokenizer = cls()
        tokenizer.path = path
        return tokenizer

    def encode(self, text):
        SEEN_TEXT.append(text)
        return [1] + [100 + len(word) for word in text.split()] + [2]

    def convert_tokens_to_ids(self, token):
        return self.ids[token]

    def batch_decode(self, ids, **kwargs):
        from modeling import SEEN
        return [" " + json.dumps(dict(SEEN, decode=kwargs, tokenizer=self.path, text=SEEN_TEXT[-1], cwd=os.getcwd())) + " "]


SEEN_TEXT = []
''',
    "whisper.py": WAV_INFO + '''
import numpy as np
import torch
import modeling


def load_audio(path):
    modeling.SEEN["wav"] = wav_info(path)
    return np.zeros(16000, np.float32)


def pad_or_trim(audio):
    return np.zeros(480000, np.float32)


def log_mel_spectrogram(audio):
    return torch.ones(80, 3000)
''',
    "trained_models/MM-LLMs/mm_llms_trainer/config.json": "{}",
}

IMAGEBIND_LLM = {
    "llama/__init__.py": '''
import json
import os


def format_prompt(instruction, input=None):
    return "ALPACA[" + instruction + "]"


class Tokenizer:
    def encode(self, text, bos, eos):
        return ([1] if bos else []) + [len(word) for word in text.split()]


class Model:
    tokenizer = Tokenizer()

    def __init__(self, **built):
        self.built, self.evaluated = built, False

    def eval(self):
        self.evaluated = True
        return self

    def generate(self, inputs, prompts, max_gen_len=256, temperature=0.1, top_p=0.75, cache_size=10, cache_t=20,
                 cache_weight=0.5):
        return [" " + json.dumps({"inputs": inputs, "prompts": prompts, "max_gen_len": max_gen_len,
                                  "temperature": temperature, "top_p": top_p, "cache": [cache_size, cache_t, cache_weight],
                                  "built": self.built, "evaluated": self.evaluated, "cwd": os.getcwd()}) + " "]


def load(name, llama_dir, device="cpu", download_root="ckpts", knn=False, llama_type="7B", phase="finetune"):
    if not os.path.isfile(name):
        return RuntimeError(f"Model {name} not found")
    return Model(name=name, llama_dir=llama_dir, device=device, knn=knn, llama_type=llama_type)
''',
    "ImageBind/__init__.py": "",
    "ImageBind/data.py": WAV_INFO + '''
import os


def load_and_transform_vision_data(image_paths, device):
    return {"image": os.path.basename(image_paths[0]), "device": device}


def load_and_transform_video_data(video_paths, device, clip_duration=2, clips_per_video=5, sample_rate=16000):
    return {"video": os.path.basename(video_paths[0]), "device": device}


def load_and_transform_audio_data(audio_paths, device, num_mel_bins=128, target_length=204, sample_rate=16000,
                                  clip_duration=2, clips_per_video=3, mean=-4.268, std=9.138):
    return {"wav": wav_info(audio_paths[0]), "device": device}
''',
}

VITA = {
    "video_audio_demo.py": '''
import torch

CALLS = []


def _get_rawvideo_dec(video_path, image_processor, max_frames=16, min_frames=4, image_resolution=384,
                      video_framerate=1, s=None, e=None, image_aspect_ratio="pad"):
    CALLS.append({"video": video_path.rsplit("/", 1)[-1], "max_frames": max_frames, "min_frames": min_frames,
                  "video_framerate": video_framerate, "image_aspect_ratio": image_aspect_ratio,
                  "processor": image_processor})
    return torch.zeros(4, 3, 8, 8), 4
''',
    "vita/__init__.py": "",
    "vita/constants.py": 'MAX_IMAGE_LENGTH = 16\nIMAGE_TOKEN_INDEX = -200\nDEFAULT_IMAGE_TOKEN = "<image>"\n',
    "vita/conversation.py": '''
import copy


class SeparatorStyle:
    TWO = "two"
    MixtralTwo = "mixtral_two"


class Conversation:
    def __init__(self):
        self.roles, self.messages, self.sep, self.sep2, self.sep_style = ("user", "bot"), [], "</s>", "</s>", "mixtral_two"

    def copy(self):
        return copy.deepcopy(self)

    def append_message(self, role, message):
        self.messages.append((role, message))

    def get_prompt(self, modality=None):
        return f"system:[{modality}]</s>" + "".join(f"\\n{r}:{m}</s>" if m else f"\\n{r}:" for r, m in self.messages)


conv_templates = {"mixtral_two": Conversation()}
''',
    "vita/model/__init__.py": "",
    "vita/model/builder.py": '''
import json
import torch

SEEN = {}


class Tower:
    is_loaded, image_processor = False, "internvit-processor"

    def load_model(self):
        SEEN["tower_loaded"] = True


class Encoder:
    def to(self, dtype=None):
        SEEN["audio_encoder"] = str(dtype)


class Config:
    image_aspect_ratio = "pad"


class Model:
    config, dtype = Config(), torch.float32

    def resize_token_embeddings(self, n):
        SEEN["vocab"] = n

    def get_vision_tower(self):
        return Tower()

    def get_audio_encoder(self):
        return Encoder()

    def eval(self):
        SEEN["eval"] = True

    def process_images(self, images, config):
        return torch.zeros(len(images), 3, 8, 8)

    def generate(self, input_ids, images=None, audios=None, stopping_criteria=(), **kwargs):
        SEEN.update(input_ids=input_ids.tolist(), images=list(images.shape), audios=list(audios["audios"].shape),
                    audio_nonzero=bool(audios["audios"].abs().sum() > 0), lengths=audios["lengths"].tolist(),
                    kwargs=kwargs, stop=[c.keywords for c in stopping_criteria])

        class Output:
            sequences = torch.cat([input_ids, torch.tensor([[7, 8]])], dim=1)

        return Output()


class Tokenizer:
    def __len__(self):
        return 32002

    def batch_decode(self, ids, skip_special_tokens=False):
        SEEN["new_ids"] = ids.tolist()
        return [" " + json.dumps(SEEN) + " </s>"]


def load_pretrained_model(model_path, model_base, model_name, model_type, **kwargs):
    SEEN["loaded"] = [model_path, model_base, model_name, model_type, kwargs]
    return Tokenizer(), Model(), None, 2048
''',
    "vita/util/__init__.py": "",
    "vita/util/utils.py": "def disable_torch_init():\n    pass\n",
    "vita/util/mm_utils.py": '''
import torch


def get_model_name_from_path(model_path):
    return model_path.strip("/").split("/")[-1]


def tokenizer_image_token(prompt, tokenizer, image_token_index=-200, return_tensors=None):
    from vita.model.builder import SEEN
    SEEN["prompt"] = prompt
    ids = [1]
    for i, chunk in enumerate(prompt.split("<image>")):
        ids += ([image_token_index] if i else []) + [len(chunk)]
    return torch.tensor(ids)


class KeywordsStoppingCriteria:
    def __init__(self, keywords, tokenizer, input_ids):
        self.keywords = keywords
''',
    "vita/util/data_utils_video_audio_neg_patch.py": '''
def dynamic_preprocess(image, min_num=1, max_num=6, image_size=448, use_thumbnail=False):
    from vita.model.builder import SEEN
    SEEN["tiles"] = [min_num, max_num, image_size, use_thumbnail]
    return [image, image, image], [3]
''',
}


def loaded(adapter, checkpoint, package, tmp_path, worker=None, **media):
    model = REGISTRY.adapter(adapter)(card(adapter, checkpoint, package, worker, **media), MediaStore(tmp_path / "m"),
                                      "cpu")
    model.load()
    return model


def png(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), "white").save(tmp_path / "p.png")
    return tmp_path / "p.png"


def test_macaw_llm_frames_and_soundtrack_go_the_way_of_its_preprocessing_and_inference(clips, tmp_path):
    package = write_tree(tmp_path / "src", {**MACAW, "cv2.py": f"FFMPEG = {ffmpeg_path()!r}\n" + CV2})
    model = loaded("macaw-llm", "trained_models/MM-LLMs/mm_llms_trainer", package, tmp_path, {"seed": 3})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), tokens=16)])[0]
        got = seen(reply)
        assert got["text"].startswith("Below is an instruction") and got["text"].endswith(
            "### Instruction:\nWhich colour?\n\n### Response:")
        inputs = got["inputs"]
        assert inputs["input_ids"]["values"][0][0] == 1 and 2 not in inputs["input_ids"]["values"][0]  # no EOS
        assert inputs["videos"] == {"shape": [1, 6, 3, 224, 224], "dtype": "torch.float16", "nonzero": True,
                                    "values": None}
        assert inputs["audios"]["shape"] == [1, 80, 3000] and inputs["audios"]["nonzero"]
        assert inputs["images"]["shape"] == [1, 3, 224, 224] and not inputs["images"]["nonzero"]  # zeros: no image
        assert inputs["video_starts"]["values"] == [32004] and inputs["audio_ends"]["values"] == [32003]
        assert inputs["inference"] is True and is_wav(got["wav"], 4.0)  # the soundtrack, as its own WAV
        assert got["generate"] == {"embeds": [1, 4, 8], "max_new_tokens": 16, "eos_token_id": 2, "bos_token_id": 1,
                                   "pad_token_id": 32006}
        assert got["model"]["path"] == str(package / "trained_models/MM-LLMs/mm_llms_trainer")  # relative: the checkout
        assert got["model"]["config"]["n_frames"] == 6 and got["model"]["config"]["attention_heads"] == 220
        assert got["model"]["config"]["clip_config"] == "trained_models/clip_model"
        assert got["model"]["moves"] == ["half", "cpu", "eval"] and got["tokenizer"] == "trained_models/llama_tokenizer"
        assert got["cwd"] == str(package) and got["decode"]["skip_special_tokens"] is True
        assert got["jpegs"] == [f"video.mp4_{i}.jpg" for i in (0, 20, 40, 60, 80, 119)]
        video = reply.media["video"][0]
        assert video["of_frames"] == 40 and video["frames"] == 6 and video["soundtrack"] is True
        assert video["frame_indices"] == sorted(video["frame_indices"]) and max(video["frame_indices"]) < 40
        assert reply.media["audio"][0]["seconds"] == pytest.approx(4.0, abs=0.06) and reply.media["zeros"] == ["image"]
        again = model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), tokens=16)])[0]
        assert again.media["video"][0]["frame_indices"] == video["frame_indices"]  # seeded: the same draw

        silent = model.generate([ask(VideoPart(clips["silent"]), TextPart("q"))])[0]
        assert not seen(silent)["inputs"]["audios"]["nonzero"] and silent.media["zeros"] == ["audio", "image"]
        assert "silent.mp4 has no audio track: fed video only" in silent.notes
        heard = model.generate([ask(AudioPart(clips["webm"]), ImagePart(png(tmp_path)), TextPart("q"))])[0]
        assert is_wav(seen(heard)["wav"], 3.0) and heard.media["zeros"] == ["video"] and heard.media["images"] == 1
        assert not seen(heard)["inputs"]["videos"]["nonzero"]
        both = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
        assert both.error_kind == "request_refused" and "one audio input" in both.error
        assert model.generate([ask(VideoPart(tmp_path / "gone.mp4"), TextPart("q"))])[0].error
    finally:
        model.close()


def test_macaw_llm_picks_its_six_frames_out_of_the_120_its_preprocessing_keeps():
    worker = load_family(REGISTRY.adapter("macaw-llm").family_file)
    assert worker.used_frame_slots() == [0, 20, 40, 60, 80, 119]
    long = worker.sampled_frame_indices(250, draw_samples=None)  # stride 250 // 120 = 2, the last frame last
    assert len(long) == 120 and long[:3] == [0, 2, 4] and long[-1] == 249
    assert [long[s] for s in worker.used_frame_slots()] == [0, 40, 80, 120, 160, 249]


def test_imagebind_llm_gets_one_input_per_modality_and_the_soundtrack_as_audio(clips, tmp_path):
    package = write_tree(tmp_path / "src", IMAGEBIND_LLM)
    weights = checkpoint_file(tmp_path / "ckpt", "7B.pth")
    with pytest.raises(Exception, match="needs \\[worker\\] llama_dir"):
        loaded("imagebind-llm", weights, package, tmp_path)
    model = loaded("imagebind-llm", weights, package, tmp_path, {"llama_dir": "~/llama"})
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("What happens?"), tokens=12, system="Be brief.")])[0]
        got = seen(reply)
        assert list(got["inputs"]) == ["Video", "Audio"]  # the demo's order
        assert got["inputs"]["Video"] == [{"video": "av.mp4", "device": "cpu"}, 1.0]
        wav, weight = got["inputs"]["Audio"]
        assert is_wav(wav["wav"], 4.0) and weight == 1.0
        assert got["prompts"] == [[1, 9, 6, 4, 9]]  # bos + "ALPACA[Be brief.\nWhat happens?]" by word
        assert (got["max_gen_len"], got["temperature"], got["top_p"], got["cache"]) == (12, 0.1, 0.75, [10, 20, 0.5])
        assert got["built"] == {"name": str(weights), "llama_dir": str(__import__("pathlib").Path("~/llama").expanduser()),
                                "device": "cpu", "knn": True, "llama_type": "7B_chinese"}
        assert got["evaluated"] and got["cwd"] == str(package)
        assert reply.media["video"] == [{"frames": 10, "clips": 5, "size": [224, 224], "soundtrack": True}]
        assert reply.media["audio"][0]["clips"] == 3 and reply.media["audio"][0]["seconds"] == pytest.approx(4.0, abs=0.06)

        image = seen(model.generate([ask(ImagePart(png(tmp_path)), TextPart("q"))])[0])
        assert list(image["inputs"]) == ["Image"]
        alone = model.generate([ask(TextPart("no media"))])[0]
        assert alone.error_kind == "request_refused" and "at least one" in alone.error
        both = model.generate([ask(VideoPart(clips["av"]), AudioPart(clips["wav"]), TextPart("q"))])[0]
        assert both.error_kind == "request_refused"
        muted = seen(model.generate([ask(VideoPart(clips["av"], with_audio=False), AudioPart(clips["wav"]), TextPart("q"))])[0])
        assert is_wav(muted["inputs"]["Audio"][0]["wav"], 2.0)  # a muted video leaves the one Audio input to the clip
    finally:
        model.close()


def test_vita_gets_frames_and_a_text_question_and_never_the_soundtrack(clips, tmp_path):
    package = write_tree(tmp_path / "src", VITA)
    folder = tmp_path / "VITA_ckpt"
    folder.mkdir()
    with pytest.raises(Exception, match="needs its audio encoder folder"):
        loaded("vita", folder, package, tmp_path)
    encoder = tmp_path / "audio-encoder-2wh_zh_en_audioset_Mixtral-8x7B_New-base-tunning"  # the hub repo's layout
    encoder.mkdir()
    model = loaded("vita", folder, package, tmp_path)
    try:
        reply = model.generate([ask(VideoPart(clips["av"]), TextPart("Which colour?"), tokens=16)])[0]
        assert reply.text.endswith("}") and "</s>" not in reply.text[-5:]  # the separator is cut off
        got = seen(reply)
        assert got["prompt"] == "system:[video]</s>\nuser:" + "<image>" * 4 + "\nWhich colour?</s>\nbot:"
        assert got["input_ids"][0].count(-200) == 4 and got["images"] == [4, 3, 8, 8]
        assert got["audios"] == [1, 400, 80] and not got["audio_nonzero"] and got["lengths"] == [400.0]
        assert got["kwargs"] == {"do_sample": False, "temperature": 0.01, "top_p": None, "num_beams": 1,
                                 "output_scores": True, "return_dict_in_generate": True, "max_new_tokens": 16,
                                 "use_cache": True}
        assert got["stop"] == [["</s>"]] and got["new_ids"] == [[7, 8]] and reply.output_tokens == 2
        assert got["loaded"] == [str(folder), None, "VITA_ckpt", "mixtral-8x7b",
                                 {"mm_vision_tower": "OpenGVLab/InternViT-300M-448px", "mm_audio_encoder": str(encoder)}]
        assert got["vocab"] == 32002
        assert got["tower_loaded"] and got["audio_encoder"] == "torch.float16" and got["eval"]
        assert "fake-vita takes a video's frames only: soundtrack not fed" in reply.notes
        assert reply.media["video"] == [{"frames": 4, "frames_per_second": 1, "soundtrack": False}]
        assert reply.media["audio_input"]["zeros"] == [400, 80]

        image = seen(model.generate([ask(ImagePart(png(tmp_path)), TextPart("q"))])[0])
        assert image["prompt"].startswith("system:[image]") and image["input_ids"][0].count(-200) == 3
        assert image["tiles"] == [1, 12, 448, True]
        text = seen(model.generate([ask(TextPart("Hello?"))])[0])
        assert text["prompt"] == "system:[lang]</s>\nuser:Hello?</s>\nbot:" and text["images"] == [1, 3, 448, 448]
        heard = model.generate([ask(AudioPart(clips["wav"]), TextPart("What sound?"))])[0]
        assert heard.error_kind == "request_refused" and "takes no audio" in heard.error
        two = model.generate([ask(VideoPart(clips["av"]), ImagePart(png(tmp_path)), TextPart("q"))])[0]
        assert two.error_kind == "request_refused" and "one video or one image" in two.error
    finally:
        model.close()


GOLDEN_CARDS = {"macaw-llm": ("macaw-llm-7b", "macaw-llm"), "imagebind-llm": ("imagebind-llm", "imagebind-llm"),
                "vita": ("vita-7b", "vita")}


@pytest.mark.parametrize("adapter", sorted(GOLDEN_CARDS))
def test_the_call_into_the_authors_code_golden_snapshot(adapter, clips, tmp_path):
    check_golden_call(REGISTRY, adapter, *GOLDEN_CARDS[adapter], clips["av"], tmp_path)


def test_the_three_cards_pin_their_code_and_say_what_happens_to_the_soundtrack():
    for adapter, (name, _) in GOLDEN_CARDS.items():
        paper_card = check_pinned_card(REGISTRY, adapter, name)
        assert "test_paper_models_more.py" in paper_card.get("verified")
        assert all(" @ " in where or where.startswith("ours") for where in paper_card.get("sources").values())
    assert "spoken question" in REGISTRY.card("vita-7b").get("soundtrack")
    assert REGISTRY.card("vita-7b").get("media.audio_in_video") is False
    for name in ("av-llm-13b", "bay-cat-7b", "avicuna-7b"):
        assert "looked for" in REGISTRY.card(name).get("weights")
    assert "not video" in REGISTRY.card("anygpt-7b").get("soundtrack") and "anygpt" not in REGISTRY.adapters


def test_env_create_paper_makes_the_three_environments_from_their_pinned_checkouts(capsys):
    plugins = [arg for module in MODULES for arg in ("--plugin", module)]
    assert main(["env", "create", "--paper", "--dry-run", *plugins]) == 0
    out = capsys.readouterr().out
    for name, files in [("macaw-llm-7b", ["requirements.txt"]),
                        ("imagebind-llm", ["imagebind_LLM/ImageBind/requirements.txt", "imagebind_LLM/requirements.txt"]),
                        ("vita-7b", ["requirements.txt"])]:
        folder = environments.environment_dir(REGISTRY.card(name))
        block = out.split(f"{name}: would create")[1].split(" would create ")[0]
        assert block.index("git clone") < block.index("pip install"), block
        for file in files:
            assert f"-r {folder / 'source' / file}" in block, block
    assert "anygpt-7b: skipped (no adapter)" in out
