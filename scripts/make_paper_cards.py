"""Write model_cards/paper/*.toml from the AURELIA paper's results table (../shared/data/paper_results.csv).

    .venv/bin/python scripts/make_paper_cards.py ../shared/data/paper_results.csv

Each card names the model family's adapter (most have none yet: `avharness list models` says "needs
adapter" and `--models all` skips them with one line) and carries the paper's numbers in [paper.results.*]:
`baseline` is the Y of the paper's "X / Y" baseline cell (its relative gains are computed against Y),
`baseline_x` the X, `aurelia` the score with AURELIA.
"""

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

UPSTREAM = {  # the models' public code, as published by their authors
    "PandaGPT": "https://github.com/yxuansu/PandaGPT",
    "Macaw-LLM": "https://github.com/lyuchenyang/Macaw-LLM",
    "VideoLLaMA": "https://github.com/DAMO-NLP-SG/Video-LLaMA",
    "ImageBind-LLM": "https://github.com/OpenGVLab/LLaMA-Adapter",
    "X-InstructBLIP": "https://github.com/salesforce/LAVIS",
    "OneLLM": "https://github.com/csuhan/OneLLM",
    "CREMA": "https://github.com/Yui010206/CREMA",
    "VideoLLaMA2": "https://github.com/DAMO-NLP-SG/VideoLLaMA2",
    "AnyGPT": "https://github.com/OpenMOSS/AnyGPT",
    "NExT-GPT": "https://github.com/NExT-GPT/NExT-GPT",
    "Unified-IO-2 L": "https://github.com/allenai/unified-io-2",
    "Unified-IO-2 XL": "https://github.com/allenai/unified-io-2",
    "Bay-CAT": "https://github.com/rikeilong/Bay-CAT",
    "video-SALMONN": "https://github.com/bytedance/SALMONN",
    "AVicuna": "https://github.com/yunlong10/AVicuna",
    "VITA": "https://github.com/VITA-MLLM/VITA",
}
ADAPTER = {"Gemini 1.5 Pro": "gemini", "Reka Core": "reka", "Unified-IO-2 L": "unified-io-2",
           "Unified-IO-2 XL": "unified-io-2", "NExT-GPT": "next-gpt"}
