"""Answer extraction and metrics.

Multiple choice: find the option the response settles on, or say why there is none. Order of evidence:
1. explicit answer statements ("the answer is B", "Answer: (c)", "I'd go with B", "B is correct",
   "答案是B") — the LAST one wins, because reasoning walks through options before it settles;
2. a response that opens with a letter token ("B", "(B)", "B.", "B) text");
3. the text of exactly one option;
4. exactly one distinct letter token such as "(B)" or "B)" anywhere.
Several letters in one statement ("A and C") and refusals are unparseable, never a letter; nothing is
guessed. A letter is only a letter when it stands alone: "A dog barks" opens with an article, and an
option text that begins with a capital ("A red square") is matched as that option's text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Choice:
    letter: str | None
    status: str  # "ok" | "multiple" | "refusal" | "none" | "empty"
    how: str = ""  # which rule decided, for traces


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")  # full-width letters and brackets become ASCII
    text = text.replace("【", "[").replace("】", "]")
    text = re.sub(r"(\*\*|__|`+)", "", text)  # markdown emphasis around a letter
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.S | re.I)  # a reasoning model's scratchpad
    return text.strip()


def _norm_words(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


_STRONG_BEFORE = re.compile(
    r"(?:final\s+answer|correct\s+(?:answer|option|choice|one)|best\s+(?:answer|option|choice)"
    r"|right\s+(?:answer|option|choice)|most\s+(?:likely|accurate|appropriate|plausible)\s+(?:answer|option|choice)"
    r"|the\s+answer|answer|my\s+(?:answer|choice|pick)"
    r"|i(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|opt\s+for|guess|say)"
    r"|答案|正确答案|选择|应选|选)"
    r"\s*(?:\((?:[^()]{0,20})\))?\s*(?:is|would\s+be|should\s+be|will\s+be|must\s+be|=|:|：|是|为|应该是)?\s*[:：]?\s*"
    r"(?:(?:actually|probably|likely|definitely|clearly|most\s+likely|indeed)\s+)?(?:option|choice|letter)?\s*",
    re.I,
)
_STRONG_AFTER = re.compile(
    r"(?<![A-Za-z])[(\[]?([A-Z])[)\]]?(?:\s*选项)?\s*(?:is|was|would\s+be|seems)\s+(?:the\s+)?"
    r"(?:correct|right|best|most\s+(?:likely|accurate|appropriate|plausible))(?!\w)|"
    r"(?<![A-Za-z])[(\[]?([A-Z])[)\]]?\s*(?:选项)?\s*(?:是)?(?:正确|对的)"
)
_REFUSAL = re.compile(
    r"(cannot|can't|can not|unable to|not able to|impossible to)\s+(determine|tell|answer|say|identify|decide|"
    r"be determined|access|view|see|watch|hear|process)|not enough (information|context)|insufficient information|"
    r"none of the (above|options|choices)|i'?m sorry|as an ai|无法|不能确定|不确定|抱歉",
    re.I,
)
_MULTI = re.compile(r"^[(\[]?([A-Z])[)\]]?\s*(?:,|and|&|/|or|和|、|与|及)\s*[(\[]?([A-Z])[)\]]?(?![A-Za-z])")


def _option_at(rest: str, options: list[str]) -> int | None:
    """Index of the option whose text `rest` begins with (ignoring case, punctuation and a leading 'the')."""
    head = _norm_words(rest)
    head_no_the = re.sub(r"^(the|option|choice)\s+", "", head)
    best = None
    for i, option in enumerate(options):
        opt = _norm_words(option)
        if opt and (head.startswith(opt) or head_no_the.startswith(opt)):
            if best is None or len(opt) > len(_norm_words(options[best])):
                best = i  # the longest matching option text wins ("red" vs "red square")
    return best


def _letter_at(rest: str, n: int, options: list[str], strict_lower: bool = True) -> Choice | None:
    """Parse what follows an answer marker: a letter token, several letters, or an option's text."""
    rest = rest.lstrip(" \t:：-—*\"'“")
    valid = LETTERS[:n]
    multi = _MULTI.match(rest)
    if multi and multi.group(1).upper() in valid and multi.group(2).upper() in valid \
            and multi.group(1).upper() != multi.group(2).upper() and multi.group(1).isupper():
        return Choice(None, "multiple", "several letters")
    opt = _option_at(rest, options)
    m = re.match(r"[(\[]?([A-Za-z])(?:[)\]]|(?![A-Za-z]))", rest)
    if m:
        letter = m.group(1)
        after = rest[m.end():]
        standalone = bool(re.match(r"\s*(?:$|[.,;:!?)\]\n。，]|\s+(?:option|choice)\b)", after)) \
            or rest[0] in "(["
        if letter.isupper() and letter in valid:
            if opt is not None and not standalone and LETTERS[opt] != letter:
                return Choice(LETTERS[opt], "ok", "option text after marker")
            if standalone or re.match(r"\s*[-–:]?\s*\S", after) and _option_at(after, [options[valid.index(letter)]]) == 0:
                return Choice(letter, "ok", "letter after marker")
            if opt is None and not re.match(r"\s+[a-z]", after):
                return Choice(letter, "ok", "letter after marker")
        elif letter.islower() and letter.upper() in valid and standalone and not strict_lower \
                and not re.match(r"\s+\w", after):
            return Choice(letter.upper(), "ok", "lower-case letter after marker")
    if opt is not None:
        return Choice(LETTERS[opt], "ok", "option text after marker")
    return None


