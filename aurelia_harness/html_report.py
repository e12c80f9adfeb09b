"""`avharness report RUN [RUN_B ...]`: one self-contained HTML page for one or more run folders (assets inline,
nothing fetched): the results table, plots, and a sample browser with each sample's media, question, answer,
prediction and trace. `avharness view` (viewer.py) serves the same page for a run that is still going.

Where the samples come from. Records carry no question, options, answer or media paths, so the report loads
each task again, the way the run did: the run's results.json names its config (tasks, data_root, cache_dir,
plugins, [task.NAME] settings, and the harness.toml it read, whose tables such as [data.avsynth] are read
again when the file is still there); the tasks are found through the plugin registry and their
`load_samples(config)` gives the samples. `--data TASK=MANIFEST` points a task at a manifest instead (for a
run copied from elsewhere, or one still going, which has no results.json yet). A sample found neither way
falls back on what its AURELIA trace holds (question, options, media; no answer); else it shows its id only.
Each task's source is said on the page.

Size. Everything that comes from records is packed as gzip-compressed JSON, base64 encoded, in inert
<script type="application/x-avh"> blocks: a columnar index of every record (what the filters and the
sample list need) decoded when the page opens, and the records themselves in chunks of CHUNK_RECORDS,
decoded only when a sample is opened. A trace value of SHARE_MIN_CHARS or more that several records hold
(AURELIA's loop, computed once per sample and reused by every model; a baseline prompt that every model got)
is stored once. Base64 also keeps every byte of untrusted text out of the HTML parser: the page's script
puts it into the document as text nodes only.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import html
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from . import compare, report
from .errors import HarnessError
from .types import Record

CHUNK_RECORDS = 200  # records per lazily decoded chunk: one chunk is decoded to open one sample
SHARE_MIN_CHARS = 256  # trace values at least this long are stored once however many records hold them
STATUSES = ("correct", "partial", "wrong", "unparseable", "error")
PARSED_CHARS = 60  # the parsed answer as the sample list shows it
STATIC = Path(__file__).with_name("report_static")
_RECORD_FIELDS = {f.name for f in dataclasses.fields(Record)}


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# ---- reading a run folder ------------------------------------------------------------------------


def journal_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("samples*.jsonl"))


def read_records(folder: Path) -> Iterator[dict]:
    """Every complete record of the folder's journal files, as the JSON it was written as (fields this
    version does not know, such as a media receipt, kept); the first copy of a key wins, as in Journal.read.
    Streams line by line: a journal may hold a quarter of a million records."""
    seen: set[str] = set()
    for path in journal_files(folder):
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n") or not line.strip():
                    continue  # a torn last line: the run redoes it
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in
                                                        ("key", "model", "task", "strategy", "sample_id")):
                    continue
                if rec["key"] in seen:
                    continue
                seen.add(rec["key"])
                yield rec


def read_results(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("results"), list) else None


def status_of(rec: dict) -> str:
    if rec.get("error"):
        return "error"
    if rec.get("unparseable"):
        return "unparseable"
    score = rec.get("score")
    if not isinstance(score, (int, float)) or score <= 0:
        return "wrong"
    return "correct" if score >= 1 else "partial"


def _slim(rec: dict) -> Record:
    """The record without its trace and notes: what the live figures (report.aggregate) need."""
    data = {k: v for k, v in rec.items() if k in _RECORD_FIELDS and k not in ("trace", "notes", "prediction")}
    return Record.from_json(data)


# ---- where the samples come from -----------------------------------------------------------------


def parse_data_hints(values: list[str] | None) -> dict[str, Path]:
    """`--data TASK=MANIFEST` (a manifest file or a dataset folder holding manifest.jsonl)."""
    hints = {}
    for value in values or []:
        task, sep, path = value.partition("=")
        if not sep or not task.strip() or not path.strip():
            raise HarnessError(f"--data {value!r}: expected TASK=MANIFEST, e.g. avsynth-count=data/manifest.jsonl")
        hints[task.strip()] = Path(os.path.expanduser(path.strip()))
    return hints


def _config_from_results(results: dict | None, folder: Path, default=None):
    """The run's RunConfig, rebuilt from results.json's run.config, with the tables of the harness.toml it
    read where that file is still there (results.json keeps the parsed fields, not e.g. [data.avsynth])."""
    from .config import RunConfig, load_config, read_toml

    saved = ((results or {}).get("run") or {}).get("config") or {}
    if not saved:  # no results.json yet: the tasks as `avharness run` with the same --config would load them
        return default if default is not None else load_config(None)
    names = {f.name for f in dataclasses.fields(RunConfig)} - {"tables"}
    values = {k: v for k, v in saved.items() if k in names}
    for key in ("output", "cache_dir", "data_root", "reasoning_file", "config_path"):
        if values.get(key) not in (None, "", "None"):
            values[key] = Path(values[key])
        elif key in values:
            values[key] = None
    if values.get("output") is None:
        values["output"] = Path(folder)
    if values.get("cache_dir") is None:
        values.pop("cache_dir", None)
    config = RunConfig(**values)
    if config.config_path is not None and Path(config.config_path).is_file():
        try:
            config.tables = read_toml(config.config_path)
        except HarnessError:
            pass
    return config


@dataclass
class SampleSource:
    """How one task's samples were found, in words for the page."""

    task: str
    how: str
    found: int = 0
    missing: int = 0