CHECKPOINT = {  # weights on the hub as their authors published them (checked against the upstream READMEs)
    "PandaGPT": "openllmplayground/pandagpt_13b_max_len_400",
    "VideoLLaMA": "DAMO-NLP-SG/Video-LLaMA-2-7B-Finetuned",
    "OneLLM": "csuhan/OneLLM-7B",
    "CREMA": "Shoubin/CREMA",
    "VideoLLaMA2": "DAMO-NLP-SG/VideoLLaMA2-7B",
    "AnyGPT": "fnlp/AnyGPT-chat",
    "NExT-GPT": "ChocoWu/nextgpt_7b_tiva_v0",
    "Unified-IO-2 L": "allenai/uio2-large",
    "Unified-IO-2 XL": "allenai/uio2-xl",
    "video-SALMONN": "tsinghua-ee/Video-SALMONN",
    "VITA": "VITA-MLLM/VITA",
    "ImageBind-LLM": "Cxxs/ImageBind-LLM",
    "Macaw-LLM": "trained_models/MM-LLMs/mm_llms_trainer",
}
WEIGHTS = {  # where the weights are when they are not one hub id, and what is uncertain
    "PandaGPT": "delta weights over Vicuna-13B v0 plus ImageBind-Huge; upstream also publishes "
                "openllmplayground/pandagpt_13b_max_len_256, and the paper does not say which it ran",
    "Macaw-LLM": "not on a hub: the upstream README links Dropbox (https://tinyurl.com/yem9m4nf) and Weiyun "
                 "(https://share.weiyun.com/27EFG2pq); unpack them under the checkout's trained_models/ (the checkpoint "
                 "is inference.sh's --output_dir, relative to the checkout) beside clip_model, whisper_model, "
                 "llama_model and llama_tokenizer",
    "VideoLLaMA": "full Video-LLaMA-2 7B weights; Video-LLaMA (v1) checkpoints are in DAMO-NLP-SG/Video-LLaMA-Series; "
                  "the paper does not say which version it ran",
    "ImageBind-LLM": "7B.pth of Cxxs/ImageBind-LLM (the file llama.load('7B', ...) fetches) on top of LLaMA-7B "
                     "(Meta's request form) with the Open-Chinese-LLaMA delta (tools/get_chinese_llama.py); ImageBind-Huge "
                     "and the kNN index are fetched by the upstream code at load",
    "X-InstructBLIP": "per-modality Q-Former checkpoints that LAVIS downloads itself from the URLs in its config "
                      "(storage.googleapis.com/sfr-xinstructblip-data-research/model/xinstructblip_checkpoints/vicuna13b/"
                      "{image,video,audio,pc}_qformer.pth in the demo config; the model-zoo config "
                      "lavis/configs/models/blip2/blip2_xinstruct_vicuna13b.yaml spells the folder models/, not model/; "
                      "neither URL fetched here), over Vicuna-13B v1.1 (a local folder, [worker] llm_model), EVA-CLIP "
                      "ViT-g and BEATs iter3+",
    "CREMA": "crema_pretrained.pth in Shoubin/CREMA (the MMQA-audio and -3D modules; what their MUSIC-AVQA inference "
             "script loads) over BLIP-2's ViT-G and google/flan-t5-xl (the 4B), plus BEATs iter3+ ([worker] "
             "beats_checkpoint); the repository also has v2_ckpt/musicavqa_vadfn.pth, fine-tuned with flow, depth and "
             "normals, which need pre-extracted features; the paper does not say which it ran",
    "AV-LLM": "no public code or weights found for Audio-Visual LLM (Shu et al., arXiv 2312.06720), looked for in: "
              "GitHub repository names containing 'AV-LLM', 'audio-visual-llm' and 'AudioVisualLLM' (those found are "
              "other projects: FAVOR, AVSR, UAV planners); stored code (the llm-bible entry for the paper links no "
              "code); stored pages (arXiv/ar5iv, scholarfeed, wizwand name no repository); docs (the Hugging Face "
              "paper page lists 0 models citing it)",
    "AVicuna": "code at github.com/yunlong10/AVicuna; its README links the fine-tuned checkpoints on Google Drive "
               "(https://drive.google.com/drive/folders/1OaU59FW02pgM9iBg2X95x3o4EmlfYhli), on top of "
               "lmsys/vicuna-7b-v1.5, CLIP ViT-L/14 and CLAP; not on a hub (looked for again: GitHub repository names "
               "containing 'avicuna' (only yunlong10/AVicuna is the model), stored pages (arXiv, ar5iv) and docs (its "
               "Hugging Face paper page): no hub copy found)",
    "VideoLLaMA2": "DAMO-NLP-SG/VideoLLaMA2.1-7B-AV is VideoLLaMA 2's audio-visual checkpoint (other AV benchmarks "
                   "list it as such) and may be the one the paper ran; unverified",
    "AnyGPT": "also needs fnlp/AnyGPT-speech-modules and the SEED image tokenizer (upstream README)",
    "Unified-IO-2 L": "PyTorch port github.com/allenai/unified-io-2.pytorch (+ allenai/uio2-preprocessor); upstream "
                      "describes L as 1B, XL as 3B and XXL as 7B, so the paper's 6.8B for L fits allenai/uio2-xxl better",
    "Unified-IO-2 XL": "PyTorch port github.com/allenai/unified-io-2.pytorch (+ allenai/uio2-preprocessor)",
    "Bay-CAT": "no published weights found: the upstream README (latest stored, c9b5008) links the AVinstruct data "
               "and the fine-tuning (SFT_CAT/) and ADPO (ADPO_CAT/) code, no checkpoint; looked for again in GitHub "
               "repository names containing 'bay-cat', stored code, pages (ECCV 2024 paper pages) and docs",
    "VITA": "VITA 1.0 (Mixtral 8x7B based; the paper lists 7B): the hub repository's VITA_ckpt/ folder and its audio "
            "encoder folder, plus OpenGVLab/InternViT-300M-448px (upstream README); its builder spreads the model over "
            "two GPUs",
    "video-SALMONN": "the delta checkpoint (config/test.yaml names pytorch_model_4_5001.pt) over Vicuna-13B v1.5, "
                     "plus InstructBLIP Vicuna-13B, EVA-ViT-g and BEATs (upstream README, videosalmonn branch); the "
                     "published model is 13B, the paper lists 7B",
    "OneLLM": "consolidated.00-of-01.pth in csuhan/OneLLM-7B (the upstream README's --pretrained_path)",
}
EXTRA = {  # tables that make a paper card runnable where an adapter exists
    "VideoLLaMA2": ["", "[media]", "audio_in_video = false   # VideoLLaMA2-7B is the vision-language checkpoint; "
                    "see videollama2.1-7b-av for audio",
                    "", "[environment]   # shared with model_cards/videollama2.1-7b-av.toml",
                    'name = "videollama2"', 'python_version = "3.10"',
                    'requirements = ["torch>=2.2", "transformers==4.42.3", "tokenizers==0.19.1", '
                    '"opencv-python==4.5.5.64", "decord", "git+https://github.com/DAMO-NLP-SG/VideoLLaMA2@audio_visual"]'],
}
UIO2 = ["", "[worker]", '# tokenizer = "~/llama-2/tokenizer.model"   # required: the LLaMA-2 tokenizer its pre-processor uses',
        "", "[environment]   # AllenAI's PyTorch port and its requirements.txt (TensorFlow, protobuf 3.20); if the "
        "package's own dependencies fail to install, clone it and set pythonpath = [\"path/to/checkout\"] instead",
        'name = "unified-io-2"', 'python_version = "3.10"',
        'requirements = ["transformers>=4.36.0", "numpy", "scipy", "tensorflow", "sentencepiece", "einops", '
        '"protobuf==3.20.*", "tqdm", "pillow", "librosa", "scikit-video", '
        '"git+https://github.com/allenai/unified-io-2.pytorch"]']
