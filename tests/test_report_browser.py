"""The report and the viewer in a real headless browser: Debian's chromium driven by chromium-driver through
selenium. Without them these tests fail (CI installs them: docs/report.md). Set AVHARNESS_REPORT_SCREENSHOT
to a folder to keep the screenshots (docs/report.png and docs/report-results.png are made so)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from report_run import FILE_MARKUP, PREDICTION_MARKUP, QUESTION_MARKUP, make_run

from aurelia_harness.html_report import SampleFinder, write_report
from aurelia_harness.viewer import RunSite, make_server

BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1800")


@pytest.fixture(scope="module")
def run(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("report")
    folder, _, registry = make_run(root, clips)
    page = root / "out" / "report.html"
    write_report([folder], page, SampleFinder(registry=registry))
    return {"folder": folder, "registry": registry, "page": page, "root": root}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: "
                    "apt-get install -y chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser tests need selenium: pip install selenium")
    options = webdriver.ChromeOptions()
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + tempfile.mkdtemp(dir=tmp_path_factory.mktemp("chromium")))
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=10.0, what="condition"):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a page that redraws (a live run's reload) can replace an element between finding and reading it: look again
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: condition(d), message=what)


def load(driver, url):
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1", what="the browser ready")
    driver.get_log("browser")  # what an earlier test left: each test reads its own page's messages


def severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def list_rows(driver) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#sample-list tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent))")


def choose(driver, name, text):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", f"filter-{name}")).select_by_visible_text(text)


def open_record(driver, sample, model, strategy):
    """Filter the list down to one record with the page's own controls, then open it."""
    box = driver.find_element("id", "filter-id")
    box.clear()
    box.send_keys(sample)
    choose(driver, "model", model)
    choose(driver, "strategy", strategy)
    wait(driver, lambda d: len(list_rows(d)) == 1 and list_rows(d)[0][0] == sample, what="one matching row")
    driver.find_element("css selector", "#sample-list tbody tr").click()
    wait(driver, lambda d: d.execute_script("return !!document.querySelector('#sample-detail h4')"), what="detail")
    return driver.find_element("id", "sample-detail")


def test_page_loads_without_console_errors_with_table_and_plots(run, browser):
    load(browser, run["page"].as_uri())
    rows = browser.find_elements("css selector", "#results tbody tr")
    assert len(rows) == 6  # 3 models x 2 strategies
    assert "markup-target" in rows[0].text or any("markup-target" in r.text for r in rows)
    plots = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.plot img')).map(i => [i.closest('figure').id, "
        "i.complete && i.naturalWidth > 100 && i.naturalHeight > 100])")
    ids = {p[0] for p in plots}
    assert {"plot-accuracy", "plot-paired", "plot-cost", "plot-critic", "plot-categories"} <= ids
    assert all(ok for _, ok in plots)
    assert len(list_rows(browser)) == 30  # every record: 3 models x 2 strategies x 5 samples, one page
    # the table sorts by a column when its heading is clicked
    heading = browser.find_element("xpath", "//table[@id='results']//th[text()='model']")
    heading.click()
    models = [r.find_elements("tag name", "td")[0].text for r in browser.find_elements("css selector", "#results tbody tr")]
    assert models == sorted(models)
    heading.click()
    models = [r.find_elements("tag name", "td")[0].text for r in browser.find_elements("css selector", "#results tbody tr")]
    assert models == sorted(models, reverse=True)
    assert severe(browser) == []


def test_filters_change_what_is_shown(run, browser):
    load(browser, run["page"].as_uri())
    everything = list_rows(browser)
    choose(browser, "model", "target-1")
    wait(browser, lambda d: len(list_rows(d)) == 10, what="target-1's 10 records")
    assert {row[2] for row in list_rows(browser)} == {"target-1"}
    for status in ("correct", "wrong", "partial", "unparseable"):
        browser.find_element("id", f"status-{status}").click()
    wait(browser, lambda d: len(list_rows(d)) == 2, what="target-1's errors only")
    assert {(row[0], row[4]) for row in list_rows(browser)} == {("s5", "error")}
    choose(browser, "model", "all (3)")
    wait(browser, lambda d: len(list_rows(d)) == 6, what="every model's errors")
    browser.find_element("id", "status-error").click()
    browser.find_element("id", "status-correct").click()
    wait(browser, lambda d: {row[4] for row in list_rows(d)} == {"correct"}, what="correct answers only")
    assert 0 < len(list_rows(browser)) < len(everything)
    browser.find_element("id", "status-correct").click()
    for status in ("wrong", "error", "correct", "partial", "unparseable"):
        browser.find_element("id", f"status-{status}").click()
    browser.find_element("id", "filter-notes").click()
    wait(browser, lambda d: len(list_rows(d)) == 2, what="records with notes")
    assert {(row[0], row[2]) for row in list_rows(browser)} == {("s2", "scripted-a")}  # "no audio track" notes
    assert severe(browser) == []


def test_video_and_audio_have_playable_sources(run, browser):
    load(browser, run["page"].as_uri())
    detail = open_record(browser, "s1", "target-1", "baseline")
    wait(browser, lambda d: d.execute_script(
        "const v = document.querySelector('#sample-detail video'); return v && v.readyState >= 1 && v.duration > 1"),
        what="the video's metadata")
    assert browser.execute_script("return document.querySelector('#sample-detail video').currentSrc").endswith("av.mp4")
    assert "Which colour comes first?" in detail.text and "red" in detail.text
    open_record(browser, "s3", "target-1", "baseline")
    wait(browser, lambda d: d.execute_script(
        "const a = document.querySelector('#sample-detail audio'); return a && a.readyState >= 1 && a.duration > 1"),
        what="the audio's metadata")
    open_record(browser, "s5", "target-1", "baseline")  # its clip is missing: said, not played
    assert "missing when the report was made" in browser.find_element("id", "sample-detail").text
    assert severe(browser) == []