class SampleFinder:
    """Samples by (task, sample id): from `--data` hints, else the run's tasks loaded through the registry,
    else (per sample) what an AURELIA trace holds. `registry` is used as given (tests pass their own);
    otherwise one is discovered with the run config's plugins plus `plugins`."""

    def __init__(self, data_hints: dict[str, Path] | None = None, registry=None, plugins: list[str] | None = None,
                 default_config=None):
        self.hints = dict(data_hints or {})
        self.registry = registry
        self.plugins = list(plugins or [])
        self.default_config = default_config  # for a run with no results.json yet (None: load_config's default)
        self.sources: dict[str, SampleSource] = {}
        self._loaded: dict[str, dict] = {}

    def _registry_for(self, config):
        if self.registry is None:
            from .plugins import discover

            self.registry = discover(list(config.plugins) + self.plugins)
        return self.registry

    def load(self, task_name: str, results: dict | None, folder: Path) -> dict:
        """sample id -> Sample for one task (empty when it cannot be loaded; the reason goes in sources)."""
        if task_name in self._loaded:
            return self._loaded[task_name]
        samples: dict = {}
        if task_name in self.hints:
            from .tasks import read_manifest

            path = self.hints[task_name]
            path = path / "manifest.jsonl" if path.is_dir() else path
            data = read_manifest(path, task_name)
            samples = {s.id: s for s in data.samples}
            how = f"manifest {path} (--data)"
            if not samples:
                how += ": " + "; ".join(p.message for p in data.problems[:3])
        else:
            try:
                config = _config_from_results(results, folder, self.default_config)
                registry = self._registry_for(config)
                task = registry.tasks.get(task_name)
                if task is None:
                    how = "task not registered by the loaded plugins (pass --plugin, or --data TASK=MANIFEST)"
                else:
                    if task_name in config.task_settings:
                        task.configure(config.task_settings[task_name])
                    data = task.load_samples(config)
                    samples = {s.id: s for s in data.samples}
                    where = getattr(task, "manifest_path", None)
                    how = "the task, loaded as the run loaded it"
                    if where is not None:
                        try:
                            how += f" (manifest {where(config)})"
                        except Exception:  # a task plugin's own path logic: the samples are what counts
                            pass
                    if not samples:
                        how += ": no samples: " + "; ".join(p.message for p in data.problems[:3])
            except Exception as exc:  # a task that cannot load now: the page says so and goes on
                how = f"could not load the task ({type(exc).__name__}: {exc})"
        self.sources[task_name] = SampleSource(task_name, how)
        self._loaded[task_name] = samples
        return samples