EXTRA["Unified-IO-2 L"] = UIO2
EXTRA["Unified-IO-2 XL"] = UIO2
CODE = {  # the authors' code at the commit these cards were written against (read with git, not run here)
    "PandaGPT": "yxuansu/PandaGPT @ 9b77e0412d42a468362b67d1892ff0f4f659a4f5",
    "Macaw-LLM": "lyuchenyang/Macaw-LLM @ 06f6f22bc68159b0ed9c0bacf5702da2da1a68cf",
    "VideoLLaMA": "DAMO-NLP-SG/Video-LLaMA @ 64888c0a77e8e66af606c37629fbbf79c4582959",
    "ImageBind-LLM": "OpenGVLab/LLaMA-Adapter @ 521a09da84f70f6913d54b7421afa24010319e47 (imagebind_LLM/)",
    "X-InstructBLIP": "salesforce/LAVIS @ 506965b9c4a18c1e565bd32acaccabe0198433f7 (projects/xinstructblip/)",
    "OneLLM": "csuhan/OneLLM @ 8587a4768cf376fb41f7d586e21de5d1ab1ca365",
    "AVicuna": "yunlong10/AVicuna @ 3a19f51e648f3fb3a735e93e72e7ea87791bfa7d",
    "CREMA": "Yui010206/CREMA @ a76043b1d092e1ce57107a871140c330f9e64eb3",
    "AnyGPT": "OpenMOSS/AnyGPT @ 282b58fa96ae3f14d639b23f47b4732bf68883f0",
    "NExT-GPT": "NExT-GPT/NExT-GPT @ 60d618b067ee4cb0d70e7075ae79852780b34fc2 (NExT-GPT-Lagacy/: 7b_tiva_v0)",
    "Bay-CAT": "rikeilong/Bay-CAT @ a568f2de85b4078b7edbf0accf64a5d0ea93a42c",
    "video-SALMONN": "bytedance/SALMONN @ c305d54c7c8e868e873cb58e6ee8599770979cc8 (branch videosalmonn)",
    "VITA": "VITA-MLLM/VITA @ 360de2214a92855213adc8ee7f5026018caa8d42",
}
SOUNDTRACK = {  # what the authors' inference code does with a video's soundtrack (read at the commits above)
    "PandaGPT": "its video loader opens the file with decode_audio=False; the soundtrack goes in only as a separate "
                "audio file (the harness writes it as a WAV), and the ImageBind embeddings of video and audio are "
                "summed into one vector",
    "NExT-GPT": "as PandaGPT (the same ImageBind loaders, decode_audio=False): the soundtrack goes in as a separate "
                "<Audio> file beside the <Video>, each projected where its tag stands",
    "VideoLLaMA": "Chat.upload_video reads it from the video file itself (ImageBind's audio loader, 8 clips of 2 s) "
                  "for the audio Q-Former; upload_video_without_audio for a silent or muted video; if the audio "
                  "load fails upstream continues silently with frames only (the worker notes it)",
    "OneLLM": "not read: one modality per call and the video loader's with_audio=False; a video is frames only, "
              "an audio clip goes alone",
    "video-SALMONN": "a separate 16 kHz WAV beside the video (the data file's image_name = [video, wav]) for the "
                     "Whisper and BEATs encoders; the video itself is read with decode_audio=False",
    "Macaw-LLM": "separate: upstream's preprocessing extracts the soundtrack to a WAV of its own (moviepy) and "
                 "inference reads it with whisper.load_audio (padded or trimmed to 30 s, 80-bin log-mel); the harness "
                 "writes that WAV; the frames are 6 of 120 sampled with OpenCV; a missing modality goes in as zeros",
    "ImageBind-LLM": "as PandaGPT: ImageBind's video loader has decode_audio=False; the soundtrack goes in as a separate "
                     "Audio input (a WAV, weight 1.0 as the demo's slider), and the normalised ImageBind embeddings of "
                     "all inputs are averaged by weight into one visual query",
    "X-InstructBLIP": "not read from the video: its video processor (AlproVideoEvalProcessor, OpenCV) reads frames "
                      "only; the soundtrack goes in as the audio input (the harness writes it as a 16 kHz WAV for "
                      "BeatsAudioProcessor, which also reads an .mp4's audio itself via moviepy, as their MUSIC-AVQA "
                      "eval config does), through its own BEATs encoder and audio Q-Former; the LLM sees ' video: ' + "
                      "the frames' query tokens, then ' audio: ' + the audio's, then the prompt",
    "CREMA": "read as its own modality: the video+audio configuration (modalities audio_rgb-skip) takes the frames "
             "(decord, frames only) and the audio (beats_audio processor) from raw files, no pre-extracted features; "
             "upstream hands the audio processor the .mp4 (moviepy reads its soundtrack), here the harness hands it "
             "the soundtrack as a 16 kHz WAV; a video without a soundtrack gets the processor's own empty input "
             "(zeros), as upstream's would; the T5 encoder sees the 4 frames' query tokens ('Frame i: ' before "
             "each), then the audio's, then the question",
    "AnyGPT": "not built: AnyGPT takes speech, images and music, not video; a video would be a frame plus its "
              "soundtrack as music tokens, a choice upstream does not make",
    "VITA": "not fed: VITA's audio input is the user's spoken question (video_audio_demo.py asserts exactly one of "
            "audio_path and a text question); the harness sends the question as text and the frames (decord, 1 fps, 4 "
            "to MAX_IMAGE_LENGTH = 16), and the audio slot holds the demo's no-audio placeholder (zeros 400 x 80); audio "
            "clips are refused, since a sound clip beside a text question is a call the demo never makes",
    "AVicuna": "not built: its inference reads pre-extracted CLIP (video) and CLAP (audio) features, interleaved",
}
VERIFIED = ("entry points read in the authors' code at the pinned commit (git, not run); the worker driven in "
            "{tests} through a stand-in package with the same module paths, names and loader "
            "defaults; not run with the real weights (no GPU here)")
VERIFIED_IN = {"X-InstructBLIP": "tests/test_paper_models_lavis.py", "CREMA": "tests/test_paper_models_lavis.py",
               **{m: "tests/test_paper_models_more.py" for m in ("Macaw-LLM", "ImageBind-LLM", "VITA")}}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"


def table(name: str, entries: dict, comments: tuple = ()) -> list[str]:
    return ["", f"[{name}]", *comments] + [f"{k if k.isidentifier() else toml_value(k)} = {toml_value(v)}"
                                           for k, v in entries.items()]


def runnable(media: dict, worker: dict, environment: dict, sources: dict, required: tuple = ()) -> list[str]:
    """The tables that make a paper card run through its adapter; `required` are [worker] keys left for the
    user (local paths), written as comments."""
    return (table("media", media) + table("worker", worker, tuple(f"# {line}" for line in required))
            + table("environment", environment) + table("sources", sources))


