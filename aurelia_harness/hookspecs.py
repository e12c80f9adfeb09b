"""The plugin contract. Each hook hands the plugin a `register` callable; a plugin calls it once per thing.

    from aurelia_harness import hookimpl

    @hookimpl
    def register_model_adapters(register):
        register("my-family", MyAdapter)          # a ModelAdapter subclass (built from a card)

    @hookimpl
    def register_model_cards(register):
        register(ModelCard(name="my-model-7b", adapter="my-family", checkpoint="org/my-model-7b"))

    @hookimpl
    def register_tasks(register):
        register(MyTask())                        # an object with the Task interface (tasks.py)

    @hookimpl
    def register_strategies(register):
        register("my-strategy", MyStrategy)       # a Strategy subclass (strategy.py)

    @hookimpl
    def register_data_tools(register):
        register("my-import", MyTool())           # `avharness data my-import ...`: help, add_arguments, run
"""

import pluggy

hookspec = pluggy.HookspecMarker("avharness")
hookimpl = pluggy.HookimplMarker("avharness")


@hookspec
def register_model_adapters(register):
    """Register model adapter classes: register(name, adapter_class)."""


@hookspec
def register_model_cards(register):
    """Register model cards: register(ModelCard) or register(path_to_card_toml)."""


@hookspec
def register_tasks(register):
    """Register tasks: register(task)."""


@hookspec
def register_strategies(register):
    """Register strategies: register(name, strategy_class)."""


@hookspec
def register_data_tools(register):
    """Register `avharness data NAME` commands: register(name, tool), where tool has `help` (a line),
    `add_arguments(argparse_parser)` and `run(args) -> exit status`."""
