import json
from collections import defaultdict
from pathlib import Path

import pytest

from aurelia_harness.scoring import (
    UNSETTLED,
    Choice,
    extract_choice,
    keyword_recall,
    match_short_answer,
    mean_interval,
    normalize_answer,
    wilson_interval,
)

ANIMALS = ["a dog barking", "a cat meowing", "a car horn", "rain falling"]
SHAPES = ["A red square", "A blue circle", "The green triangle"]  # option texts that begin like letters
CLIPS = ["Clip 1", "Clip 2", "Clip 3", "Clip 4"]
SYNC = ["Yes, each click sounds when the square flashes", "No, the clicks fall between the flashes"]

CASES = [
    ("B", ANIMALS, "B"), ("(B)", ANIMALS, "B"), ("B.", ANIMALS, "B"), ("**B**", ANIMALS, "B"),
    ("B) a cat meowing", ANIMALS, "B"), ("The answer is B) a cat meowing", ANIMALS, "B"),
    ("Answer: b", ANIMALS, "B"), ("a cat meowing", ANIMALS, "B"), ("B. A cat is meowing in the video", ANIMALS, "B"),
    ("（Ｂ）", ANIMALS, "B"), ("【D】", ANIMALS, "D"), ("答案是C", ANIMALS, "C"), ("选B", ANIMALS, "B"),
    ("答案：D. rain falling", ANIMALS, "D"), ("I think it's (C).", ANIMALS, "C"), ("C is correct.", ANIMALS, "C"),
    ("After careful analysis, I would choose option D.", ANIMALS, "D"), ("I'd go with C.", ANIMALS, "C"),
    ("The best answer is: A", ANIMALS, "A"), ("The correct option is \"C\".", ANIMALS, "C"),
    ("The video shows a cat. Final Answer: (B)", ANIMALS, "B"), ("The answer is a cat meowing.", ANIMALS, "B"),
    ("Answer: B\nExplanation: option A is wrong since no dog appears.", ANIMALS, "B"),
    ("Let's look at the options. A) a dog barking - no dog is visible. B) a cat meowing - there is a cat. "
     "C) a car horn - no. D) no rain. So the answer is B.", ANIMALS, "B"),
    ("Option A is wrong because there is no dog. Option C is wrong too. The correct answer is D.", ANIMALS, "D"),
    ("Initially I thought A, but the answer is actually C.", ANIMALS, "C"),
    ("A is incorrect; B is correct.", ANIMALS, "B"), ("<think>maybe A</think>B", ANIMALS, "B"),
    # an option text that opens with a capital letter or the article "A"
    ("A blue circle", SHAPES, "B"), ("The answer is A blue circle.", SHAPES, "B"), ("A", SHAPES, "A"),
    ("A. A red square", SHAPES, "A"), ("The green triangle is shown.", SHAPES, "C"),
    ("Clip 3", CLIPS, "C"), ("The matching clip is Clip 2.", CLIPS, "B"),
    ("Yes", SYNC, "A"), ("No, the clicks fall between the flashes", SYNC, "B"),
    ("The correct answer is: **B. a cat meowing**", ANIMALS, "B"), ("Answer: The answer is C", ANIMALS, "C"),
    ("I think the answer is B, because of the purring. However, considering the rhythm, the answer should be D.",
     ANIMALS, "D"),
    ("Based on the video, option B (a cat meowing) is the most likely.", ANIMALS, "B"),
    ("我认为答案是 B。", ANIMALS, "B"), ("选项C正确", ANIMALS, "C"), ("(A) is wrong, (B) is wrong, (C) is right", ANIMALS, "C"),
    ("Answer: A. However, upon reflection, the answer is B.", ANIMALS, "B"), ("D) rain falling", ANIMALS, "D"),
    ("Option (B)", ANIMALS, "B"), ("B: a cat meowing", ANIMALS, "B"), ("The sound is clearly a car horn.", ANIMALS, "C"),
    ("Answer: [C]", ANIMALS, "C"), ("答案：B", ANIMALS, "B"), ("ANSWER: d", ANIMALS, "D"),
    ("Final answer: B) a cat meowing.", ANIMALS, "B"), ("My answer: C.", ANIMALS, "C"),
    ("The best option is D: rain falling", ANIMALS, "D"), ("I'm not sure, but I would guess B.", ANIMALS, "B"),
    ("The answer is (A) a dog barking", ANIMALS, "A"), ("Among the options, A seems plausible but B is correct.", ANIMALS, "B"),
    ("Answer is B", ANIMALS, "B"), ("answer b", ANIMALS, "B"),
]

NOT_A_LETTER = [
    ("I cannot determine the answer from the video.", ANIMALS, "refusal"),
    ("Sorry, I can't watch videos.", ANIMALS, "refusal"),
    ("A and C", ANIMALS, "multiple"), ("The answer is A or C.", ANIMALS, "multiple"),
    ("It is either B or D.", ANIMALS, "multiple"),
    ("A dog is barking loudly in the scene.", ANIMALS, "none"),  # an article, not the letter A
    ("E", ANIMALS, "none"), ("The answer is E.", ANIMALS, "none"), ("", ANIMALS, "empty"),
    ("The answer is not A.", ANIMALS, "none"), ("Both A and C are possible.", ANIMALS, "multiple"),
]


@pytest.mark.parametrize("text,options,letter", CASES)
def test_extracts_the_letter_the_response_settles_on(text, options, letter):
    assert extract_choice(text, options).letter == letter


@pytest.mark.parametrize("text,options,status", NOT_A_LETTER)
def test_refusals_and_several_choices_never_become_a_letter(text, options, status):
    choice = extract_choice(text, options)
    assert choice.letter is None
    assert choice.status == status