PANDAGPT_REV = "9b77e0412d42a468362b67d1892ff0f4f659a4f5"
EXTRA["PandaGPT"] = runnable(
    {"audio_rate": 16000},
    {"top_p": 0.01, "temperature": 1.0, "seed": 0},
    {"name": "pandagpt", "python_version": "3.9",
     "source": {"git": "https://github.com/yxuansu/PandaGPT", "rev": PANDAGPT_REV, "subdir": "code"},
     "requirements": ["torch==1.13.1", "huggingface_hub"], "requirements_files": ["requirements.txt"]},
    {"worker.top_p": f"code/web_demo.py @ {PANDAGPT_REV[:7]}: the Top P slider's default, 0.01",
     "worker.temperature": f"code/web_demo.py @ {PANDAGPT_REV[:7]}: the Temperature slider's default, 1.0",
     "worker.seed": "ours: model.generate always samples (do_sample=True in code/model/openllama.py), a fixed seed repeats runs",
     "media.audio_rate": f"code/model/ImageBind/data.py @ {PANDAGPT_REV[:7]}: load_and_transform_audio_data(sample_rate=16000)",
     "frames": f"code/model/ImageBind/data.py @ {PANDAGPT_REV[:7]}: load_and_transform_video_data(clip_duration=2, clips_per_video=5), 2 frames per clip, decode_audio=False",
     "args": f"code/web_demo.py @ {PANDAGPT_REV[:7]}: stage 2, max_tgt_len 128, lora_r 32, lora_alpha 32, lora_dropout 0.1",
     "environment.python_version": f"code/model/ImageBind/__pycache__/*.cpython-39.pyc @ {PANDAGPT_REV[:7]}; README: Python 3.8+",
     "environment.requirements": f"README.md @ {PANDAGPT_REV[:7]}: torch 1.13.1 (cu117), then requirements.txt"},
    required=('imagebind_ckpt_path = "~/pandagpt/imagebind_ckpt"   # required: the folder holding imagebind_huge.pth',
              'vicuna_ckpt_path = "~/pandagpt/vicuna_ckpt/13b_v0"  # required: Vicuna-13B v0 (pretrained_ckpt/README.md)'))

NEXTGPT_REV = "60d618b067ee4cb0d70e7075ae79852780b34fc2"
EXTRA["NExT-GPT"] = runnable(
    {"audio_rate": 16000},
    {"top_p": 0.01, "temperature": 1.0, "seed": 0},
    {"name": "next-gpt", "python_version": "3.8",
     "source": {"git": "https://github.com/NExT-GPT/NExT-GPT", "rev": NEXTGPT_REV, "subdir": "NExT-GPT-Lagacy/code"},
     "requirements": ["huggingface_hub"], "requirements_files": ["NExT-GPT-Lagacy/requirements.txt"]},
    {"worker.top_p": f"NExT-GPT-Lagacy/code/demo_app.py @ {NEXTGPT_REV[:7]}: the Top P slider's default, 0.01",
     "worker.temperature": f"NExT-GPT-Lagacy/code/demo_app.py @ {NEXTGPT_REV[:7]}: the Temperature slider's default, 1.0",
     "worker.seed": "ours: generate_tokens_embeddings always samples (do_sample=True), a fixed seed repeats runs",
     "prompt": f"NExT-GPT-Lagacy/code/demo_app.py @ {NEXTGPT_REV[:7]}: '### Human: ' + <Image>/<Audio>/<Video> tags + ' ' + question",
     "generation": f"NExT-GPT-Lagacy/code/demo_app.py @ {NEXTGPT_REV[:7]}: min_word_tokens 10, gen_scale_factor 4.0, stops_id [[835]], ENCOUNTERS 1; ours: no image/video/audio synthesis (max_num_* = 0, load_sd false)",
     "args": f"NExT-GPT-Lagacy/code/inference.py @ {NEXTGPT_REV[:7]}: stage 3, max_length 128, mode validate, + load_config",
     "frames": f"NExT-GPT-Lagacy/code/model/ImageBind/data.py @ {NEXTGPT_REV[:7]}: 5 clips x 2 frames, decode_audio=False; audio 3 clips of 2 s at 16 kHz",
     "environment.python_version": f"README.md @ {NEXTGPT_REV[:7]}: conda env create -n nextgpt python=3.8"},
    required=('pretrained_ckpt_path = "~/nextgpt/pretrained_ckpt"   # ImageBind + Vicuna-7B v0 (else the checkout\'s ckpt/pretrained_ckpt/, base.yaml)',))

VIDEOLLAMA_REV = "64888c0a77e8e66af606c37629fbbf79c4582959"
EXTRA["VideoLLaMA"] = runnable(
    {"audio_in_video": True},
    {"model_type": "llama_v2", "num_beams": 1, "temperature": 1.0, "seed": 42},
    {"name": "videollama", "python_version": "3.9",
     "source": {"git": "https://github.com/DAMO-NLP-SG/Video-LLaMA", "rev": VIDEOLLAMA_REV},
     "requirements": ["torch==1.12.1", "torchaudio==0.12.1", "torchvision==0.13.1", "huggingface_hub"],
     "requirements_files": ["requirement.txt"]},
    {"worker.model_type": f"README.md @ {VIDEOLLAMA_REV[:7]}: demo_audiovideo.py --model_type llama_v2 for the LLaMA-2-chat based Video-LLaMA-2 weights (conv_llava_llama_2)",
     "worker.num_beams": f"demo_audiovideo.py @ {VIDEOLLAMA_REV[:7]}: the beam slider's default, 1",
     "worker.temperature": f"demo_audiovideo.py @ {VIDEOLLAMA_REV[:7]}: the temperature slider's default, 1.0",
     "worker.seed": "ours: Chat.answer always samples (do_sample=True); seeded before each request",
     "frames": f"video_llama/conversation/conversation_video.py @ {VIDEOLLAMA_REV[:7]}: upload_video, load_video(n_frms=8, height=224, width=224, sampling='uniform')",
     "audio": f"video_llama/conversation/conversation_video.py @ {VIDEOLLAMA_REV[:7]}: load_and_transform_audio_data([video_path], clips_per_video=8) from the video file",
     "prompt": f"video_llama/conversation/conversation_video.py @ {VIDEOLLAMA_REV[:7]}: upload_video's audio-visual user turn, then chat.ask(question)",
     "config": f"eval_configs/video_llama_eval_withaudio.yaml @ {VIDEOLLAMA_REV[:7]}, with llama_model, imagebind_ckpt_path, ckpt, ckpt_2 set (README.md)",
     "environment.requirements": f"environment.yml @ {VIDEOLLAMA_REV[:7]}: python 3.9, pytorch 1.12.1, torchaudio 0.12.1, torchvision 0.13.1; then requirement.txt"})

