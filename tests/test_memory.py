"""Memory: a card's device_map spreads a model over devices (here CPU and disk, as accelerate would over
GPUs) and it answers as the unsplit model does; a closed adapter lets its model go; the runner releases one
model before it loads the next."""

import gc
import types
import weakref

from aurelia_harness import hookimpl
from aurelia_harness.cards import ModelCard
from aurelia_harness.media import MediaStore
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.types import Message, Request, TextPart, VideoPart

import fakes
from test_runner import TaskPlugin, make, mcq, write_manifest

REGISTRY = discover()


def ask(clip):
    return Request((Message("user", (VideoPart(clip), TextPart("What colour is it?"))),), max_new_tokens=6)


def test_device_map_spreads_the_model_and_it_answers_as_before(clips, tmp_path):
    card = REGISTRY.card("tiny-qwen2.5-vl")
    whole = REGISTRY.adapter(card.adapter)(card, MediaStore(tmp_path / "m"), "cpu")
    whole.load()
    expected = whole.generate([ask(clips["av"])])[0]
    whole.close()

    spread_card = card.with_overrides({"device_map": "auto", "max_memory": {"cpu": "200KB"},
                                       "offload_folder": str(tmp_path / "offload")})
    spread = REGISTRY.adapter(card.adapter)(spread_card, MediaStore(tmp_path / "m"), "cpu")
    spread.load()
    try:
        placed = set(spread.model.hf_device_map.values())
        assert {"cpu", "disk"} <= placed, spread.model.hf_device_map
        reply = spread.generate([ask(clips["av"])])[0]
    finally:
        spread.close()
    assert reply.error is None and expected.error is None
    assert (reply.text, reply.output_tokens) == (expected.text, expected.output_tokens)


def test_a_closed_adapter_lets_its_model_go(tmp_path):
    card = REGISTRY.card("tiny-qwen2-audio")
    adapter = REGISTRY.adapter(card.adapter)(card, MediaStore(tmp_path / "m"), "cpu")
    adapter.load()
    model = weakref.ref(adapter.model)
    adapter.close()
    gc.collect()
    assert model() is None and not adapter.loaded


class Recording(fakes.ScriptedAdapter):
    events: list = []

    def load(self):
        Recording.events.append(f"load {self.card.name}")
        super().load()

    def close(self):
        Recording.events.append(f"close {self.card.name}")
        super().close()


@hookimpl
def register_model_adapters(register):
    register("recording", Recording)


@hookimpl
def register_model_cards(register):
    register(ModelCard(name="rec-a", adapter="recording"))
    register(ModelCard(name="rec-b", adapter="recording"))


def test_the_runner_releases_each_model_before_loading_the_next(tmp_path, clips):
    manifest = write_manifest(tmp_path / "data", clips, [mcq(0), mcq(1)])
    plugin = types.SimpleNamespace(register_model_adapters=register_model_adapters,
                                   register_model_cards=register_model_cards)
    cfg, _ = make(tmp_path, manifest, models=["rec-a", "rec-b"])
    registry = discover(modules=[fakes, TaskPlugin(manifest), plugin])
    Recording.events = []
    result = Runner(cfg, registry, log=lambda m: None).run()
    assert [r["n"] for r in result.results["results"]] == [2, 2]
    assert Recording.events == ["load rec-a", "close rec-a", "load rec-b", "close rec-b"]