def _sample_json(sample, media_url: Callable[[Path], str], media: set) -> dict:
    items = []
    for m in sample.media:
        path = Path(m.path)
        media.add(path)
        items.append({"kind": m.kind, "name": path.name, "path": str(path), "role": m.role, "url": media_url(path),
                      "exists": path.is_file()})
    answer = sample.answer
    if sample.options and isinstance(answer, str):
        from .scoring import LETTERS

        if answer in LETTERS[:len(sample.options)]:
            answer = f"{answer}. {sample.options[LETTERS.index(answer)]}"
    return {"question": sample.question, "options": list(sample.options), "answer": answer,
            "reasoning": sample.reasoning, "category": sample.category, "media": items, "source": "task"}


def _sample_from_trace(loop: dict, media_url: Callable[[Path], str], media: set) -> dict:
    items = []
    for m in loop.get("media") or []:
        if isinstance(m, dict) and isinstance(m.get("path"), str) and m.get("kind") in ("video", "audio", "image"):
            path = Path(m["path"])
            media.add(path)
            items.append({"kind": m["kind"], "name": path.name, "path": str(path), "role": str(m.get("role", "")),
                          "url": media_url(path), "exists": path.is_file()})
    return {"question": str(loop.get("query", "")), "options": [str(o) for o in loop.get("options") or []],
            "answer": None, "reasoning": None, "category": "", "media": items, "source": "aurelia trace"}


# ---- packing ---------------------------------------------------------------------------------------


def pack(value) -> str:
    """JSON -> gzip -> base64: what the page's script unpacks (mtime 0: the same input, the same page)."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpack(text: str):
    return json.loads(gzip.decompress(base64.b64decode(text)))


class ChunkWriter:
    """Records in chunks of CHUNK_RECORDS, each packed as soon as it is full; long trace values held by
    several records are stored once, in the chunk of their first appearance, and referenced from the others:
    a record's "$shared" lists [trace step index, field, shared id] (the field itself is null)."""

    def __init__(self, size: int = CHUNK_RECORDS):
        self.size = size
        self.blobs: list[str] = []
        self.shared_chunk: list[int] = []  # shared id -> chunk that stores it
        self._ids: dict[bytes, int] = {}
        self._records: list[dict] = []
        self._shared: dict[str, object] = {}
        self.count = 0

    def add(self, rec: dict) -> int:
        detail = {k: v for k, v in rec.items() if k != "key"}
        trace = rec.get("trace")
        if isinstance(trace, list):
            refs, steps = [], []
            for i, step in enumerate(trace):
                if isinstance(step, dict):
                    step = dict(step)
                    for name, value in step.items():
                        if isinstance(value, (str, list, dict)):
                            ref = self._share(value)
                            if ref is not None:
                                refs.append([i, name, ref])
                                step[name] = None
                steps.append(step)
            detail["trace"] = steps
            if refs:
                detail["$shared"] = refs
        self._records.append(detail)
        self.count += 1
        if len(self._records) == self.size:
            self._flush()
        return self.count - 1

    def _share(self, value) -> int | None:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        if len(text) < SHARE_MIN_CHARS:
            return None
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
        if digest not in self._ids:
            self._ids[digest] = len(self.shared_chunk)
            self.shared_chunk.append(len(self.blobs))
            self._shared[str(self._ids[digest])] = value
        return self._ids[digest]

    def _flush(self) -> None:
        self.blobs.append(pack({"records": self._records, "shared": self._shared}))
        self._records, self._shared = [], {}

    def close(self) -> None:
        if self._records or self._shared:
            self._flush()


