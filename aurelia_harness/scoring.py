"""Answer extraction and metrics.

Multiple choice: find the option the response settles on, or say why there is none. First the response is
trimmed: whatever follows an end-of-turn token, or an invented follow-up question (a new "Question:" or
"Human:" turn, or a question with its own option list), is dropped when the part before it settles the
answer; an echoed copy of the option list, and runs of labels that are not a choice ("A B C D E", a list
running past the last option), are removed. Then, in order of evidence:
1. explicit answer statements ("the answer is B", "Answer: (c)", "I'd go with B", "B is correct", "答案是B")
   and conclusions ("so the match is (B)", "Therefore, D.", "The correct option letter is C", "所以对应的是
   选项B") — the LAST one wins, because reasoning walks through options before it settles; a statement in
   a hypothetical ("if it were louder, the answer would be C") counts only when there is no other, and one
   that merely starts an option-by-option walk ("The answer is (A)..., (B)..., (C)..., (D)...") never;
2. weaker conclusions ("it corresponds to the point labelled A", "which matches option C", "the sounds
   point to C"), when together they name a single letter;
3. a response that opens with a letter token ("B", "(B)", "B.", "B) text");
4. the options' texts: for numeric options, the value a derivation or count arrives at; otherwise the text
   of exactly one option that is not negated ("not a dog barking"), then a short reply that is how one
   option begins, then a close paraphrase of exactly one (determiners, word endings, one small typo);
5. exactly one distinct letter token such as "(B)" or "B)" anywhere;
6. for Yes/No options, a short plain statement: without a negation it affirms, with one it negates.
Nothing is guessed. Several letters in one statement ("A and C", "(B)...和(C)...") are "multiple",
conflicting evidence is "ambiguous", refusals and "none" are "refusal", a stated letter outside the options
is "none"; `Choice.settled` is False for the statuses a judge could still read. A letter is only a letter
when it stands alone: "A dog barks" opens with an article, and an option text that begins like a letter
("A red square", "A:maj7") is matched as that option's text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
UNSETTLED = ("multiple", "ambiguous", "none")  # statuses the rules could not settle: a judge may read these


@dataclass
class Choice:
    letter: str | None
    status: str  # "ok" | "multiple" | "ambiguous" | "refusal" | "none" | "empty"
    how: str = ""  # which rule decided, for traces

    @property
    def settled(self) -> bool:
        """False where the rules found several, conflicting or no candidates (a refusal or an empty
        response is settled: there is no answer to read)."""
        return self.status not in UNSETTLED


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


def _has_cjk(text: str) -> bool:
    return bool(re.search(r"[\u3400-\u9fff]", text))


def _starts_with_phrase(text: str, phrase: str) -> bool:
    """`text` begins with `phrase` as whole words ("12 words" does not begin with "1"; CJK has no spaces)."""
    if not text.startswith(phrase):
        return False
    return len(text) == len(phrase) or not (text[len(phrase)].isascii() and text[len(phrase)].isalnum()
                                            and phrase[-1].isascii() and phrase[-1].isalnum())


# ---- statements --------------------------------------------------------------------------------------

_COPULA = r"(?:is|was|would\s+be|should\s+be|will\s+be|must\s+be|=|->|→|=>|:|：|是|为|应该是)"
_ADVERB = r"(?:(?:actually|probably|likely|definitely|clearly|most\s+likely|indeed)\s+)?"
_FIRM = re.compile(
    r"(?:(?:final\s+answer|correct\s+(?:answer|option|choice|one)|best\s+(?:answer|option|choice)"
    r"|right\s+(?:answer|option|choice)|most\s+(?:likely|accurate|appropriate|plausible)\s+(?:answer|option|choice)"
    r"|the\s+answer|answer|my\s+(?:answer|choice|pick)|final\s+(?:selection|pick|choice|prediction)"
    r"|i(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|opt\s+for|guess|say)"
    r"|答案|正确答案|正确的(?:选项|答案)?|选择|应选|应为|(?:我认为|我觉得)是?|选)"
    r"(?:\s+letter)?(?:\s+(?:here|then|in\s+this\s+case))?"
    r"\s*(?:\((?![A-Z]\))[^()]{0,20}\))?\s*" + _COPULA + "?"  # "(in my view)", not "(A)"
    # a match named as the subject: "the best fit is option C", "the match is (B)", "最符合视频内容的是C"
    r"|(?:the\s+)?(?:best|closest)\s+(?:match|fit)\s+(?:is|would\s+be)|the\s+match\s+is"
    r"|the\s+matching\s+(?:option|one|choice)\s+is|最(?:符合|接近|匹配|合适)[^。，,.\n]{0,12}?的?(?:选项是|是|为))"
    r"\s*[:：]?\s*" + _ADVERB + r"(?:option|choice|letter|选项)?\s*",
    re.I,
)
# a conclusion drawn with a connective; only a letter token may follow ("so a cat meowing can't be" is no answer)
_CONNECTIVE = re.compile(
    r"(?:\b(?:so|therefore|thus|hence|consequently|in\s+conclusion|overall)\b|所以|因此|因而|故|综上所述|综上|总之"
    r"|(?<!\w)(?=it(?:'s|\s+is)\s))"  # or a bare "It's C."
    r"\s*[,，:：]?\s*(?:(?:it(?:'s|\s+is|\s+must\s+be)|that(?:'s|\s+is)|we\s+(?:get|have|choose|pick)"
    r"|i\s+(?:choose|pick)|对应的?是|应该?是|是|为|选)\s*)?(?:option|choice|letter|选项)?\s*",
    re.I,
)
# weaker: "it corresponds to the point labelled A", "which matches option (C)", "the sounds point to C"
_LOOSE = re.compile(
    r"(?:\b(?:it|this|that|which|they|these)\s+(?:most\s+closely\s+|best\s+|clearly\s+|therefore\s+|only\s+)?"
    r"(?:corresponds?|matches|match|fits|refers|aligns|agrees)(?:\s+(?:to|with))?"
    r"|\b(?:matches|corresponds\s+to|fits)\s+(?=(?:option|choice)\b)|\bpoints?\s+to|\b(?:suggests?|indicates?)"
    r"|对应(?:的是|于|的选项是)?)"
    r"\s*(?:the\s+)?(?:(?:option|choice|answer|point|image|picture|clip|frame|item|region|segment|location|photo"
    r"|one)\s+)?(?:(?:labell?ed|marked|named|denoted(?:\s+as)?|shown\s+as)\s+)?(?:option\s+|选项)?",
    re.I,
)
_STRONG_AFTER = re.compile(
    r"(?<![A-Za-z])[(\[]?([A-Z])[)\]]?(?:\s*选项)?\s*(?:is|was|would\s+be|seems)\s+(?:the\s+)?"
    r"(?:correct|right|best|answer|most\s+(?:likely|accurate|appropriate|plausible))(?!\w)|"
    r"(?<![A-Za-z])[(\[]?([A-Z])[)\]]?\s*(?:选项)?\s*(?:是)?(?:正确|对的)"
)
_REFUSAL = re.compile(
    r"(cannot|can't|can not|unable to|not able to|impossible to)\s+(determine|tell|answer|say|identify|decide|"
    r"be determined|access|view|see|watch|hear|listen|process)|not enough (information|context)|"
    r"insufficient information|none of the (above|options|choices)|i'?m sorry|\Asorry\b|as an ai|"
    r"\bi\s+(?:don'?t|do\s+not)\s+know\b|\bno\s+idea\b|"
    r"无法|不能确定|不确定|抱歉",
    re.I,
)
_MULTI = re.compile(r"^[(\[]?([A-Z])[)\]]?\s*(?:,|and|&|/|or|和|、|与|及)\s*[(\[]?([A-Z])[)\]]?(?![A-Za-z])")
# a second choice joined to the first within its clause: "(B)狗叫声和(C)汽车喇叭声", "B or maybe C"
_JOINED = re.compile(
    r"[^,，;；.。!?！？\n]{0,30}?"
    r"(?:\s*(?:和|与|以及|及|还有|或者|或|、|&)|\s+(?i:and|or(?:\s+(?:maybe|possibly|perhaps))?|plus|as\s+well\s+as"
    r"|together\s+with)\s|\s*[,，]\s*(?:还有|以及|(?i:as\s+well\s+as|and\s+also|plus)))"
    r"\s*(?:(?i:(?:the\s+)?option)\s+|选项)?[(\[]?([A-Z])(?:[)\]]|(?![A-Za-z]))"
)
_REJECTED_AFTER = re.compile(
    r"\s*(?:(?i:is|are|was|were|can\s+be|seems?)\s+(?i:not|wrong|incorrect|ruled|unlikely|excluded|eliminated|false)"
    r"|都不|也不|不|错|排除)"
)
# the second letter of "B and C ..." starts a clause of its own ("and C is wrong"), unlike "B and C are both right"
_OWN_CLAUSE = re.compile(
    r"\s*(?:(?i:is|was|seems?|sounds?|can|could|would|has|does)\b"
    r"|(?i:are|were)\s+(?i:not|wrong|incorrect|ruled|unlikely|excluded|eliminated|false|out)\b|都不|也不|不|错|排除)"
)
_STANDALONE = re.compile(r"\s*(?:$|[.,;:!?)\]\n。，]|[—–]|-\s|\s+(?:option|choice)\b)")
_ANSWERS_NONE = re.compile(r"(?i:none|neither)\b|都不|均不")


def _option_at(rest: str, options: list[str]) -> int | None:
    """Index of the option whose text `rest` begins with (ignoring case, punctuation and a leading 'the')."""
    head = _norm_words(rest)
    head_no_the = re.sub(r"^(the|option|choice)\s+", "", head)
    best = None
    for i, option in enumerate(options):
        opt = _norm_words(option)
        if opt and (_starts_with_phrase(head, opt) or _starts_with_phrase(head_no_the, opt)):
            if best is None or len(opt) > len(_norm_words(options[best])):
                best = i  # the longest matching option text wins ("red" vs "red square")
    return best


_LETTER_SHAPE = re.compile(r"[A-Z](?:[^\s\w](?=\w)|(?=\d))")  # "A:" of "A:maj7", "B" of "B3"; not "A b", "Ab"


def _letter_like(rest: str, options: list[str]) -> Choice | None:
    """An option text that begins like a letter ("A:maj7", "B3") where `rest` starts: that option, or a
    'none' when `rest` has the same shape but is no option ("A:min7" is not the letter A)."""
    shape = _LETTER_SHAPE.match(rest)
    if not shape:
        return None
    texts = [o.strip() for o in options]
    shaped = [i for i, t in enumerate(texts) if _LETTER_SHAPE.match(t)]
    matching = [i for i in shaped if rest.lower().startswith(texts[i].lower())
                and not rest[len(texts[i]):len(texts[i]) + 1].isalnum()]
    if matching:
        return Choice(LETTERS[max(matching, key=lambda i: len(texts[i]))], "ok", "option text that looks like a letter")
    if any(texts[i].startswith(shape.group(0)) for i in shaped):
        return Choice(None, "none", "a label shaped like the options, not one of them")
    return None


def _numeric_operand_at(rest: str) -> bool:
    return bool(re.match(r"\s*\d+(?:\.\d+)?\s*[×x*+\-−/÷]\s*\d", rest))


def _letter_at(rest: str, options: list[str], strict_lower: bool = True, letters_only: bool = False) -> Choice | None:
    """Parse what follows an answer marker: a letter token, several letters, an option's text, or 'none'.
    With `letters_only`, only a standalone upper-case letter counts (a conclusion drawn with 'so')."""
    rest = rest.lstrip(" \t:：-—*\"'“")
    n = len(options)
    valid = LETTERS[:n]
    like = _letter_like(rest, options)
    if like is not None:
        return like if like.status == "ok" and not letters_only else None
    multi = _MULTI.match(rest)
    if multi and multi.group(1).upper() in valid and multi.group(2).upper() in valid \
            and multi.group(1).upper() != multi.group(2).upper() and multi.group(1).isupper():
        # after a connective, several letters are usually ruled out ("so B, C and D are out"): no statement
        return None if letters_only else Choice(None, "multiple", "several letters")
    opt = _option_at(rest, options)
    if opt is not None and _numeric_value(options[opt]) is not None and _numeric_operand_at(rest):
        opt = None  # "2 + 3 = 5": the first operand is no answer
    m = re.match(r"[(\[]?([A-Za-z])(?:[)\]]|(?![A-Za-z]))", rest)
    if m:
        letter = m.group(1)
        after = rest[m.end():]
        standalone = bool(_STANDALONE.match(after)) or rest[0] in "(["
        if letter.isupper() and letter in valid:
            joined = _JOINED.match(after)
            if joined and joined.group(1) in valid and joined.group(1) != letter \
                    and not re.search(r"(?i:because|since)|因为|由于", joined.group(0)) \
                    and not _OWN_CLAUSE.match(after[joined.end():]):
                return None if letters_only else Choice(None, "multiple", "several letters joined in one statement")
            if letters_only:
                if standalone and not _REJECTED_AFTER.match(after):
                    return Choice(letter, "ok", "letter after a conclusion")
                return None
            if opt is not None and not standalone and LETTERS[opt] != letter:
                return Choice(LETTERS[opt], "ok", "option text after marker")
            own_text = re.match(r"\s*[-–:]?\s*\S", after) and _option_at(after, [options[valid.index(letter)]]) == 0
            if standalone or own_text:
                return Choice(letter, "ok", "letter after marker")
            if opt is None and not re.match(r"\s+[a-z]", after):
                return Choice(letter, "ok", "letter after marker")
        elif letter.isupper() and standalone and opt is None and not letters_only:
            return Choice(None, "none", "the stated letter is not an option")
        elif letter.islower() and letter.upper() in valid and standalone and not strict_lower \
                and not letters_only and not re.match(r"\s+\w", after):
            return Choice(letter.upper(), "ok", "lower-case letter after marker")
    if letters_only:
        return None
    if opt is not None:
        return Choice(LETTERS[opt], "ok", "option text after marker")
    if _ANSWERS_NONE.match(rest):
        return Choice(None, "refusal", "answers none of the options")
    return None


_HYPOTHETICAL = re.compile(r"(?i:\b(?:if|unless|otherwise)\b)|如果|假如|要是")
_CONDITIONAL = re.compile(r"(?i:\b(?:would|could|might)\b)|就会|会是")
_FORCED = re.compile(r"(?i:\bif\s+(?:i|we)\s+(?:had|have|were|must)\s+to\b|\bif\s+(?:forced|pressed)\b)")


def _sentence_at(text: str, pos: int) -> str:
    starts = [m.end() for m in re.finditer(r"[.!?](?=\s)|[。！？\n]", text[:pos])]
    end = re.search(r"[.!?](?=\s|$)|[。！？\n]", text[pos:])
    return text[starts[-1] if starts else 0:pos + (end.end() if end else len(text) - pos)]


def _hypothetical(text: str, pos: int) -> bool:
    sentence = _sentence_at(text, pos)
    return bool(_HYPOTHETICAL.search(sentence) and _CONDITIONAL.search(sentence) and not _FORCED.search(sentence))


_LABEL = re.compile(r"[(\[]([A-Z])[)\]]|(?<![A-Za-z])([A-Z])(?:[).:](?=\s)|\s+[—–-]\s)")


def _walks_options(tail: str, n: int) -> bool:
    """After a statement's "A": B, C, ... up to the last option labelled in order, and the statement's own
    clause never closed (no full stop, no 'because'): a walk through the options, not a choice."""
    tail = tail.split("\n\n")[0]
    labels = list(_LABEL.finditer(tail))
    order = "".join(m.group(1) or m.group(2) for m in labels)
    if n < 3 or not order.startswith(LETTERS[1:n]):
        return False
    own_clause = tail[:labels[0].start()]
    return not re.search(r"[.!?](?:\s|$)|[。！？]|(?i:\bbecause\b|\bsince\b)|因为|由于", own_clause)


def _statements(text: str, options: list[str]) -> Choice | None:
    """Rules 1 and 2: the last explicit statement or conclusion, else the letter weaker conclusions agree on."""
    n = len(options)
    valid = LETTERS[:n]
    firm: list[tuple[int, Choice, bool]] = []  # (position, choice, only a walk through the options)
    for pattern, letters_only in ((_FIRM, False), (_CONNECTIVE, True)):
        for m in pattern.finditer(text):
            line = text[m.end():m.end() + 300].split("\n")[0]
            choice = _letter_at(line, options, strict_lower=False, letters_only=letters_only)
            if choice:
                walk = False
                if choice.letter == "A":
                    opening = re.match(r"[\s:：\-—*\"'“]*[(\[]?A(?:[)\]]|(?![A-Za-z]))", text[m.end():])
                    walk = bool(opening) and _walks_options(text[m.end() + opening.end():], n)
                firm.append((m.start(), choice, walk))
    for m in _STRONG_AFTER.finditer(text):
        letter = m.group(1) or m.group(2)
        if letter in valid:
            firm.append((m.start(), Choice(letter, "ok", "letter before 'is correct'"), False))
    decisive = [(pos, c) for pos, c, walk in firm if not walk]
    if firm and not decisive:
        return Choice(None, "ambiguous", "the statement only starts a walk through the options")
    if decisive:
        plain = [(pos, c) for pos, c in decisive if not _hypothetical(text, pos)]
        return sorted(plain or decisive, key=lambda item: item[0])[-1][1]
    named, accepted = set(), set()  # any letter a weak conclusion names; those that stand alone
    for m in _LOOSE.finditer(text):
        rest = text[m.end():m.end() + 100].split("\n")[0]
        letter = re.match(r"[(\[]?([A-Z])(?![A-Za-z])", rest)
        if letter and letter.group(1) in valid:
            named.add(letter.group(1))
        if (choice := _letter_at(rest, options, letters_only=True)):
            accepted.add(choice.letter)
    if len(named) == 1 and accepted == named:
        return Choice(named.pop(), "ok", "letter named by a conclusion ('corresponds to', 'points to')")
    return None


# ---- trimming: other turns, echoed options, label runs -------------------------------------------------

_END_OF_TURN = re.compile(
    r"<\|(?:im_end|im_start|endoftext|eot_id|end|user|assistant|start_header_id)\|>|</s>|<s>|\[/?INST\]"
    r"|<(?:end|start)_of_turn>")
_NEW_TURN = re.compile(
    r"^[ \t]*(?:#{1,4}[ \t]*)?(?i:question|q|human|user|instruction|next\s+question|new\s+question)[ \t]*\d*[ \t]*[:：]"
    r"|^[ \t]*(?:问题|题目)[ \t]*\d*[ \t]*[:：]"
    r"|^[^\n]*[?？][ \t]*\n(?:[ \t]*(?i:options?|choices?)[ \t]*[:：]?[ \t]*\n|[ \t]*选项[:：]?[ \t]*\n)?"
    r"[ \t]*[(\[]?A[)\].:：]",
    re.M,
)


def _own_turn(text: str) -> str:
    """The response up to the first end-of-turn token a model printed (what follows is another turn)."""
    while (m := _END_OF_TURN.search(text)):
        if text[:m.start()].strip():
            return text[:m.start()]
        text = text[m.end():]
    return text


_SEPARATORS = re.compile(r"[\s,;|，；]*")
# a label with its text to the end of the line (or the next bracketed label), or a bare label standing alone
_RUN_ITEM = re.compile(r"[ \t]*[(\[]?([A-Z])(?:([)\]][.:：]?|[.:：])((?:(?![(\[][A-Z][)\]])[^\n])*)"
                       r"|(?=[ \t]*(?:\n|$)|[ \t]+[(\[]?[A-Z](?![A-Za-z])))\s*")


# an echoed option ends its line or runs into the next label: "B. a cat meowing\nC. a car horn is not heard"
# explains option C after answering B, it echoes nothing
_ITEM_END = r"(?=[ \t]*[.,;|，；。]?[ \t]*(?:\n|$|[(\[]?[A-Z](?:[)\]][.:：]?|[.:：])))"


def _drop_option_lists(text: str, options: list[str]) -> tuple[str, bool]:
    """Remove echoed option lists (two or more options in a row, each with its label and text) and label
    runs that are not a choice (bare labels "A B C D", or a list running past the last option).
    Returns the rest and whether anything was removed."""
    n = len(options)
    spans = []
    for start in (m.start() for m in re.finditer(r"^", text, re.M)):
        pos, letters, bare = start, [], True
        while (m := _RUN_ITEM.match(text, pos)) and m.end() > pos:
            letter = m.group(1)
            if letters and ord(letter) != ord(letters[-1]) + 1:
                break
            letters.append(letter)
            bare = bare and not (m.group(3) or "").strip()
            pos = m.end()
        if len(letters) >= 2 and (bare or LETTERS.index(letters[-1]) >= n):
            spans.append((start, pos))
    items = [re.compile(r"(?<![A-Za-z])[(\[]?" + LETTERS[i] + r"(?:[)\]][.:：]?|[.:：])[ \t]*"
                        + r"[\W_]*".join(map(re.escape, re.findall(r"\w+", o))) + _ITEM_END, re.I)
             for i, o in enumerate(options) if re.search(r"\w", o)]
    if len(items) == n:
        for i in range(n - 1):
            for m in items[i].finditer(text):
                end, j = m.end(), i + 1
                while j < n and (nxt := items[j].match(text, _SEPARATORS.match(text, end).end())):
                    end, j = nxt.end(), j + 1
                if j - i >= 2:
                    header = re.search(r"(?i:options?|choices?)\s*[:：]\s*$|选项\s*[:：]\s*$", text[:m.start()])
                    spans.append((header.start() if header else m.start(), end))
    if not spans:
        return text, False
    keep, last = [], 0
    for start, end in sorted(spans):
        if start > last:
            keep.append(text[last:start])
        last = max(last, end)
    keep.append(text[last:])
    return "\n".join(keep), True


# ---- option texts ---------------------------------------------------------------------------------------

_NEGATIONS = {"not", "no", "never", "neither", "nor", "t", "cannot", "isnt", "doesnt", "dont", "arent"}
_CJK_NEGATED = re.compile(r"(?:不是|并非|不|没有|没|非)$")


def _negated_before(norm: str, index: int) -> bool:
    before = norm[:index]
    return bool(set(before.split()[-3:]) & _NEGATIONS) or bool(_CJK_NEGATED.search(before.rstrip()))


def _option_mentions(text: str, options: list[str]) -> tuple[list[int], list[int]]:
    """Options whose whole text the response names (CJK texts as substrings): (affirmed, only negated)."""
    norm = f" {_norm_words(text)} "
    affirmed, negated = [], []
    for i, option in enumerate(options):
        opt = _norm_words(option)
        if not opt:
            continue
        needle = opt if _has_cjk(opt) else f" {opt} "
        hits = [m.start() for m in re.finditer(re.escape(needle), norm)]
        if hits:
            (affirmed if any(not _negated_before(norm, h) for h in hits) else negated).append(i)
    # drop options whose text is contained in a longer mentioned option ("red" inside "red square")
    affirmed = [i for i in affirmed if not any(j != i and _norm_words(options[i]) in _norm_words(options[j])
                                               for j in affirmed)]
    return affirmed, negated


# left out when comparing a reply with an option's text: "diving into the water" says "diving into water";
# an auxiliary is not ("A dog is barking loudly" is a description, not the option "a dog barking")
_DETERMINERS = {"a", "an", "the", "its", "his", "her", "their", "this", "that", "some"}


def _stem(word: str) -> str:
    for suffix, keep in (("ing", 3), ("ies", 3), ("es", 3), ("ed", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not word.endswith("ss"):
            word = word[:-len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # "running" -> "run"
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def _one_edit_apart(a: str, b: str) -> bool:
    """Optimal string alignment distance of one: an insertion, deletion, substitution or swap."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _content(text: str) -> list[tuple[str, str, int]]:
    """(stem, word, index among all words) of the words other than determiners."""
    words = _norm_words(text).split()
    return [(_stem(w), w, i) for i, w in enumerate(words) if w not in _DETERMINERS]


