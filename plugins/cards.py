"""Registers every model card in the project's model_cards/ folder."""

from aurelia_harness import hookimpl
from aurelia_harness.cards import load_cards
from aurelia_harness.config import PROJECT_ROOT

CARDS_DIR = PROJECT_ROOT / "model_cards"


@hookimpl
def register_model_cards(register):
    for card in load_cards(CARDS_DIR):
        register(card)