def _natural(text: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


# ---- the page's data ---------------------------------------------------------------------------------


@dataclass
class RunView:
    folder: Path
    label: str
    results: dict  # results.json, or the same figures computed from the journal
    live: bool  # figures computed from the journal (no current results.json)
    records: int = 0
    saved: dict | None = None  # results.json as it is, current or not: its run.config says how to load the tasks


@dataclass
class PageData:
    runs: list[RunView]
    index: dict
    chunks: ChunkWriter
    samples: list[dict]
    sources: list[SampleSource]
    loops: list[dict]  # per AURELIA loop (deduplicated by its key): run, task, strategy, scores, threshold
    costs: dict  # (run, model, task, strategy, modality) -> mean agent calls per sample
    media: set = field(default_factory=set)  # every media path the page names


class _Names:
    """Strings to small integers, for the columnar index."""

    def __init__(self):
        self.values: list[str] = []
        self._ids: dict[str, int] = {}

    def __call__(self, value) -> int:
        value = "" if value is None else str(value)
        if value not in self._ids:
            self._ids[value] = len(self.values)
            self.values.append(value)
        return self._ids[value]


def _agent_calls(rec: dict) -> float:
    """A record's agent calls, counting reasoning that was reused at what it cost where it was computed
    (the record's own usage charges reused reasoning nothing)."""
    total, charged = 0.0, False
    for step in rec.get("trace") or []:
        use = step.get("reasoning_usage") if isinstance(step, dict) else None
        if isinstance(use, dict):
            total += sum(float(u.get("calls", 0)) for u in use.values() if isinstance(u, dict))
            charged = True
    if charged:
        return total
    usage = rec.get("usage") or {}
    return sum(float(u.get("calls", 0)) for role, u in usage.items() if role != "target" and isinstance(u, dict))


def _live_results(records: list[Record]) -> dict:
    failed = report.failed_models(records, [])
    names = {f["model"] for f in failed}
    scored = [r for r in records if r.model not in names]
    rows = report.aggregate(scored, set())
    comparisons = [p.to_json() for p in compare.within_run(scored, set())]
    return {"results": rows, "comparisons": comparisons, "failed_models": failed, "live": True}


def _results_current(results: dict, count: int) -> bool:
    """results.json covers every record of the journal (a run still going, or resumed, has more)."""
    described = sum(int(r.get("n", 0)) for r in results.get("results", []))
    described += sum(int(f.get("samples", 0)) for f in results.get("failed_models", []))
    return described == count


def collect(folders: list[Path], finder: SampleFinder | None = None,
            media_url: Callable[[Path], str] | None = None) -> PageData:
    """One pass over every run's journal: the index, the packed records, the loops and costs for the plots;
    then each run's figures (results.json when it is current) and the samples the records name."""
    finder = finder or SampleFinder()
    media_url = media_url or (lambda p: quote(str(p)))
    names = {k: _Names() for k in ("run", "model", "task", "strategy", "modality", "category", "parsed")}
    sample_keys: dict[tuple[str, str], int] = {}
    rows: list[tuple] = []
    chunks = ChunkWriter()
    loops: dict[tuple, dict] = {}
    costs: dict[tuple, list[float]] = defaultdict(list)
    from_trace: dict[tuple[str, str], dict] = {}
    task_run: dict[str, int] = {}
    runs = []
    labels = _labels(folders)
    for run_index, folder in enumerate(folders):
        folder = Path(folder)
        if not folder.is_dir():
            raise HarnessError(f"{folder}: not a folder")
        if not journal_files(folder) and read_results(folder) is None:
            raise HarnessError(f"{folder}: not a run folder (no samples*.jsonl, no results.json)")
        names["run"](labels[run_index])
        slim: list[Record] = []
        for rec in read_records(folder):
            task, sid = rec["task"], rec["sample_id"]
            task_run.setdefault(task, run_index)  # the first run that holds a task: its config loads it
            sample = sample_keys.setdefault((task, sid), len(sample_keys))
            loc = chunks.add(rec)
            score = rec.get("score")
            parsed = rec.get("parsed")
            rows.append((task, _natural(sid), rec["model"], rec["strategy"], run_index, loc, (
                run_index, names["model"](rec["model"]), names["task"](task), names["strategy"](rec["strategy"]),
                names["modality"](rec.get("modality", "av")), names["category"](rec.get("category", "")), sample,
                STATUSES.index(status_of(rec)), round(float(score), 4) if isinstance(score, (int, float)) else None,
                names["parsed"]("" if parsed is None else str(parsed)[:PARSED_CHARS]),
                1 if rec.get("notes") else 0, loc)))
            for step in rec.get("trace") or []:
                if isinstance(step, dict) and isinstance(step.get("iterations"), list):
                    if (task, sid) not in from_trace and step.get("query"):
                        from_trace[(task, sid)] = {k: step.get(k) for k in ("query", "options", "media")}
                    ident = (run_index, step.get("key") or rec["key"])
                    if ident not in loops:
                        settings = step.get("settings") if isinstance(step.get("settings"), dict) else {}
                        loops[ident] = {"run": run_index, "task": task, "strategy": rec["strategy"],
                                        "threshold": settings.get("threshold"),
                                        "scores": [it.get("score") if isinstance(it, dict) else None
                                                   for it in step["iterations"]]}
            costs[(run_index, rec["model"], task, rec["strategy"], rec.get("modality", "av"))].append(
                _agent_calls(rec))
            try:
                slim.append(_slim(rec))
            except (TypeError, ValueError):
                pass
        saved = read_results(folder)
        if saved is not None and _results_current(saved, len(slim)):
            results, live = saved, False
        else:
            results, live = _live_results(slim), True
        runs.append(RunView(folder, labels[run_index], results, live, len(slim), saved))
    chunks.close()
    rows.sort(key=lambda r: r[:5])
    columns = ("run", "model", "task", "strategy", "modality", "category", "sample", "status", "score", "parsed",
               "notes", "loc")
    index = {
        "runs": names["run"].values, "models": names["model"].values, "tasks": names["task"].values,
        "strategies": names["strategy"].values, "modalities": names["modality"].values,
        "categories": names["category"].values, "parsed": names["parsed"].values, "statuses": list(STATUSES),
        "columns": {c: [r[6][i] for r in rows] for i, c in enumerate(columns)},
        "chunk_records": chunks.size, "chunks": len(chunks.blobs), "shared_chunk": chunks.shared_chunk,
    }
    media: set = set()
    samples = [None] * len(sample_keys)
    for (task, sid), i in sample_keys.items():
        run = runs[task_run[task]]
        found = finder.load(task, run.saved, run.folder).get(sid)
        source = finder.sources[task]
        if found is not None:
            samples[i] = {"id": sid, "task": task, **_sample_json(found, media_url, media)}
            source.found += 1
        elif (task, sid) in from_trace:
            samples[i] = {"id": sid, "task": task, **_sample_from_trace(from_trace[(task, sid)], media_url, media)}
            source.missing += 1
        else:
            samples[i] = {"id": sid, "task": task, "question": None, "options": [], "answer": None,
                          "reasoning": None, "category": "", "media": [], "source": None}
            source.missing += 1
    cost_means = {k: sum(v) / len(v) for k, v in costs.items() if v}
    return PageData(runs, index, chunks, samples, list(finder.sources.values()), list(loops.values()),
                    cost_means, media)


def _labels(folders: list[Path]) -> list[str]:
    """Short names for the runs: the folder names, with their parent where two share a name, and a number
    where that is not enough (the same folder twice)."""
    paths = [Path(f) for f in folders]
    names = [p.name or str(p) for p in paths]
    names = [f"{p.parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


# ---- HTML --------------------------------------------------------------------------------------------


def _pct(value, digits: int = 1) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{100 * value:.{digits}f}"


def _num_cell(value, text: str | None = None, title: str = "") -> str:
    sort = "" if not isinstance(value, (int, float)) else f' data-v="{float(value):.6g}"'
    tip = f' title="{esc(title)}"' if title else ""
    return f'<td class="n"{sort}{tip}>{esc(text if text is not None else value)}</td>'


def results_table(runs: list[RunView]) -> str:
    many = len(runs) > 1
    head = (["run"] if many else []) + ["model", "task", "strategy", "modality", "n", "metric", "score", "95% CI",
                                         "paper", "coverage", "errors", "unparseable", "s/sample", "agent calls",
                                         "strategy's own"]
    out = ['<table class="results sortable" id="results"><thead><tr>' +
           "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead><tbody>"]
    for run in runs:
        for r in run.results.get("results", []):
            lo, hi = (r.get("ci95") or [None, None])[:2]
            errors = r.get("error_types") or {}
            agents = (r.get("agents") or {}).get("calls_per_sample")
            own = r.get("strategy_summary") or {}
            own_text = ", ".join(f"{k.replace('_', ' ')} {v:.2f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                                 for k, v in own.items())
            cells = ([f"<td>{esc(run.label)}</td>"] if many else []) + [
                f"<td>{esc(r.get('model'))}</td>", f"<td>{esc(r.get('task'))}</td>",
                f"<td>{esc(r.get('strategy'))}</td>", f"<td>{esc(r.get('modality', 'av'))}</td>",
                _num_cell(r.get("n")), f"<td>{esc(r.get('metric'))}</td>",
                _num_cell(r.get("value"), _pct(r.get("value"))),
                _num_cell(lo, f"{_pct(lo)}–{_pct(hi)}"),
                _num_cell(r.get("paper"), _pct(r.get("paper"))),
                _num_cell(r.get("coverage"), _pct(r.get("coverage"), 0) + "%"),
                _num_cell(r.get("errors"), None, ", ".join(f"{n} {k}" for k, n in sorted(errors.items()))),
                _num_cell(r.get("unparseable")),
                _num_cell(r.get("mean_seconds"), "-" if r.get("mean_seconds") is None else f"{r['mean_seconds']:.2f}"),
                _num_cell(agents, "-" if agents is None else f"{agents:.1f}"),
                f'<td class="own">{esc(own_text)}</td>']
            out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def side_by_side(runs: list[RunView]) -> str:
    """One row per model x task x strategy x modality, a score column per run, and B - A against the first
    run with the paired one-sided test of `avharness compare` (is this run worse than the first?)."""
    if len(runs) < 2:
        return ""
    keys: dict[tuple, dict] = {}
    for i, run in enumerate(runs):
        for r in run.results.get("results", []):
            keys.setdefault((r["model"], r["task"], r["strategy"], r.get("modality", "av")), {})[i] = r
    tests: dict[tuple, dict] = {}
    for i, run in enumerate(runs[1:], start=1):
        try:
            pairs = compare.compare_runs(runs[0].folder, run.folder)
        except HarnessError:
            continue
        for strategy, p in pairs:
            tests[(i, p.model, p.task, strategy, p.modality)] = {"diff": p.diff, "verdict": p.verdict,
                                                                 "p": p.p_adjusted if p.p_adjusted is not None
                                                                 else p.p_value}
    head = ["model", "task", "strategy", "modality"] + [esc(r.label) for r in runs] + \
        [f"{esc(r.label)} − {esc(runs[0].label)}" for r in runs[1:]]
    out = ['<table class="sortable" id="side-by-side"><thead><tr>' +
           "".join(f'<th scope="col">{h}</th>' for h in head) + "</tr></thead><tbody>"]
    for (model, task, strategy, modality), by_run in sorted(keys.items()):
        cells = [f"<td>{esc(model)}</td>", f"<td>{esc(task)}</td>", f"<td>{esc(strategy)}</td>",
                 f"<td>{esc(modality)}</td>"]
        for i in range(len(runs)):
            r = by_run.get(i)
            if r is None:
                cells.append('<td class="n">-</td>')
            else:
                lo, hi = r["ci95"]
                cells.append(_num_cell(r["value"], f"{_pct(r['value'])} ({_pct(lo)}–{_pct(hi)})"))
        for i in range(1, len(runs)):
            t = tests.get((i, model, task, strategy, modality))
            if t is None:
                cells.append('<td class="n">-</td>')
            else:
                p = "" if t["p"] is None else f", p={t['p']:.3g}"
                cells.append(_num_cell(t["diff"], f"{100 * t['diff']:+.1f} ({t['verdict']}{p})"))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def comparisons_table(runs: list[RunView]) -> str:
    many = len(runs) > 1
    entries = [(run, c) for run in runs for c in run.results.get("comparisons", [])]
    if not entries:
        return ""
    head = (["run"] if many else []) + ["model", "task", "strategy", "modality", "n", "baseline", "strategy score",
                                         "difference", "test", "p (adjusted)", "verdict", "paper's relative gain"]
    out = ['<table class="sortable" id="comparisons"><thead><tr>' +
           "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead><tbody>"]
    for run, c in entries:
        p = c.get("p_adjusted") if c.get("p_adjusted") is not None else c.get("p_value")
        test = {"mcnemar_exact": "exact McNemar", "sign_flip": "paired sign-flip"}.get(c.get("test"), c.get("test"))
        verdict = c.get("verdict") or ""
        klass = "better" if verdict.endswith("better") else "worse" if verdict.endswith("worse") else ""
        cells = ([f"<td>{esc(run.label)}</td>"] if many else []) + [
            f"<td>{esc(c.get('model'))}</td>", f"<td>{esc(c.get('task'))}</td>", f"<td>{esc(c.get('b'))}</td>",
            f"<td>{esc(c.get('modality', 'av'))}</td>", _num_cell(c.get("n")),
            _num_cell(c.get("value_a"), _pct(c.get("value_a"))), _num_cell(c.get("value_b"), _pct(c.get("value_b"))),
            _num_cell(c.get("diff"), f"{100 * c['diff']:+.1f}" if isinstance(c.get("diff"), (int, float)) else "-"),
            f"<td>{esc(test)}</td>", _num_cell(p, "-" if p is None else f"{p:.3g}"),
            f'<td class="{klass}">{esc(verdict.replace("B better", "better").replace("B worse", "worse"))}</td>',
            _num_cell(c.get("paper_relative_gain"), "-" if c.get("paper_relative_gain") is None
                      else f"{100 * c['paper_relative_gain']:+.0f}%")]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _notices(data: PageData) -> str:
    """Failed models, pipeline checks, data problems and live figures: HTML, every value escaped."""
    items = []
    for run in data.runs:
        prefix = f"{esc(run.label)}: " if len(data.runs) > 1 else ""
        if run.live:
            items.append(f"{prefix}results.json is absent or does not cover every record of the journal (a run "
                         f"still going, or resumed): the figures below are computed from the {run.records} "
                         "record(s) of the journal, without the paper's numbers and the strategies' own columns.")
        for f in run.results.get("failed_models", []):
            items.append(f"{prefix}<strong>{esc(f.get('model'))} failed</strong>: {esc(f.get('reason'))} — "
                         f"{esc(f.get('type'))}: {esc(f.get('message'))}")
        for name in run.results.get("pipeline_checks", []):
            items.append(f"{prefix}<strong>{esc(name)} is a pipeline check, not a real model</strong>: its scores "
                         "say that the pipeline runs, nothing about a model.")
        for name, scope in run.results.get("model_scopes", {}).items():
            items.append(f"{prefix}<strong>{esc(name)}: {esc(scope)}</strong> (its card's scope): its scores say "
                         "nothing about other data.")
        problems = run.results.get("data_problems") or []
        if problems:
            items.append(f"{prefix}{len(problems)} data problem(s) when the run loaded its tasks (lines skipped), "
                         f"e.g. {esc(problems[0])}")
    return "".join(f"<li>{item}</li>" for item in items)


def _sources(data: PageData) -> str:
    lines = []
    for s in data.sources:
        extra = f"; {s.missing} sample(s) not found there" if s.missing else ""
        lines.append(f"<li><strong>{esc(s.task)}</strong>: {s.found} sample(s) from {esc(s.how)}{esc(extra)}</li>")
    return "".join(lines)


def _run_header(runs: list[RunView]) -> str:
    out = []
    for run in runs:
        info = run.results.get("run") or {}
        versions = info.get("versions") or {}
        bits = [f"{run.records} record(s)"]
        if info.get("commit"):
            bits.append(f"commit {info['commit']}")
        if versions:
            bits.append(", ".join(f"{k} {v}" for k, v in versions.items() if k in ("avharness", "torch",
                                                                                  "transformers", "python") and v))
        if info.get("seconds") is not None:
            bits.append(f"{info['seconds']:.0f} s")
        out.append(f"<li><code>{esc(run.folder)}</code> — {esc('; '.join(bits))}</li>")
    return "".join(out)


def render(data: PageData, plots: list[dict], live: dict | None = None, title: str = "avharness report") -> str:
    css = (STATIC / "report.css").read_text(encoding="utf-8")
    js = (STATIC / "report.js").read_text(encoding="utf-8")
    blobs = [f'<script type="application/x-avh" id="avh-index">{pack(data.index)}</script>',
             f'<script type="application/x-avh" id="avh-samples">{pack(data.samples)}</script>']
    blobs += [f'<script type="application/x-avh" id="avh-chunk-{i}">{b}</script>' for i, b in
              enumerate(data.chunks.blobs)]
    figures = "".join(
        f'<figure class="plot" id="plot-{esc(p["id"])}"><figcaption><strong>{esc(p["title"])}</strong> '
        f'{esc(p["caption"])}</figcaption><img alt="{esc(p["title"])}" src="{p["uri"]}"></figure>'
        for p in plots) or "<p>No plot: the run has no scored rows yet.</p>"
    live_attr = "" if live is None else f' data-live-version="{esc(live["version"])}" data-live-poll="{live["poll_ms"]}"'
    files = "" if live is None else " · ".join(f'<a href="files/{quote(name)}">{esc(name)}</a>'
                                               for name in live.get("files", []))
    # Defence in depth: only this page's own script may run, whatever a record holds.
    script_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; "
           "img-src data: 'self' file:; media-src 'self' file:; connect-src 'self'")
    comparisons = comparisons_table(data.runs)
    sbs = side_by_side(data.runs)
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{esc(title)}</title><link rel="icon" href="data:,"><style>{css}</style></head>
<body{live_attr}>
<header><h1>{esc(title)}</h1><ul class="runs">{_run_header(data.runs)}</ul>
<p class="meta">Made {esc(generated)}{" — live: refreshes while the run goes on. Files: " + files if live else ""}.</p></header>
<ul class="notices">{_notices(data)}</ul>
<section id="results-section"><h2>Results</h2>
<p class="help">Scores are percentages over the samples answered (coverage: their share; errors are counted
apart); unparseable answers count as wrong. 95% CI: Wilson for right/wrong metrics, normal approximation for
graded ones. "paper": the AURELIA paper's figure where the model card carries it. Click a heading to sort.</p>
{results_table(data.runs)}
{"<h3>Runs side by side</h3><p class='help'>Difference against the first run, with the paired one-sided test of <code>avharness compare</code> (is this run worse?), Holm-adjusted.</p>" + sbs if sbs else ""}
{"<h3>Paired with baseline</h3><p class='help'>Same samples, two-sided tests at alpha 0.05, p-values adjusted across the run's rows; samples with an error on either side left out (docs/compare.md).</p>" + comparisons if comparisons else ""}
</section>
<section id="plots-section"><h2>Plots</h2><div class="plots">{figures}</div></section>
<section id="samples-section"><h2>Samples</h2><ul class="sources">{_sources(data)}</ul>
<div id="browser"><p class="loading">Loading the sample index…</p></div></section>
{"".join(blobs)}
<script>{js}</script>
</body></html>
"""


def build(folders: list[Path], out: Path | None = None, finder: SampleFinder | None = None,
          media_url: Callable[[Path], str] | None = None, live: dict | None = None) -> tuple[str, PageData]:
    """The page for these run folders, and what it was made from. Media are linked relative to `out`'s
    folder (a report file), or through `media_url` (the viewer)."""
    from .report_plots import make_plots

    if media_url is None:
        base = Path(out).resolve().parent if out is not None else Path.cwd()

        def media_url(path: Path) -> str:
            return quote(os.path.relpath(Path(path).resolve(), base))
    data = collect([Path(f) for f in folders], finder, media_url)
    title = "avharness report — " + ", ".join(r.label for r in data.runs)
    return render(data, make_plots(data), live, title), data


def write_report(folders: list[Path], out: Path, finder: SampleFinder | None = None) -> PageData:
    page, data = build(folders, out, finder)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return data