ONELLM_REV = "8587a4768cf376fb41f7d586e21de5d1ab1ca365"
EXTRA["OneLLM"] = runnable(
    {"audio_in_video": False},
    {"temperature": 0.1, "top_p": 0.75, "dtype": "float16"},
    {"name": "onellm", "python_version": "3.9",
     "source": {"git": "https://github.com/csuhan/OneLLM", "rev": ONELLM_REV},
     "requirements": ["huggingface_hub"], "requirements_files": ["requirements.txt"]},
    {"media.audio_in_video": f"demos/multi_turn_mm.py @ {ONELLM_REV[:7]}: one modality per call (the Input Modalities radio); data/video_utils.py: with_audio=False",
     "worker.temperature": f"eval/video_qa_msvd.py @ {ONELLM_REV[:7]}: model.generate(..., temperature=0.1, top_p=0.75)",
     "worker.top_p": f"eval/video_qa_msvd.py @ {ONELLM_REV[:7]}: top_p=0.75",
     "worker.dtype": f"eval/video_qa_msvd.py @ {ONELLM_REV[:7]}: fp16",
     "frames": f"eval/video_qa_msvd.py @ {ONELLM_REV[:7]}: load_and_transform_video_data(path, path, clip_duration=1, clips_per_video=5)[:, :, 0]",
     "audio": f"eval/audio_cap_clothov2.py @ {ONELLM_REV[:7]}: make_audio_features(path, mel_bins=128) (16 kHz, 1024 fbank frames)",
     "prompt": f"eval/video_qa_msvd.py @ {ONELLM_REV[:7]}: conv_templates['v1'], the question as the user turn, answer cut at '###'",
     "environment.python_version": f"README.md @ {ONELLM_REV[:7]}: conda create -n onellm python=3.9",
     "environment.requirements_files": f"README.md @ {ONELLM_REV[:7]}: pip install -r requirements.txt (torch 2.0.0+cu117, flash-attn: needs CUDA to build)"})

SALMONN_REV = "c305d54c7c8e868e873cb58e6ee8599770979cc8"
EXTRA["video-SALMONN"] = runnable(
    {"audio_rate": 16000},
    {"weights_file": "pytorch_model_4_5001.pt"},
    {"name": "video-salmonn", "python_version": "3.9",
     "source": {"git": "https://github.com/bytedance/SALMONN", "rev": SALMONN_REV},
     # their requirements.txt pins torch==2.0.0+cu118 without naming the index it comes from
     "requirements": ["--extra-index-url=https://download.pytorch.org/whl/cu118", "huggingface_hub"],
     "requirements_files": ["requirements.txt"]},
    {"worker.weights_file": f"config/test.yaml @ {SALMONN_REV[:7]}: delta_ckpt_path ./ckpt/MultiResQFormer/pytorch_model_4_5001.pt",
     "media.audio_rate": f"datasets/sft_dataset_nomix.py @ {SALMONN_REV[:7]}: sample_rate=16000, soundfile.read without resampling, WhisperFeatureExtractor",
     "frames": f"datasets/sft_dataset_nomix.py @ {SALMONN_REV[:7]}: UniformClipSampler(clip_duration=1), sample_per_clip=2, decode_audio=False",
     "input": f"inference.py @ {SALMONN_REV[:7]}: SupervisedAudioVisualDataset4Test('audiovideoimage', audio_data_path='./dummy/dummy_audio.json', video_data_path=..., training=False); example_video.json's image_name = [mp4, wav]",
     "generation": f"model/openllama.py @ {SALMONN_REV[:7]}: forward(generate=True) defaults: num_beams 5, repetition_penalty 1.5, do_sample false",
     "environment.python_version": f"README.md @ {SALMONN_REV[:7]}: Python 3.9.20, pip install -r requirements.txt"},
    required=('vicuna_ckpt_path = "~/llm/vicuna-13b-v1.5"   # required: config/test.yaml\'s vicuna_ckpt_path',
              'cache_dir = "~/video-salmonn/pretrained_ckpt"  # InstructBLIP Vicuna-13B, EVA-ViT-g, BEATs (README)'))

