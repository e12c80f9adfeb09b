"""Registers every task defined in the project's tasks/ folder (one TOML file per task)."""

from aurelia_harness import hookimpl
from aurelia_harness.config import PROJECT_ROOT, read_toml
from aurelia_harness.tasks import ManifestTask

TASKS_DIR = PROJECT_ROOT / "tasks"


@hookimpl
def register_tasks(register):
    for path in sorted(TASKS_DIR.glob("*.toml")):
        register(ManifestTask(read_toml(path), str(path)))