def _same_word(a: tuple[str, str, int], b: tuple[str, str, int]) -> tuple[bool, bool]:
    """(same, by a typo) for two content words."""
    if a[0] == b[0]:
        return True, False
    typo = min(len(a[1]), len(b[1])) >= 5 and not (a[1].isdigit() or b[1].isdigit()) \
        and a[1] not in _NUMBER_VALUES and b[1] not in _NUMBER_VALUES and _one_edit_apart(a[1], b[1])
    return typo, typo


def _paraphrased(text: str, options: list[str]) -> tuple[list[int], list[int]]:
    """Options whose words appear in a row in the response, give or take determiners, word endings and one
    small typo: (affirmed, only negated)."""
    words = _norm_words(text).split()
    said = _content(text)
    affirmed, negated = [], []
    for i, option in enumerate(options):
        wanted = _content(option)
        if not wanted or _has_cjk(option):
            continue
        hits = []
        for start in range(len(said) - len(wanted) + 1):
            typos = 0
            for have, want in zip(said[start:start + len(wanted)], wanted, strict=True):
                same, typo = _same_word(have, want)
                typos += typo
                if not same or typos > 1:
                    break
            else:
                hits.append(said[start][2])
        if hits:
            (affirmed if any(not set(words[max(0, h - 3):h]) & _NEGATIONS for h in hits) else negated).append(i)
    return affirmed, negated