def test_aurelia_iterations_captions_scores_and_prompts_are_shown(run, browser):
    load(browser, run["page"].as_uri())
    detail = open_record(browser, "s1", "target-1", "aurelia")
    text = detail.text
    assert "2 iteration(s), critic's scores 3, 7" in text
    assert "iteration 2: score 7 (chosen)" in text and "iteration 1: score 3" in text
    assert "CAPTION[Which colour comes first?] from 2 steps" in text  # the chosen iteration is open
    assert "the target's call" in text
    browser.execute_script("document.querySelectorAll('#sample-detail details').forEach(d => d.open = true)")
    text = detail.text
    assert "reasoner" in text and "summarizer" in text and "evaluator" in text
    assert "Work towards the answer step by step" in text  # the reasoner's prompt
    assert "received a score of 3 out of 10" in text  # the feedback prompt of iteration 2
    browser.find_element("id", "filter-id").clear()  # the list shows every record again; the detail stays
    browser.find_element("id", "filter-id").send_keys(" \b")
    choose(browser, "model", "all (3)")
    choose(browser, "strategy", "all (2)")
    wait(browser, lambda d: len(list_rows(d)) == 30, what="every record listed")
    browser.execute_script("document.querySelectorAll('#sample-detail details.call').forEach(d => d.open = false);"
                           "document.getElementById('samples-section').scrollIntoView()")
    shots = {"report.png": run["root"] / "report.png", "report-results.png": run["root"] / "report-results.png"}
    browser.save_screenshot(str(shots["report.png"]))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(shots["report-results.png"]))
    for name, shot in shots.items():
        assert shot.stat().st_size > 50_000
        if os.environ.get("AVHARNESS_REPORT_SCREENSHOT"):  # a folder: docs/ keeps them
            shutil.copy(shot, Path(os.environ["AVHARNESS_REPORT_SCREENSHOT"]) / name)
    assert severe(browser) == []


def test_markup_in_predictions_questions_and_file_names_is_shown_as_text(run, browser):
    load(browser, run["page"].as_uri())
    detail = open_record(browser, "s4", "markup-target", "aurelia")
    browser.execute_script("document.querySelectorAll('#sample-detail details').forEach(d => d.open = true)")
    text = detail.get_attribute("textContent")
    assert QUESTION_MARKUP in text  # the question, and the prompts that quote it
    assert PREDICTION_MARKUP in text
    assert FILE_MARKUP in text
    assert browser.execute_script("return window.__xss") is None
    injected = browser.execute_script(
        "return document.querySelectorAll('#browser script, #browser b, img[src=\"x\"], #browser img').length")
    assert injected == 0
    wait(browser, lambda d: d.execute_script(
        "const v = document.querySelector('#sample-detail video'); return v && v.readyState >= 1"),
        what="the clip with markup in its name plays")
    assert browser.execute_script("return window.__xss") is None
    assert severe(browser) == []


@pytest.fixture
def viewer(run, tmp_path):
    folder = tmp_path / "live-run"
    shutil.copytree(run["folder"], folder)
    (folder / "results.json").unlink()  # as while a run is going
    site = RunSite(folder, lambda: SampleFinder(registry=run["registry"]), poll_s=0.2)
    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, folder
    server.shutdown()
    server.server_close()


def test_viewer_serves_playable_media_and_refreshes_while_the_run_goes(viewer, browser):
    server, folder = viewer
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    load(browser, f"http://127.0.0.1:{port}/")
    assert "computed from the 30 record(s)" in browser.find_element("css selector", "ul.notices").text
    open_record(browser, "s1", "target-1", "baseline")
    wait(browser, lambda d: d.execute_script(
        "const v = document.querySelector('#sample-detail video'); return v && v.readyState >= 1 && v.duration > 1"),
        what="the video over HTTP")
    assert "/media/" in browser.execute_script("return document.querySelector('#sample-detail video').currentSrc")
    assert "of 30 records" not in browser.find_element("id", "match-count").text  # filtered to one
    journal = folder / "samples.jsonl"
    lines = journal.read_text().splitlines()
    new = json.loads(lines[0])
    new["key"] = "another|" + new["key"]  # one more record, as a run appends it
    with open(journal, "a") as fh:
        fh.write(json.dumps(new) + "\n")
    wait(browser, lambda d: "31 record(s)" in d.find_element("css selector", "ul.notices").text, timeout=10,
         what="the page reloaded with the new record")
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1", what="ready again")
    assert browser.find_element("id", "filter-id").get_attribute("value") == "s1"  # the view survived the reload
    assert severe(browser) == []


def test_a_media_receipt_on_a_record_is_shown_as_it_is(run, browser, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run["folder"], folder)
    journal = folder / "samples.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    receipt = [{"kind": "video", "path": "media/av.mp4", "frames": 8, "size": [64, 48], "audio": "16 kHz mono"}]
    for rec in records:
        if (rec["sample_id"], rec["model"], rec["strategy"]) == ("s1", "target-1", "baseline"):
            rec["media"] = receipt  # a field this version's Record does not have yet
    journal.write_text("".join(json.dumps(rec) + "\n" for rec in records))
    page = tmp_path / "report.html"
    write_report([folder], page, SampleFinder(registry=run["registry"]))
    load(browser, page.as_uri())
    text = open_record(browser, "s1", "target-1", "baseline").get_attribute("textContent")
    assert "What the model received" in text and '"frames": 8' in text and "16 kHz mono" in text
    assert "What the model received" not in open_record(browser, "s1", "target-1", "aurelia").get_attribute("textContent")
    assert severe(browser) == []
