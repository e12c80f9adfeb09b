"""`avharness report` and `avharness view` without a browser: where the samples come from, the packed records,
escaping, live figures, the command line, and what the viewer refuses (tests/test_report_browser.py drives
the page in chromium)."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import threading
from pathlib import Path

import agents
import fakes
import pytest
from report_run import QUESTION_MARKUP, make_run

from aurelia_harness.cli import build_parser, main
from aurelia_harness.config import RunConfig
from aurelia_harness.html_report import SampleFinder, build, collect, read_records, unpack
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner
from aurelia_harness.viewer import RunSite, make_server, media_token

FAKES = str(Path(__file__).with_name("fakes.py"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("report")
    folder, manifest, registry = make_run(root, clips)
    return {"folder": folder, "manifest": manifest, "registry": registry, "root": root}


def test_samples_are_found_through_the_runs_own_config(tmp_path, clips):
    data = tmp_path / "data"
    (data / "media").mkdir(parents=True)
    shutil.copy(clips["av"], data / "media" / "av.mp4")
    lines = [{"id": f"q{i}", "question": f"Question {i}?", "options": ["red", "blue"], "answer": "A",
              "media": [{"kind": "video", "path": "media/av.mp4"}]} for i in range(3)]
    (data / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    plugin = tmp_path / "my_task.py"
    plugin.write_text(
        "from aurelia_harness import hookimpl\nfrom aurelia_harness.tasks import ManifestTask\n"
        "@hookimpl\ndef register_tasks(register):\n"
        f"    register(ManifestTask({{'name': 'mine', 'answer_form': 'mcq', "
        f"'data': {{'manifest': r'{data / 'manifest.jsonl'}'}}}}))\n")
    config = RunConfig(models=["scripted-a"], tasks=["mine"], strategies=["baseline"], output=tmp_path / "run",
                       progress=False, cache_dir=tmp_path / "cache", plugins=[str(plugin), FAKES])
    Runner(config, discover(config.plugins), log=lambda m: None).run()
    page = collect([tmp_path / "run"], SampleFinder())  # nothing but what results.json says
    source = page.sources[0]
    assert (source.task, source.found, source.missing) == ("mine", 3, 0)
    assert source.how.startswith("the task, loaded as the run loaded it") and "manifest.jsonl" in source.how
    by_id = {s["id"]: s for s in page.samples}
    assert by_id["q2"]["question"] == "Question 2?" and by_id["q2"]["answer"] == "A. red"
    assert by_id["q2"]["media"][0]["path"] == str(data / "media" / "av.mp4") and by_id["q2"]["media"][0]["exists"]


def test_a_data_hint_or_the_aurelia_trace_stands_in_for_a_task_that_cannot_load(run):
    without_task = discover(modules=[agents, fakes])
    page = collect([run["folder"]], SampleFinder(registry=without_task))
    assert page.sources[0].found == 0 and "not registered" in page.sources[0].how
    by_id = {s["id"]: s for s in page.samples}
    assert by_id["s4"]["source"] == "aurelia trace" and by_id["s4"]["question"] == QUESTION_MARKUP
    assert by_id["s4"]["answer"] is None and by_id["s4"]["media"][0]["kind"] == "video"
    assert by_id["s5"]["question"] is None  # its clip was missing: no loop ran, nothing holds the question
    hinted = collect([run["folder"]], SampleFinder({"t-report": run["manifest"].parent}, registry=without_task))
    assert hinted.sources[0].found == 5 and "(--data)" in hinted.sources[0].how
    assert {s["id"]: s for s in hinted.samples}["s5"]["answer"] == "B. blue"


def _blobs(page: str) -> dict[str, str]:
    return dict(re.findall(r'<script type="application/x-avh" id="([^"]+)">([^<]*)</script>', page))


def test_packed_records_round_trip_and_shared_trace_values_are_stored_once(run):
    page, _ = build([run["folder"]], finder=SampleFinder(registry=run["registry"]))
    blobs = _blobs(page)
    index = unpack(blobs["avh-index"])
    chunks = [unpack(blobs[f"avh-chunk-{i}"]) for i in range(index["chunks"])]
    journal = list(read_records(run["folder"]))
    assert len(index["columns"]["loc"]) == len(journal) == 30
    shared_refs = 0
    for loc, original in enumerate(journal):
        rec = dict(chunks[loc // index["chunk_records"]]["records"][loc % index["chunk_records"]])
        for step, name, ident in rec.pop("$shared", []):
            rec["trace"][step][name] = chunks[index["shared_chunk"][ident]]["shared"][str(ident)]
            shared_refs += 1
        assert rec == {k: v for k, v in original.items() if k != "key"}
    # each sample's AURELIA loop is one value that the three models' records share
    assert len(index["shared_chunk"]) < shared_refs
    statuses = [index["statuses"][s] for s in index["columns"]["status"]]
    assert statuses.count("error") == 6 and statuses.count("unparseable") == 8


def _record(model, sample, **extra):
    return {"model": model, "task": "t<b>x</b>", "strategy": "baseline", "sample_id": sample,
            "key": f"{model}|{sample}", "model_hash": "h", "strategy_hash": "s", "prediction": "A", "parsed": "A",
            "score": 1.0, "category": "<i>c</i>", "metric": "accuracy", "graded": False, **extra}


def test_text_from_records_is_escaped_in_the_page(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    records = [_record("<script>alert(1)</script>", f"q{i}") for i in range(3)]
    records += [_record("broken<img src=x onerror=alert(2)>", "q0",
                        error={"type": "load<b>", "message": "<img src=y onerror=alert(3)>"}, score=None)]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    page, data = build([folder], finder=SampleFinder(registry=discover(modules=[])))
    assert data.runs[0].live  # no results.json: figures from the journal, said on the page
    assert "computed from the 4 record(s)" in page
    body = page.split("<body", 1)[1]
    for raw in ("<script>alert", "<b>x</b>", "<img src=x", "<img src=y", "<i>c</i>", "load<b>"):
        assert raw not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;img src=y onerror=alert(3)&gt;" in body
    assert body.count("<script") == 2 + len(data.chunks.blobs) + 1  # index, samples, chunks, the page's own


def test_results_json_is_used_while_it_covers_the_journal(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run["folder"], folder)
    def finder():
        return SampleFinder(registry=run["registry"])

    assert not collect([folder], finder()).runs[0].live
    line = json.loads((folder / "samples.jsonl").read_text().splitlines()[0])
    line["key"] += "|resumed"
    with open(folder / "samples.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n" + '{"torn": ')  # and a torn last line, which is not a record
    again = collect([folder], finder())
    assert again.runs[0].live and again.runs[0].records == 31


def test_report_command(run, tmp_path, capsys):
    out = tmp_path / "page" / "report.html"
    assert main(["report", str(run["folder"]), str(run["folder"]), "--out", str(out),
                 "--data", f"t-report={run['manifest']}"]) == 0
    printed = capsys.readouterr().out
    assert f"{out}: 60 record(s) of 2 run(s)" in printed
    page = out.read_text()
    assert 'id="side-by-side"' in page and "Content-Security-Policy" in page
    assert main(["report", str(run["folder"]), "--data", "no-equals-sign"]) == 2
    assert "expected TASK=MANIFEST" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_media_links_are_relative_to_the_page(run, tmp_path):
    out = tmp_path / "deep" / "er" / "report.html"
    page, _ = build([run["folder"]], out, SampleFinder(registry=run["registry"]))
    urls = {m["name"]: m["url"] for s in unpack(_blobs(page)["avh-samples"]) for m in s["media"]}
    target = (out.parent / urls["av.mp4"]).resolve()
    assert target == (run["manifest"].parent / "media" / "av.mp4").resolve()
    assert "<" not in urls[next(n for n in urls if "<" in n)]  # a name with markup is percent-encoded


@pytest.fixture
def served(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run["folder"], folder)
    (tmp_path / "secret.txt").write_text("outside the run folder")
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    site = RunSite(folder, lambda: SampleFinder(registry=run["registry"]))
    server = make_server(site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, folder, tmp_path
    server.shutdown()
    server.server_close()


def _get(server, path, headers=None):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_viewer_listens_on_localhost_and_serves_only_the_run_and_its_media(served, run):
    server, _, outside = served
    assert server.server_address[0] == "127.0.0.1"
    assert build_parser().parse_args(["view", "somewhere"]).host == "127.0.0.1"
    status, headers, body = _get(server, "/")
    assert status == 200 and b'data-live-version="' in body and headers["Content-Type"].startswith("text/html")
    assert _get(server, "/files/results.json")[0] == 200
    for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/escape.txt", "/files//etc/passwd",
                 "/files/" + str(outside / "secret.txt"), "/files/", "/../secret.txt", "/etc/passwd",
                 f"/media/{media_token(outside / 'secret.txt')}/secret.txt", "/media/nothing/av.mp4"):
        status, _, body = _get(server, path)
        assert status == 404, path
        assert b"outside the run folder" not in body
    clip = (run["manifest"].parent / "media" / "av.mp4").resolve()
    status, headers, body = _get(server, f"/media/{media_token(clip)}/av.mp4")
    assert status == 200 and body == clip.read_bytes() and headers["Content-Type"] == "video/mp4"
    status, headers, body = _get(server, f"/media/{media_token(clip)}/av.mp4", {"Range": "bytes=10-109"})
    assert status == 206 and body == clip.read_bytes()[10:110]
    assert headers["Content-Range"] == f"bytes 10-109/{clip.stat().st_size}"
    assert _get(server, "/", {"Host": "attacker.example:8765"})[0] == 403  # DNS rebinding
    assert _get(server, "/", {"Host": f"localhost:{server.server_address[1]}"})[0] == 200


def test_viewer_version_changes_when_the_journal_grows(served):
    server, folder, _ = served
    before = _get(server, "/api/version")[2]
    with open(folder / "samples.jsonl", "a") as fh:
        fh.write("\n")
    assert _get(server, "/api/version")[2] != before