# Our own examples of the kinds of response the extractor used to misread (and guards around them): the
# spec of extract_choice. Each line: response, options, expected letter or null, and for null the status.
EXTRACTION_CASES = [json.loads(line) for line in
                    (Path(__file__).parent / "data" / "extraction_cases.jsonl").read_text().splitlines() if line]
KINDS = sorted({case["kind"] for case in EXTRACTION_CASES})


def _reads_as_expected(case) -> bool:
    choice = extract_choice(case["response"], case["options"])
    if case["expected"] is None:
        return choice.letter is None and choice.status == case["status"]
    return choice.letter == case["expected"] and choice.status == "ok"


def test_case_file_covers_each_kind_of_miss():
    counts = defaultdict(int)
    for case in EXTRACTION_CASES:
        counts[case["kind"]] += 1
        assert case["expected"] is None or case["expected"] in "ABCDEFGH"[:len(case["options"])]
        assert case["expected"] is not None or case["status"] in UNSETTLED + ("refusal",)
    assert set(counts) == {"conclusion", "last_statement", "echo_garbled", "text_only", "numbers", "letter_like",
                           "multiple", "abstain"}
    assert min(counts.values()) >= 8


@pytest.mark.parametrize("kind", KINDS)
def test_accuracy_per_kind_of_response(kind):
    cases = [case for case in EXTRACTION_CASES if case["kind"] == kind]
    misses = [(case["response"][:80], extract_choice(case["response"], case["options"]))
              for case in cases if not _reads_as_expected(case)]
    accuracy = 1 - len(misses) / len(cases)
    assert not misses, f"{kind}: {accuracy:.0%} of {len(cases)} read as expected; misses: {misses}"


def test_whole_case_file_reads_as_expected():
    right = sum(_reads_as_expected(case) for case in EXTRACTION_CASES)
    assert right == len(EXTRACTION_CASES), f"{right}/{len(EXTRACTION_CASES)}"


def test_no_letter_for_refusals_or_none_in_the_case_file():
    for case in EXTRACTION_CASES:
        choice = extract_choice(case["response"], case["options"])
        if choice.status != "ok":
            assert choice.letter is None, case
        if choice.status in ("refusal", "empty"):
            assert choice.settled
        else:
            assert choice.settled is (choice.status == "ok")


def test_unsettled_statuses_say_why():
    walk = extract_choice("The answer is (A) - loud, (B) - soft, (C) - none, (D) - faint.", ["w", "x", "y", "z"])
    assert (walk.letter, walk.status, walk.settled) == (None, "ambiguous", False)
    assert "walk" in walk.how
    assert extract_choice("There are 3 dogs and 2 cats.", ["2", "3", "4"]).status == "ambiguous"
    assert extract_choice("Answer: B or maybe C.", ANIMALS).status == "multiple"
    assert extract_choice("a dog barking a cat meowing a car horn rain falling", ANIMALS).settled is False
    assert Choice("B", "ok").settled and Choice(None, "refusal").settled and not Choice(None, "none").settled


def test_follow_up_question_is_cut_only_when_the_part_before_settles():
    restated = "Question: Which sound is heard?\nA. a dog barking\nB. a cat meowing\nAnswer: B"
    assert extract_choice(restated, ANIMALS).letter == "B"
    invented = "Answer: D\n\nQuestion: Which sound is heard next?\nA. a whistle\nB. a bell\nAnswer: A"
    choice = extract_choice(invented, ANIMALS)
    assert choice.letter == "D" and "follow-up" in choice.how


def test_paraphrase_needs_the_option_phrase_not_just_its_words():
    # an auxiliary inside the phrase makes a description, not the option; determiners and endings do not
    assert extract_choice("A dog is barking loudly.", ANIMALS).letter is None
    assert extract_choice("I hear the rain falling.", ANIMALS).letter == "D"
    assert extract_choice("the cats meowing", ANIMALS).letter == "B"
    assert extract_choice("It is not a cat meowing.", ANIMALS).status == "none"


def test_normalisation_of_short_answers():
    assert normalize_answer("Three.") == normalize_answer("3") == "3"
    assert normalize_answer("The Piano!") == "piano"
    assert normalize_answer("An  apple") == "apple"
    assert normalize_answer("cello", {"cello": "violoncello"}) == "violoncello"


@pytest.mark.parametrize("response,answer,correct", [
    ("three", "3", True), ("There are 3 beeps.", "3", True), ("Answer: two", "2", True),
    ("I count 2 or 3 beeps", "3", False), ("4", "3", False), ("The piano.", "piano", True),
    ("a grand piano", "piano", True), ("guitar", "piano", False),
    ("Let me think. I hear 5 beeps in total but 2 while red.\nAnswer: 2", "2", True),
])
def test_short_answer_matching(response, answer, correct):
    assert match_short_answer(response, answer)[0] is correct


def test_short_answer_unparseable_is_apart_from_wrong():
    assert match_short_answer("", "3") == (False, "", True)
    assert match_short_answer("I am not sure", "3")[2] is True
    assert match_short_answer("4", "3")[2] is False


def test_keyword_recall():
    assert keyword_recall("A red screen with a low hum", ["red", "low"]) == 1.0
    assert keyword_recall("A reddish screen", ["red", "low"]) == 0.0
    assert keyword_recall("The screen is red.", ["red", "low"]) == 0.5


def test_intervals():
    lo, hi = wilson_interval(5, 10)
    assert 0.2 < lo < 0.5 < hi < 0.8
    assert wilson_interval(0, 4)[0] == 0.0 and wilson_interval(0, 4)[1] > 0.4
    assert wilson_interval(0, 0) == (0.0, 0.0)
    lo, hi = mean_interval([0.5, 0.5, 0.5])
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