LAVIS_REV = "506965b9c4a18c1e565bd32acaccabe0198433f7"
XIB_DEMO = f"projects/xinstructblip/demo/run_demo.py @ {LAVIS_REV[:7]}"
EXTRA["X-InstructBLIP"] = runnable(
    {"audio_rate": 16000},
    {"modalities": ["image", "video", "audio"], "num_beams": 5, "length_penalty": 1.0, "repetition_penalty": 1.5,
     "min_length": 1, "top_p": 0.9, "use_nucleus_sampling": False, "seed": 42},
    {"name": "xinstructblip", "python_version": "3.8",
     "source": {"git": "https://github.com/salesforce/LAVIS", "rev": LAVIS_REV},
     "requirements": [], "requirements_files": ["requirements.txt"]},
    {"config": f"projects/xinstructblip/demo/configs/vicuna13b.yaml @ {LAVIS_REV[:7]}: arch blip2_vicuna_xinstruct, model_type vicuna13b, the 13B Q-Former URLs, prompt '', use_cues true; llm_model set as the README says",
     "worker.modalities": "ours: the demo config lists image, video, audio, pc; the harness has no point-cloud input, and the 3D encoder needs KNN_CUDA (README); the order of the rest, and so of the cues, is the config's",
     "worker.num_beams": f"{XIB_DEMO}: the Beam Size slider's default, 5",
     "worker.length_penalty": f"{XIB_DEMO}: the Length Penalty slider's default, 1",
     "worker.repetition_penalty": f"{XIB_DEMO}: the Repetition Penalty slider's default, 1.5",
     "worker.min_length": f"{XIB_DEMO}: the Min Length slider's default, 1 (Max Length is the request's max_new_tokens; the demo's default is 250)",
     "worker.top_p": f"{XIB_DEMO}: the Top p slider's default, 0.9 (unused in beam search)",
     "worker.use_nucleus_sampling": f"{XIB_DEMO}: the decoding radio's default, Beam search",
     "worker.seed": f"{XIB_DEMO}: setup_seeds(42)",
     "media.audio_rate": f"{XIB_DEMO}: BeatsAudioProcessor(sampling_rate=16000)",
     "frames": f"{XIB_DEMO}: AlproVideoEvalProcessor(n_frms=4, image_size=224); lavis/datasets/data_utils.py: load_clip(sampling='headtail'), OpenCV, first / evenly spaced / last frame",
     "audio": f"{XIB_DEMO}: BeatsAudioProcessor(model_name='iter3', sampling_rate=16000, n_frames=2, is_eval=False, frame_length=512); lavis/processors/audio_processors.py: 128-bin fbank, 10 ms shift, 2 x 512 frames (10.24 s), zeros when unreadable",
     "prompt": f"{XIB_DEMO}: samples['prompt'] is the prompt box's text, and special_qformer_input_prompt the same text when the Q-Former prompt box is empty; lavis/models/blip2_models/blip2_vicuna_xinstruct.py: MODALITY_TO_CUE ' video: ', ' audio: ', ' image: '",
     "environment.python_version": f"README.md @ {LAVIS_REV[:7]}: conda create -n lavis python=3.8 (open3d==0.13.0 in requirements.txt has no wheel for later Pythons)",
     "environment.requirements_files": f"projects/xinstructblip/README.md @ {LAVIS_REV[:7]}: pip install -e . (setup.py installs requirements.txt: transformers==4.33.2, timm==0.4.12, torch>=1.10)"},
    required=('llm_model = "~/vicuna-13b-v1.1"   # required: the Vicuna v1.1 13B folder (projects/xinstructblip/README.md)',
              'beats_checkpoint = "~/BEATs_iter3_plus_AS2M.pt"  # optional: else BeatsEncoder downloads its default checkpoint'))

CREMA_REV = "a76043b1d092e1ce57107a871140c330f9e64eb3"
CREMA_EVAL = f"lavis/projects/crema/eval/music_avqa_eval.yaml @ {CREMA_REV[:7]}"
EXTRA["CREMA"] = runnable(
    {"audio_rate": 16000},
    {"weights_file": "crema_pretrained.pth", "num_beams": 5, "min_len": 1},
    {"name": "crema", "python_version": "3.8",
     "source": {"git": "https://github.com/Yui010206/CREMA", "rev": CREMA_REV},
     "requirements": ["huggingface_hub"], "requirements_files": ["requirements.txt"]},
    {"config": f"run_scripts/crema/inference/music_avqa.sh @ {CREMA_REV[:7]}: evaluate.py --cfg-path lavis/projects/crema/eval/music_avqa_eval.yaml, model.frame_num=4, model.downstream_task='oeqa', model.modalities='audio_rgb-skip', datasets.musicavqa_mm_instruct.data_type=['audio','video'] (the video+audio run)",
     "worker.weights_file": f"run_scripts/crema/inference/music_avqa.sh @ {CREMA_REV[:7]}: ckpt='crema_pretrained.pth' as model.finetuned",
     "worker.num_beams": f"{CREMA_EVAL}: run.num_beams 5 (GQATask.valid_step passes it to predict_answers; length_penalty is predict_answers' default, -1)",
     "worker.min_len": f"{CREMA_EVAL}: run.min_len 1 (run.max_len 10 is the request's max_new_tokens here)",
     "worker.beats_checkpoint": f"README.md @ {CREMA_REV[:7]}: download BEATs_iter3_plus_AS2M.pt and update ckp_path in lavis/models/beats_encoder.py; the worker sets that default instead of editing the file",
     "media.audio_rate": f"{CREMA_EVAL}: audio_processor.eval beats_audio, sampling_rate 16000, is_eval False",
     "frames": f"{CREMA_EVAL}: video_processor.eval blip_video_eval, n_frms 4, image_size 224; lavis/processors/blip_processors.py and lavis/datasets/data_utils.py: load_video(sampling='uniform'), decord, the middle frame of each of 4 equal spans",
     "audio": f"lavis/processors/audio_processors.py @ {CREMA_REV[:7]}: 128-bin Kaldi fbank, 10 ms shift, 2 windows of 512 frames (the first 10.24 s), zeros when the file cannot be read",
     "prompt": f"lavis/datasets/datasets/music_avqa_datasets.py @ {CREMA_REV[:7]}: qa_input = 'Question: ' + blip_question(question) + ' Based on the frames and audio information, answer the question using a single word or phase.'; lavis/processors/blip_processors.py: blip_question lowercases, drops .!\"()*#:;~, keeps 50 words; lavis/models/crema_models/crema.py: max_txt_len 77",
     "environment.python_version": f"README.md @ {CREMA_REV[:7]}: conda create -n crema python=3.8",
     "environment.requirements_files": f"README.md @ {CREMA_REV[:7]}: pip install -e . (setup.py installs requirements.txt: transformers==4.33.2, timm==0.4.12, positional_encodings, torch>=1.10)"},
    required=('beats_checkpoint = "~/BEATs_iter3_plus_AS2M.pt"  # required: the BEATs iter3+ file (README.md, Audio Encoder)',))