def extract_choice(response: str, options: list[str] | tuple[str, ...]) -> Choice:
    options = list(options)
    n = len(options)
    text = _clean(response)
    if not text:
        return Choice(None, "empty", "empty response")
    valid = LETTERS[:n]

    # 1. explicit statements; the last one decides
    found: list[tuple[int, Choice]] = []
    for m in _STRONG_BEFORE.finditer(text):
        choice = _letter_at(text[m.end():m.end() + 300].split("\n")[0], n, options, strict_lower=False)
        if choice:
            found.append((m.start(), choice))
    for m in _STRONG_AFTER.finditer(text):
        letter = m.group(1) or m.group(2)
        if letter in valid:
            found.append((m.start(), Choice(letter, "ok", "letter before 'is correct'")))
    if found:
        found.sort(key=lambda item: item[0])
        return found[-1][1]

    # 2. opens with a letter token
    opening = _letter_at(text, n, options)
    if opening and (opening.status != "ok" or opening.how != "option text after marker"):
        if opening.status == "multiple" or re.match(r"[(\[]?[A-Z](?:[)\].:,]|\s*$|\s*\n)", text):
            return Choice(opening.letter, opening.status, "opening letter" if opening.letter else opening.how)

    # 3. exactly one option's text
    norm = f" {_norm_words(text)} "
    mentioned = [i for i, o in enumerate(options) if _norm_words(o) and f" {_norm_words(o)} " in norm]
    # drop options whose text is contained in a longer mentioned option ("red" inside "red square")
    mentioned = [i for i in mentioned if not any(j != i and _norm_words(options[i]) in _norm_words(options[j])
                                                 for j in mentioned)]
    if len(mentioned) == 1 and not _REFUSAL.search(text):
        return Choice(LETTERS[mentioned[0]], "ok", "option text")
    # a short reply that is how exactly one option begins ("Yes" for "Yes, each click ...")
    short = _norm_words(text)
    if short and len(short.split()) <= 3:
        prefixed = [i for i, o in enumerate(options) if f"{_norm_words(o)} ".startswith(f"{short} ")]
        if len(prefixed) == 1:
            return Choice(LETTERS[prefixed[0]], "ok", "beginning of an option")

    # 4. exactly one distinct standalone letter token
    tokens = set()
    for m in re.finditer(r"[(\[]([A-Z])[)\]]|(?<![A-Za-z(\[])([A-Z])\)|^([A-Z])[.:](?:\s|$)", text, re.M):
        letter = m.group(1) or m.group(2) or m.group(3)
        if letter in valid:
            tokens.add(letter)
    if len(tokens) == 1 and not _REFUSAL.search(text):
        return Choice(tokens.pop(), "ok", "single letter token")
    if _REFUSAL.search(text):
        return Choice(None, "refusal", "refusal")
    pairs = [m for m in re.finditer(r"(?<![A-Za-z])([A-Z])\s*(?:,|or|and|/|&)\s*([A-Z])(?![A-Za-z])", text)
             if m.group(1) in valid and m.group(2) in valid]
    if len(tokens) > 1 or len(mentioned) > 1 or pairs:
        return Choice(None, "multiple", "several candidates, no statement")
    return Choice(None, "none", "no answer found")


# ---- open short answers ----------------------------------------------------------------------------

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"none": "0", "no": "0", "once": "1", "twice": "2", "thrice": "3"})
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text, synonyms: dict[str, str] | None = None) -> str:
    """Lower case, no punctuation, underscores or articles, number words as digits, and each synonym phrase
    (whole words; the longest first, in one pass) written as its canonical form."""
    words = _norm_words(str(text).replace("_", " ")).split()
    out = " ".join(_NUMBER_WORDS.get(w, w) for w in words if w not in _ARTICLES)
    if synonyms:
        table = {normalize_answer(k): normalize_answer(v) for k, v in synonyms.items()}
        variants = sorted((k for k in table if k), key=len, reverse=True)
        if variants:
            pattern = re.compile(r"(?<!\S)(" + "|".join(re.escape(v) for v in variants) + r")(?!\S)")
            out = pattern.sub(lambda m: table[m.group(1)], out)
    return out


_ANSWER_MARK = re.compile(r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|：)\s*", re.I)


def final_statement(response: str) -> str:
    """The text after the last "Answer:" marker (a reasoning strategy's conclusion), else all of it."""
    text = _clean(response)
    marks = list(_ANSWER_MARK.finditer(text))
    return (text[marks[-1].end():].split("\n")[0] if marks else text).strip()


def match_short_answer(response: str, answer, synonyms: dict[str, str] | None = None) -> tuple[bool, str, bool]:
    """(correct, parsed, unparseable). Exact match after normalisation, else the answer as a whole phrase in
    the final statement; for numeric answers, the statement must name exactly one number."""
    final = final_statement(response)
    if not final:
        return False, "", True
    pred = normalize_answer(final, synonyms)
    gold = normalize_answer(answer, synonyms)
    if not pred:
        return False, "", True
    if pred == gold:
        return True, pred, False
    if gold.isdigit():
        # "no beeps" in a longer sentence is not a count: only digits and number words count here
        numbers = [w for w in pred.split() if w.isdigit()]
        if not numbers:
            return False, pred, True
        return len(set(numbers)) == 1 and numbers[0] == gold, numbers[-1], False
    return f" {gold} " in f" {pred} ", pred, False


def keyword_recall(response: str, keywords: list[str]) -> float:
    """Share of the keywords (whole words, normalised) that the response names."""
    if not keywords:
        return 0.0
    text = f" {normalize_answer(response)} "
    return sum(f" {normalize_answer(k)} " in text for k in keywords) / len(keywords)


# ---- intervals -------------------------------------------------------------------------------------

def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: list[float], z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation interval of a mean (graded metrics)."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    mean = sum(values) / n
    if n == 1:
        return (mean, mean)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return (mean - half, mean + half)
