"""The report of a large run: page size, build time and memory, and in headless chromium the time until the
sample browser is ready, a filter's latency and the time to open one sample.

    .venv/bin/python benchmarks/bench_report.py [--samples 4500] [--models 19] [--tasks 9] [--keep]

The synthetic run: `--samples` samples spread over `--tasks` tasks, every one answered by `--models` models
with baseline, cot and aurelia (4,500 x 19 x 3 = 256,500 records by default). Prompts, replies and AURELIA
loops have the sizes of real ones (a loop of 2 iterations of reasoner, summarizer and evaluator calls,
about 6 KB, computed once per sample and reused by every model, as the runner does). There is no
results.json, so the report computes the figures from the journal (the heavier path: a run still going).
The media files are named, not made (the page says they are missing; nothing is decoded either way).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness.html_report import SampleFinder, write_report  # noqa: E402

WORDS = ("the red square appears first then a blue circle while a tone of middle pitch plays twice and a voice "
         "counts slowly before the drum stops near the end of the clip").split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def loop(rng: random.Random, question: str, key: str) -> dict:
    iterations = []
    for t in (1, 2):
        steps = [text(rng, 14) for _ in range(4)]
        calls = [{"role": "reasoner", "prompt": f"You are given a video with its audio and a question.\nQuestion: "
                  f"{question}\n" + text(rng, 90), "reply": json.dumps({"steps": steps}), "reask": False},
                 {"role": "summarizer", "prompt": text(rng, 80), "reply": text(rng, 60), "reask": False},
                 {"role": "evaluator", "prompt": text(rng, 50), "reply": f'{{"score": {3 + 4 * (t - 1)}}}',
                  "reask": False}]
        iterations.append({"iteration": t, "feedback": None if t == 1 else {"iteration": 1, "score": 3},
                           "steps": steps, "step_answers": [text(rng, 4) for _ in steps], "final_answer": "B",
                           "reasoning_parse_ok": True, "reasoner_raw": calls[0]["reply"], "caption": calls[1]["reply"],
                           "score": 3 + 4 * (t - 1), "evaluator_raw": calls[2]["reply"], "score_parse_failed": False,
                           "notes": [], "calls": calls})
    return {"step": "aurelia", "key": key, "scores": [3, 7], "chosen": 1, "best_score": 7, "reached_threshold": True,
            "caption": iterations[1]["caption"], "iterations": iterations,
            "settings": {"threshold": 6, "max_iterations": 5},
            "reasoning_usage": {r: {"calls": 2, "input_tokens": 900, "output_tokens": 120, "seconds": 1.5}
                                for r in ("reasoner", "summarizer", "evaluator")}}


def make_run(folder: Path, samples: int, models: int, tasks: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    data = folder / "data"
    run = folder / "run"
    run.mkdir(parents=True)
    per_task = [samples // tasks + (1 if i < samples % tasks else 0) for i in range(tasks)]
    count = 0
    with open(run / "samples.jsonl", "w") as journal:
        for t, n in enumerate(per_task):
            task = f"task-{t}"
            (data / task).mkdir(parents=True)
            items = []
            with open(data / task / "manifest.jsonl", "w") as manifest:
                for i in range(n):
                    question = f"Question {i} of {task}: " + text(rng, 25) + "?"
                    item = {"id": f"{task}-{i}", "question": question, "options": [text(rng, 3) for _ in range(4)],
                            "answer": "ABCD"[i % 4], "category": f"cat-{i % 6}",
                            "media": [{"kind": "video", "path": f"media/{task}-{i}.mp4"}]}
                    manifest.write(json.dumps(item) + "\n")
                    items.append(item)
            for m in range(models):
                model = f"model-{m:02d}"
                for strategy in ("baseline", "cot", "aurelia"):
                    for i, item in enumerate(items):
                        right = rng.random() < 0.4 + 0.02 * m + (0.05 if strategy == "aurelia" else 0)
                        answer = item["answer"] if right else "ABCD"[(i + 1) % 4]
                        prompt = item["question"] + "\n" + "\n".join(item["options"]) + "\nAnswer with the letter."
                        trace = []
                        usage = {"target": {"calls": 1, "input_tokens": 700, "output_tokens": 8, "seconds": 0.4}}
                        if strategy == "aurelia":
                            step = loop(random.Random(f"{task}-{i}"), item["question"], f"loop-{task}-{i}")
                            step["source"] = "computed" if m == 0 else "reasoning.jsonl"
                            trace.append(step)
                            prompt = prompt + "\nReasoning:\n" + "\n".join(step["iterations"][1]["steps"])
                            if m == 0:
                                usage.update(step["reasoning_usage"])
                        reply = (text(rng, 60) + f"\nAnswer: {answer}") if strategy == "cot" else answer
                        trace += [{"step": "answer", "prompt": prompt, "reply": reply},
                                  {"step": "score", "rule": "opening letter"}]
                        error = {"type": "timeout", "message": "no reply in 600 s"} if rng.random() < 0.01 else None
                        record = {"model": model, "task": task, "strategy": strategy, "sample_id": item["id"],
                                  "key": f"{model}|{task}|{strategy}|{item['id']}", "model_hash": f"h{m}",
                                  "strategy_hash": strategy, "prediction": None if error else reply,
                                  "parsed": None if error else answer, "score": None if error else float(right),
                                  "unparseable": False, "error": error, "category": item["category"],
                                  "notes": [], "trace": [] if error else trace, "usage": usage, "seconds": 0.5,
                                  "modality": "av", "metric": "accuracy", "graded": False, "plugins": {},
                                  "schema_version": 1}
                        journal.write(json.dumps(record) + "\n")
                        count += 1
    return count


def measure_browser(page: Path) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--user-data-dir=" + tempfile.mkdtemp(), "--enable-precise-memory-info"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(300)
    driver.set_script_timeout(120)
    try:
        start = time.perf_counter()
        driver.get(page.as_uri())
        loaded = time.perf_counter() - start
        WebDriverWait(driver, 300, poll_frequency=0.02).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        ready = time.perf_counter() - start
        # latencies measured inside the page: from the change to the list (or the detail) being drawn
        filter_ms = driver.execute_async_script("""
            const done = arguments[arguments.length - 1], info = document.getElementById('match-count');
            const before = info.textContent, select = document.getElementById('filter-model'), t = performance.now();
            select.value = '3'; select.dispatchEvent(new Event('change'));
            (function check() { info.textContent !== before ? done(performance.now() - t) : requestAnimationFrame(check); })();
        """)
        open_ms = driver.execute_async_script("""
            const done = arguments[arguments.length - 1], t = performance.now();
            document.querySelector('#sample-list tbody tr:nth-child(3)').click();
            (function check() { document.querySelector('#sample-detail h4') ? done(performance.now() - t) : requestAnimationFrame(check); })();
        """)
        heap = driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
                  and "missing when" not in e["message"]]
    finally:
        driver.quit()
    return {"navigation_s": loaded, "ready_s": ready, "filter_ms": filter_ms, "open_sample_ms": open_ms,
            "js_heap_mb": heap / 1e6 if heap else None, "console_errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4500)
    parser.add_argument("--models", type=int, default=19)
    parser.add_argument("--tasks", type=int, default=9)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic run and its page")
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-report-bench-"))
    try:
        start = time.perf_counter()
        records = make_run(work, args.samples, args.models, args.tasks)
        journal = work / "run" / "samples.jsonl"
        print(f"synthetic run: {records} records, journal {journal.stat().st_size / 1e6:.0f} MB "
              f"({time.perf_counter() - start:.0f} s to write)")
        hints = {f"task-{t}": work / "data" / f"task-{t}" / "manifest.jsonl" for t in range(args.tasks)}
        page = work / "report.html"
        start = time.perf_counter()
        data = write_report([work / "run"], page, SampleFinder(hints))
        built = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"report: {page.stat().st_size / 1e6:.1f} MB page, {len(data.chunks.blobs)} chunks, "
              f"{len(data.chunks.shared_chunk)} shared trace values, built in {built:.1f} s, "
              f"peak memory {peak:.0f} MB")
        if args.browser:
            result = measure_browser(page)
            print(f"chromium: navigation {result['navigation_s']:.2f} s, sample browser ready "
                  f"{result['ready_s']:.2f} s, filter {result['filter_ms']:.0f} ms, open a sample "
                  f"{result['open_sample_ms']:.0f} ms, JS heap {result['js_heap_mb'] or 0:.0f} MB, "
                  f"console errors {len(result['console_errors'])}")
            for message in result["console_errors"][:5]:
                print("  ", message)
    finally:
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
