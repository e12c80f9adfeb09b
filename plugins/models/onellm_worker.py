"""OneLLM (7B), worker side. Runs in an environment with the authors' repository (github.com/csuhan/OneLLM,
its root on the path) and their requirements; imports nothing from avharness.

It calls the model as the authors' evaluation scripts (eval/video_qa_msvd.py, eval/audio_cap_clothov2.py) do:
a one-process model-parallel group (fairscale), `MetaModel("onellm", "config/llama2/7B.json", None,
"config/llama2/tokenizer.model")` built under `default_tensor_type(fp16, cuda)`, the checkpoint loaded with
`load_state_dict(..., strict=False)`, `.half()`; then the conversation template "v1" with the question as
the user turn, and `model.generate([prompt], inputs, max_gen_len, temperature=0.1, top_p=0.75,
modal=[modality])`, the answer cut at the first "###".

OneLLM takes ONE modality per call (`modal` is one of image, video, audio; the demo's radio button):
- a video: `video_utils.load_and_transform_video_data(path, path, clip_duration=1, clips_per_video=5)[:, :, 0]`,
  5 clips of one frame each at 224 px, three spatial crops each; the file is opened with its default
  `with_audio=False`, so the soundtrack is not read: a video reaches the model as frames only;
- an audio clip: `make_audio_features(path, mel_bins=128)` (16 kHz, 128-bin fbank padded or cut to 1024 frames,
  about 10 s), modal "audio".
"""

from __future__ import annotations

import os
import tempfile

EVAL_GENERATION = {"temperature": 0.1, "top_p": 0.75}  # eval/*.py and the demo's defaults
LLAMA_CONFIG = "config/llama2/7B.json"
TOKENIZER = "config/llama2/tokenizer.model"


def call_arguments(messages, settings, max_new_tokens):
    """The modality, the input file and the question of a request, and the generate settings."""
    media = [item for message in messages for item in message["content"] if item["type"] != "text"]
    if len(media) != 1 or media[0]["type"] not in ("video", "audio"):
        raise ValueError("OneLLM takes exactly one video or one audio clip per request (one modality per call)")
    question = "\n".join(i["text"] for message in messages for i in message["content"] if i["type"] == "text")
    return {"modal": [media[0]["type"]], "path": media[0]["path"], "question": question,
            "max_gen_len": int(max_new_tokens), **{k: settings.get(k, v) for k, v in EVAL_GENERATION.items()}}


def prompt(question):
    from data.conversation_lib import conv_templates

    conv = conv_templates["v1"].copy()
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def inputs_for(call):
    """The tensors the eval scripts build, with one leading batch dimension."""
    if call["modal"] == ["video"]:
        from data import video_utils

        return video_utils.load_and_transform_video_data(call["path"], call["path"], clip_duration=1,
                                                         clips_per_video=5)[:, :, 0][None]
    from data.data_utils import make_audio_features

    return make_audio_features(call["path"], mel_bins=128).transpose(0, 1)[None][None]


def load(options):
    import torch
    import torch.distributed as dist
    from fairscale.nn.model_parallel import initialize as fs_init

    import model as upstream_model  # the repository's model package: its configs are relative to the root

    settings = options.get("model", {})
    os.chdir(settings.get("workdir") or os.path.dirname(os.path.dirname(os.path.abspath(upstream_model.__file__))))
    from model.meta import MetaModel
    from util.misc import default_tensor_type

    cuda = torch.cuda.is_available()
    if not dist.is_initialized():  # a group of one: no port to pick, the rendezvous is a file
        rendezvous = tempfile.NamedTemporaryFile(prefix="onellm-", delete=False).name
        dist.init_process_group(backend="nccl" if cuda else "gloo", rank=0, world_size=1,
                                init_method=f"file://{rendezvous}")
    fs_init.initialize_model_parallel(1)
    if cuda:
        torch.cuda.set_device(int(options["device"].split(":")[1]) if ":" in options["device"] else 0)
    torch.manual_seed(1)
    dtype = getattr(torch, settings.get("dtype", "float16"))
    with default_tensor_type(dtype=dtype, device="cuda" if cuda else "cpu"):
        model = MetaModel("onellm", settings.get("llama_config", LLAMA_CONFIG), None,
                          settings.get("tokenizer", TOKENIZER))
    checkpoint = os.path.expanduser(options["checkpoint"])
    if not os.path.isfile(checkpoint):
        from huggingface_hub import hf_hub_download

        checkpoint = hf_hub_download(options["checkpoint"], settings.get("weights_file", "consolidated.00-of-01.pth"),
                                     revision=options.get("revision"))
    model.load_state_dict(torch.load(checkpoint, map_location="cpu"), strict=False)
    model = model.half().to(options["device"]).eval()
    return {"model": model, "settings": settings, "dtype": dtype, "device": options["device"]}, {"weights": checkpoint}


def generate(state, messages, max_new_tokens):
    import torch

    call = call_arguments(messages, state["settings"], max_new_tokens)
    text_prompt = prompt(call["question"])
    inputs = inputs_for(call).to(state["device"]).to(state["dtype"])
    on_gpu = inputs.device.type == "cuda"  # the eval scripts generate under CUDA autocast
    with torch.inference_mode(), torch.autocast("cuda" if on_gpu else "cpu", dtype=state["dtype"], enabled=on_gpu):
        response = state["model"].generate([text_prompt], inputs, call["max_gen_len"],
                                           temperature=call["temperature"], top_p=call["top_p"], modal=call["modal"])[0]
    text = response[len(text_prompt):].split("###")[0].strip()
    tokenizer = getattr(state["model"], "tokenizer", None)
    output_tokens = len(tokenizer.encode(text, bos=False, eos=False)) if tokenizer is not None else 0
    if call["modal"] == ["video"]:
        receipt = {"video": [{"frames": int(inputs.shape[1]) // 3, "crops": 3, "size": [224, 224],
                              "soundtrack": False}], "audio": [], "images": 0}
    else:
        receipt = {"video": [], "audio": [{"fbank_frames": int(inputs.shape[-1]), "seconds": int(inputs.shape[-1]) / 100,
                                           "rate": 16000, "soundtrack": False}], "images": 0}
    return {"text": text, "input_tokens": 0, "output_tokens": output_tokens, "notes": [], "media": receipt}
