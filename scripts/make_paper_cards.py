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
    "VITA": "https://github.com/VITA-MLLM/VITA",
}
ADAPTER = {"Gemini 1.5 Pro": "gemini", "Reka Core": "reka", "Unified-IO-2 L": "unified-io-2",
           "Unified-IO-2 XL": "unified-io-2"}
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
}
WEIGHTS = {  # where the weights are when they are not one hub id, and what is uncertain
    "PandaGPT": "delta weights over Vicuna-13B v0 plus ImageBind-Huge; upstream also publishes "
                "openllmplayground/pandagpt_13b_max_len_256, and the paper does not say which it ran",
    "Macaw-LLM": "not on a hub: the upstream README links Dropbox (https://tinyurl.com/yem9m4nf) and Weiyun "
                 "(https://share.weiyun.com/27EFG2pq)",
    "VideoLLaMA": "full Video-LLaMA-2 7B weights; Video-LLaMA (v1) checkpoints are in DAMO-NLP-SG/Video-LLaMA-Series; "
                  "the paper does not say which version it ran",
    "ImageBind-LLM": "fetched by the upstream code (llama.load('7B', llama_dir, knn=True)) on top of LLaMA-7B "
                     "(Meta's request form) and the Open-Chinese-LLaMA delta (get_chinese_llama.py)",
    "X-InstructBLIP": "LAVIS model zoo: per-modality Q-Former checkpoints under storage.googleapis.com/"
                      "sfr-xinstructblip-data-research/model/xinstructblip_checkpoints/ (the vicuna7b folder is "
                      "named in the code; the 13B variant's path was not verified)",
    "AV-LLM": "no public code or weights found",
    "AVicuna": "no public code or weights found",
    "VideoLLaMA2": "DAMO-NLP-SG/VideoLLaMA2.1-7B-AV is VideoLLaMA 2's audio-visual checkpoint (other AV benchmarks "
                   "list it as such) and may be the one the paper ran; unverified",
    "AnyGPT": "also needs fnlp/AnyGPT-speech-modules and the SEED image tokenizer (upstream README)",
    "Unified-IO-2 L": "PyTorch port github.com/allenai/unified-io-2.pytorch (+ allenai/uio2-preprocessor); upstream "
                      "describes L as 1B, XL as 3B and XXL as 7B, so the paper's 6.8B for L fits allenai/uio2-xxl better",
    "Unified-IO-2 XL": "PyTorch port github.com/allenai/unified-io-2.pytorch (+ allenai/uio2-preprocessor)",
    "Bay-CAT": "no published weights found (the upstream README says code and instructions will be released)",
    "VITA": "VITA 1.0 (Mixtral 8x7B based); the paper lists 7B",
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
