"""Caption metrics against several references: BLEU-4, ROUGE-L, CIDEr-D and (when nltk with WordNet is
installed) METEOR. Definitions follow the COCO caption evaluation: BLEU-4 at corpus level with the
closest-reference brevity penalty (Papineni et al. 2002); ROUGE-L as the LCS F-measure with beta 1.2, best
precision and recall over the references (Lin 2004); CIDEr-D as tf-idf weighted n-gram cosine (n = 1..4)
with clipped candidate counts, a Gaussian length penalty (sigma 6), and x10 (Vedantam et al. 2015).
Tokens: lower-case words and numbers, punctuation dropped.
"""

from __future__ import annotations

import math
import re
from collections import Counter


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", (text or "").lower())


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu4(hypotheses: list[str], references: list[list[str]]) -> float:
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        h = tokens(hyp)
        rs = [tokens(r) for r in refs] or [[]]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1]
        for n in range(1, 5):
            counts = _ngrams(h, n)
            best: Counter = Counter()
            for r in rs:
                best |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, refs: list[str], beta: float = 1.2) -> float:
    h = tokens(hypothesis)
    if not h or not refs:
        return 0.0
    precisions, recalls = [], []
    for r in refs:
        rt = tokens(r)
        lcs = _lcs(h, rt)
        precisions.append(lcs / len(h))
        recalls.append(lcs / len(rt) if rt else 0.0)
    p, r = max(precisions), max(recalls)
    if p == 0 or r == 0:
        return 0.0
    return (1 + beta ** 2) * p * r / (r + beta ** 2 * p)


def cider_d(hypotheses: list[str], references: list[list[str]], sigma: float = 6.0) -> list[float]:
    """Per-sample CIDEr-D; the document frequencies come from the references of this whole set."""
    count = len(references)
    if count == 0:
        return []
    df = [Counter() for _ in range(4)]
    refs_tok = [[tokens(r) for r in refs] for refs in references]
    for refs in refs_tok:
        for n in range(4):
            seen = set()
            for r in refs:
                seen.update(_ngrams(r, n + 1))
            df[n].update(seen)
    log_count = math.log(max(count, 1))

    def vector(words, n):
        counts = _ngrams(words, n + 1)
        vec = {g: c * (log_count - math.log(max(1.0, df[n][g]))) for g, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        return vec, norm

    scores = []
    for hyp, refs in zip(hypotheses, refs_tok):
        h = tokens(hyp)
        total = 0.0
        for n in range(4):
            hv, hn = vector(h, n)
            per_ref = []
            for r in refs:
                rv, rn = vector(r, n)
                dot = sum(min(v, rv[g]) * rv[g] for g, v in hv.items() if g in rv)  # clipped: the "-D"
                sim = dot / (hn * rn) if hn and rn else 0.0
                per_ref.append(sim * math.exp(-((len(h) - len(r)) ** 2) / (2 * sigma ** 2)))
            total += sum(per_ref) / len(per_ref) if per_ref else 0.0
        scores.append(10.0 * total / 4)
    return scores


def meteor(hypotheses: list[str], references: list[list[str]]) -> float | None:
    """Mean METEOR (nltk's implementation) or None when nltk or its WordNet data is not installed."""
    try:
        from nltk.translate.meteor_score import meteor_score

        values = [meteor_score([tokens(r) for r in refs], tokens(h)) for h, refs in zip(hypotheses, references)]
    except (ImportError, LookupError):
        return None
    return sum(values) / len(values) if values else None


def corpus_scores(hypotheses: list[str], references: list[list[str]]) -> dict:
    if not hypotheses:
        return {}
    ciders = cider_d(hypotheses, references)
    met = meteor(hypotheses, references)
    return {"bleu4": bleu4(hypotheses, references),
            "rouge_l": sum(rouge_l(h, r) for h, r in zip(hypotheses, references)) / len(hypotheses),
            "cider_d": sum(ciders) / len(ciders),
            "meteor": met, "meteor_note": None if met is not None else "nltk with WordNet not installed",
            "n": len(hypotheses)}