MACAW_REV = "06f6f22bc68159b0ed9c0bacf5702da2da1a68cf"
EXTRA["Macaw-LLM"] = runnable(
    {"audio_rate": 16000},
    {"models_dir": "trained_models", "seed": 0},
    {"name": "macaw-llm", "python_version": "3.9",
     "source": {"git": "https://github.com/lyuchenyang/Macaw-LLM", "rev": MACAW_REV},
     "requirements": [], "requirements_files": ["requirements.txt"]},
    {"worker.models_dir": f"run_clm_llms_inference.py @ {MACAW_REV[:7]}: CLIPConfig/WhisperConfig/AutoConfig from trained_models/{{clip_model, whisper_model, llama_model}}, LlamaTokenizer from trained_models/llama_tokenizer",
     "checkpoint": f"inference.sh @ {MACAW_REV[:7]}: --output_dir trained_models/MM-LLMs/mm_llms_trainer/, loaded with MM_LLMs.from_pretrained (fp16: --fp16_full_eval)",
     "worker.seed": f"ours: preprocess_data.py @ {MACAW_REV[:7]} draws a clip's 120 frames at random (np.random) when it has fewer; seeded per request",
     "media.audio_rate": f"llm_trainer.py @ {MACAW_REV[:7]}: whisper.load_audio (16 kHz), pad_or_trim (30 s), log_mel_spectrogram (80 x 3000)",
     "audio": f"preprocess_data.py @ {MACAW_REV[:7]}: extract_audio_from_video writes each video's soundtrack to its own WAV (moviepy)",
     "frames": f"preprocess_data.py @ {MACAW_REV[:7]}: sample_frames_from_video, 120 frames per video (OpenCV, stride len // 120, last frame last) as JPEG; llm_trainer.py: train_frame_ind 0, 20, 40, 60, 80, 119, CLIP _transform(224)",
     "zeros": f"llm_trainer.py @ {MACAW_REV[:7]}: inference_generation feeds zeros for a 'None' video (6 x 3 x 224 x 224), audio (80 x 3000) or image",
     "prompt": f"run_clm_llms_inference.py @ {MACAW_REV[:7]}: the Alpaca prompt ('Below is an instruction ... ### Instruction:\\n{{}}\\n\\n### Response:'), tokenised without EOS",
     "args": f"run_clm_llms_inference.py @ {MACAW_REV[:7]}: ModelArguments defaults n_frames 6, attention_heads 220, image conv 48/36, video 36/30, audio 240/220 (inference.sh sets none)",
     "generation": f"modeling.py @ {MACAW_REV[:7]}: MM_LLMs.forward(inference=True): llm.generate(inputs_embeds, max_new_tokens=128, eos 2, bos 1, pad 32006), greedy; ours: the request's token budget",
     "environment.python_version": f"ours: README.md @ {MACAW_REV[:7]} names none; requirements.txt pins torch 2.0.0 and transformers 4.29.0 (Python 3.8 to 3.11); its apex step is left out"},
    required=('the checkout\'s trained_models/ holds clip_model, whisper_model, llama_model, llama_tokenizer and MM-LLMs/ (README: Dropbox or Weiyun)',))

IMAGEBIND_LLM_REV = "521a09da84f70f6913d54b7421afa24010319e47"
EXTRA["ImageBind-LLM"] = runnable(
    {"audio_rate": 16000},
    {"llama_type": "7B_chinese", "weights_file": "7B.pth", "temperature": 0.1, "top_p": 0.75, "cache_size": 10,
     "cache_t": 20, "cache_weight": 0.5, "weight": 1.0, "seed": 0},
    {"name": "imagebind-llm", "python_version": "3.9",
     "source": {"git": "https://github.com/OpenGVLab/LLaMA-Adapter", "rev": IMAGEBIND_LLM_REV, "subdir": "imagebind_LLM"},
     "requirements": ["huggingface_hub"],
     "requirements_files": ["imagebind_LLM/ImageBind/requirements.txt", "imagebind_LLM/requirements.txt"]},
    {"worker.llama_type": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: --llama_type default 7B_chinese; README.md: the stable version is built on Open-Chinese-LLaMA",
     "worker.weights_file": f"imagebind_LLM/llama/llama_adapter.py @ {IMAGEBIND_LLM_REV[:7]}: _MODELS['7B'] = huggingface.co/Cxxs/ImageBind-LLM/resolve/main/7B.pth",
     "worker.temperature": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: the Temperature slider's default, 0.1",
     "worker.top_p": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: the Top p slider's default, 0.75",
     "worker.cache_size": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: Cache Size 10, Cache Temperature 20, Cache Weight 0.5 (knn=True)",
     "worker.weight": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: every modality's Weight slider defaults to 1.0",
     "worker.seed": "ours: generate samples (temperature 0.1, sample_top_p); a fixed seed repeats runs",
     "prompt": f"imagebind_LLM/gradio_app.py @ {IMAGEBIND_LLM_REV[:7]}: llama.format_prompt(question) encoded with bos=True, eos=False, generate under CUDA autocast",
     "media.audio_rate": f"imagebind_LLM/ImageBind/data.py @ {IMAGEBIND_LLM_REV[:7]}: load_and_transform_audio_data(sample_rate=16000, clip_duration=2, clips_per_video=3)",
     "frames": f"imagebind_LLM/ImageBind/data.py @ {IMAGEBIND_LLM_REV[:7]}: load_and_transform_video_data(clip_duration=2, clips_per_video=5), 2 frames per clip, decode_audio=False",
     "fusion": f"imagebind_LLM/llama/llama_adapter.py @ {IMAGEBIND_LLM_REV[:7]}: forward_visual averages the normalised ImageBind embeddings by weight into one query",
     "device": f"imagebind_LLM/llama/llama_adapter.py @ {IMAGEBIND_LLM_REV[:7]}: LLaMA is built under torch.cuda.HalfTensor and generate() puts its tokens on .cuda(): a GPU is needed",
     "environment.python_version": f"imagebind_LLM/README.md @ {IMAGEBIND_LLM_REV[:7]}: conda create -n imagebind_LLM python=3.9",
     "environment.requirements_files": f"imagebind_LLM/README.md @ {IMAGEBIND_LLM_REV[:7]}: pip install -r ImageBind/requirements.txt, then requirements.txt"},
    required=('llama_dir = "~/llama"   # required: holds 7B_chinese/ and tokenizer.model (README: LLaMA-7B + tools/get_chinese_llama.py)',))