# ---- numeric options ---------------------------------------------------------------------------------------

_NUMBER_VALUES = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_VALUES.update({"once": "1", "twice": "2", "thrice": "3"})
_NUMBER = re.compile(r"(?<![A-Za-z0-9.:])(\d+(?:\.\d+)?)(?![\d:])(-?[A-Za-z]+)?|\b(" + "|".join(_NUMBER_VALUES)
                     + r")\b", re.I)
_RESULT_BEFORE = re.compile(
    r"(?:=|\b(?:equals?|makes?|gives?|totals?|total\s+of|total\s+is|count\s+is|comes\s+to|so|thus|therefore|hence"
    r"|that(?:'s|\s+is|\s+makes)|in\s+total|altogether)\b|一共|总共|共|合计|所以|因此)[^.。!?\d=]{0,25}$", re.I)
_RESULT_AFTER = re.compile(r"\s*(?:[^\W\d_]+\s+){0,2}?(?:in\s+total|altogether|in\s+all)\b", re.I)
_EXCLUDED_BEFORE = re.compile(r"(?:\b(?:not|rather\s+than|instead\s+of|except|excluding|other\s+than)|不是)\s*$", re.I)
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|[。！？；\n]")


def _canonical_number(token: str) -> str | None:
    token = token.lower()
    if token in _NUMBER_VALUES:
        return _NUMBER_VALUES[token]
    try:
        return f"{float(token):g}"
    except ValueError:
        return None