VITA_REV = "360de2214a92855213adc8ee7f5026018caa8d42"
EXTRA["VITA"] = runnable(
    {"audio_in_video": False},
    {"model_type": "mixtral-8x7b", "conv_mode": "mixtral_two", "vision_tower": "OpenGVLab/InternViT-300M-448px"},
    {"name": "vita", "python_version": "3.10",
     "source": {"git": "https://github.com/VITA-MLLM/VITA", "rev": VITA_REV},
     "requirements": ["huggingface_hub"], "requirements_files": ["requirements.txt"]},
    {"media.audio_in_video": f"video_audio_demo.py @ {VITA_REV[:7]}: assert (audio_path is None) != (qs == ''): the audio input is the spoken question, never beside a text one; decord reads frames only",
     "worker.model_type": f"README.md @ {VITA_REV[:7]}: video_audio_demo.py --model_type mixtral-8x7b --conv_mode mixtral_two",
     "worker.vision_tower": f"README.md @ {VITA_REV[:7]}: the weights are the VITA checkpoint, InternViT-300M-448px and the audio encoder (hub VITA-MLLM/VITA: VITA_ckpt/ and audio-encoder-2wh_zh_en_audioset_Mixtral-8x7B_New-base-tunning/); their paths replace the config's mm_vision_tower and mm_audio_encoder",
     "worker.conv_mode": f"vita/conversation.py @ {VITA_REV[:7]}: conv_mixtral_two, whose get_prompt(modality) picks the image, video or text system message",
     "frames": f"video_audio_demo.py @ {VITA_REV[:7]}: _get_rawvideo_dec, video_framerate 1, min_frames 4, max_frames MAX_IMAGE_LENGTH (vita/constants.py: 16; the demo's comment says 100), padded square",
     "image": f"video_audio_demo.py @ {VITA_REV[:7]}: dynamic_preprocess(min_num=1, max_num=12, image_size=448, use_thumbnail=True), model.process_images",
     "audio": f"video_audio_demo.py @ {VITA_REV[:7]}: without audio_path the audio input is torch.zeros(400, 80), length 400",
     "prompt": f"video_audio_demo.py @ {VITA_REV[:7]}: '<image>' x frames + '\\n' + question as the user turn, tokenizer_image_token",
     "generation": f"video_audio_demo.py @ {VITA_REV[:7]}: do_sample False, temperature 0.01, top_p None, num_beams 1, stop at the separator; ours: the request's token budget (the demo's is 1024)",
     "device": f"vita/model/builder.py @ {VITA_REV[:7]}: load_pretrained_model places the Mixtral layers over cuda:0 and cuda:1 (README: CUDA_VISIBLE_DEVICES=0,1)",
     "environment.python_version": f"README.md @ {VITA_REV[:7]}: conda create -n vita python=3.10, pip install -r requirements.txt (then flash-attn, built against CUDA: left out)"},
    required=('audio_encoder = "~/vita/audio-encoder-2wh_zh_en_audioset_Mixtral-8x7B_New-base-tunning"   # default: beside the VITA_ckpt folder, as in the hub repository',))


API = {"Gemini 1.5 Pro": ('checkpoint = "gemini-1.5-pro"', 'api_key_env = "GEMINI_API_KEY"', "parallel_requests = 8"),
       "Reka Core": ('checkpoint = "reka-core"', 'api_key_env = "REKA_API_KEY"')}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def main(csv_path: str, out: str = "model_cards/paper") -> None:
    rows = defaultdict(list)
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            rows[row["model"]].append(row)
    Path(out).mkdir(parents=True, exist_ok=True)
    for model, cells in rows.items():
        size = cells[0]["size"]
        name = slug(model) if size in ("-", "closed") or size.lower() in model.lower() else f"{slug(model)}-{size.lower()}"
        lines = [f"# {model} as reported in the AURELIA paper (arXiv 2503.23219), generated by scripts/make_paper_cards.py.",
                 f'name = "{name}"', f'adapter = "{ADAPTER.get(model, slug(model))}"',
                 f'description = "{model} ({size}); a row of the AURELIA paper\'s results table"']
        if model in UPSTREAM:
            lines.append(f'upstream = "{UPSTREAM[model]}"')
        if model in CHECKPOINT:
            lines.append(f'checkpoint = "{CHECKPOINT[model]}"')
        if model in WEIGHTS:
            lines.append(f'weights = "{WEIGHTS[model]}"')
        if model in CODE:
            lines.append(f"code = {toml_value(CODE[model])}")
        if model in SOUNDTRACK:
            lines.append(f"soundtrack = {toml_value(SOUNDTRACK[model])}")
        if model in EXTRA and model in CODE:
            lines.append(f"verified = {toml_value(VERIFIED.format(tests=VERIFIED_IN.get(model, 'tests/test_paper_models.py')))}")
        lines += list(API.get(model, ()))
        lines += EXTRA.get(model, [])
        lines += ["", "[paper]", f'model = "{model}"', f'size = "{size}"',
                  'source = "AURELIA paper, main results figure (project page); baseline = Y of the paper\'s X / Y cells"']
        for cell in cells:
            values = [(key, cell[col]) for key, col in (("baseline", "baseline_y"), ("baseline_x", "baseline_x"),
                                                        ("aurelia", "aurelia")) if cell[col]]
            if not values:  # the paper reports nothing for this model and column
                continue
            lines += ["", f"[paper.results.{cell['column']}]"] + [f"{k} = {float(v)}" for k, v in values]
        Path(out, f"{name}.toml").write_text("\n".join(lines) + "\n")
        print(Path(out, f"{name}.toml"))


if __name__ == "__main__":
    main(*sys.argv[1:])