def _numeric_value(option: str) -> str | None:
    """The number an option is ("3", "three", "12 seconds", "0.5 s", "3个"), else None."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?|[a-z]+)(?:\s*[^\W\d_][^\d]{0,20})?\s*", option.lower())
    return _canonical_number(m.group(1)) if m else None


def _by_number(text: str, values: list[str]) -> Choice | None:
    """Numeric options: the value a derivation or count arrives at ("2 x 3 = 6", "so together there are
    5"), else the only option value named; operands, negated values ("not 4 or 5"), times, ordinals and
    the length of the clip ("the 10-second clip") do not count."""
    candidates, previous = [], None  # previous: (end, excluded) of the number before
    for m in _NUMBER.finditer(text):
        token, suffix, word = m.group(1), (m.group(2) or "").lower(), m.group(3)
        before, after = text[:m.start()], text[m.end():]
        excluded = bool(_EXCLUDED_BEFORE.search(before)) or bool(
            previous and previous[1] and re.fullmatch(r"\s*(?:,|or|nor|and)\s*", text[previous[0]:m.start()]))
        previous = (m.end(), excluded)
        if excluded or suffix in ("st", "nd", "rd", "th") \
                or re.fullmatch(r"-(?:second|minute|hour|sec|min|frame)s?", suffix):
            continue
        if re.match(r"\s*[×x*+\-−/÷]\s*\d", after) or re.search(r"\d\s*[×x*+\-−/÷]\s*$", before):
            continue  # an operand of a derivation
        pronoun = re.search(r"\b(?:the|this|that|which|no|any|every|each|some|another)\s+$", before, re.I)
        if word and word.lower() == "one" and (pronoun or re.match(r"\s+of\b", after)):
            continue  # "the one on the left"
        value = _canonical_number(token or word)
        if value in values:
            concluded = bool(_RESULT_BEFORE.search(before[-40:]) or _RESULT_AFTER.match(after))
            candidates.append((value, concluded, len(_SENTENCE_END.findall(before))))
    if not candidates:
        return None
    # a conclusion followed by another value in its sentence is a list ("so there are 3 birds and 1 squirrel")
    concluded = [value for k, (value, done, sentence) in enumerate(candidates)
                 if done and not any(later[2] == sentence for later in candidates[k + 1:])]
    if concluded:
        return Choice(LETTERS[values.index(concluded[-1])], "ok", "the value the reasoning arrives at")
    if len({value for value, _, _ in candidates}) == 1:
        return Choice(LETTERS[values.index(candidates[0][0])], "ok", "the only option value named")
    return Choice(None, "ambiguous", "several option values, none concluded")


# ---- Yes / No without the words ---------------------------------------------------------------------------

_YES_NO = (("yes", "no"), ("是", "否"), ("true", "false"), ("对", "错"))
_HEDGE = re.compile(r"\b(?:might|may|maybe|perhaps|possibly|unclear|not\s+sure|hard\s+to\s+say)\b"
                    r"|可能|也许|或许|不确定|不好说", re.I)
# words that negate or restrict without "not": "The man is silent" may answer "Does he speak?" or "Is he quiet?"
_NEGATIVE_WORDS = re.compile(r"\b(?:silent|absent|missing|empty|lacks?|lacking|fails?|stops?|stopped|ceases?|without"
                             r"|only)\b|停止|缺少|缺乏", re.I)
_NEGATION = re.compile(r"\b(?:not|no|nope|nah|never|none|nobody|nothing|neither|nor)\b|n't\b"
                       r"|(?!不断|不停|不少|不错)[不没未]|无(?!论)", re.I)


def _implicit_yes_no(text: str, options: list[str]) -> Choice | None:
    """A short plain statement for Yes/No options: "The nest is larger than a fist" affirms, "There is no
    dog" negates. Hedged, long or doubly negated replies are not read."""
    pair = tuple(_norm_words(o) for o in options)
    if pair not in _YES_NO and pair[::-1] not in _YES_NO:
        return None
    yes = 0 if pair in _YES_NO else 1
    sentences = [s for s in re.split(r"[.!。！]\s*", text) if s.strip()]
    if len(sentences) > 2 or len(text.split()) > 30 or len(text) > 200 or re.search(r"[?？]", text):
        return None
    if _HEDGE.search(text):
        return Choice(None, "ambiguous", "a hedged statement for Yes/No")
    if _NEGATIVE_WORDS.search(text):
        return Choice(None, "ambiguous", "a statement whose words negate, for Yes/No")
    negations = len(_NEGATION.findall(text))
    if negations > 1:
        return Choice(None, "ambiguous", "several negations for Yes/No")
    return Choice(LETTERS[1 - yes if negations else yes], "ok",
                  "a statement that negates" if negations else "a statement that affirms")


# ---- extraction ----------------------------------------------------------------------------------------------

def extract_choice(response: str, options: list[str] | tuple[str, ...]) -> Choice:
    options = list(options)
    text = _own_turn(_clean(response)).strip()
    if not text:
        return Choice(None, "empty", "empty response")
    # an invented follow-up question: what comes before it decides, when it settles anything
    for turn in _NEW_TURN.finditer(text):
        head = text[:turn.start()]
        if re.search(r"\w", head):
            choice = _extract(head, options)
            if choice.status != "none":
                return replace(choice, how=f"{choice.how}, before an invented follow-up question")
    return _extract(text, options)


def _extract(text: str, options: list[str]) -> Choice:
    n = len(options)
    valid = LETTERS[:n]
    text, echoed = _drop_option_lists(text, options)
    text = text.strip()
    if not re.search(r"\w", text):
        return Choice(None, "none", "only the option list, echoed")

    # 1-2. statements and conclusions
    stated = _statements(text, options)
    if stated:
        return stated

    # 3. opens with a letter token
    opening = _letter_at(text, options)
    if opening and opening.how == "the stated letter is not an option":
        opening = None  # "Q: ..." opens a restated question, it states nothing
    if opening and (opening.status != "ok" or opening.how != "option text after marker"):
        if opening.status == "multiple" or opening.how == "option text that looks like a letter" \
                or re.match(r"[(\[]?[A-Z](?:[)\].:,]|\s*$|\s*\n)", text):
            return Choice(opening.letter, opening.status, "opening letter" if opening.letter else opening.how)

    # 4. the options' texts
    refused = bool(_REFUSAL.search(text))
    affirmed, negated = _option_mentions(text, options)
    values = [_numeric_value(o) for o in options]
    if not refused and None not in values:
        by_number = _by_number(text, values)
        if by_number:
            return by_number
    if len(affirmed) == 1 and not refused:
        return Choice(LETTERS[affirmed[0]], "ok", "option text")
    short = _norm_words(text)
    if not affirmed and short and len(short.split()) <= 3:
        # a short reply that is how exactly one option begins ("Yes" for "Yes, each click ...")
        prefixed = [i for i, o in enumerate(options) if f"{_norm_words(o)} ".startswith(f"{short} ")]
        if len(prefixed) == 1:
            return Choice(LETTERS[prefixed[0]], "ok", "beginning of an option")
    if not affirmed and not refused:
        close, close_negated = _paraphrased(text, options)
        if len(close) == 1:
            return Choice(LETTERS[close[0]], "ok", "paraphrase of an option's text")
        if len(close) > 1:
            return Choice(None, "ambiguous", "paraphrases of several options")
        negated = negated or close_negated

    # 5. exactly one distinct standalone letter token
    tokens = set()
    for m in re.finditer(r"[(\[]([A-Z])[)\]]|(?<![A-Za-z(\[])([A-Z])\)|^([A-Z])[.:](?:\s|$)", text, re.M):
        letter = m.group(1) or m.group(2) or m.group(3)
        if letter in valid:
            tokens.add(letter)
    if len(tokens) == 1 and not refused:
        return Choice(tokens.pop(), "ok", "single letter token")
    if refused:
        return Choice(None, "refusal", "refusal")
    pairs = [m for m in re.finditer(r"(?<![A-Za-z])([A-Z])\s*(?:,|or|and|/|&)\s*([A-Z])(?![A-Za-z])", text)
             if m.group(1) in valid and m.group(2) in valid]
    if len(tokens) > 1 or len(affirmed) > 1 or pairs:
        return Choice(None, "multiple", "several candidates, no statement")

    # 6. Yes / No stated without the words
    if not tokens and not affirmed and not negated:
        implicit = _implicit_yes_no(text, options)
        if implicit:
            return implicit
    if negated:
        return Choice(None, "none", "option text only under a negation")
    return Choice(None, "none", "only the option list, echoed" if echoed else "no answer found")


# ---- open short answers ----------------------------------------------------------------------------

_NUMBER_WORDS = {**_NUMBER_VALUES, "none": "0", "no": "0"}  # "no beeps" is a count of 0 in an open answer
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
