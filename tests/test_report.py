"""report.py: rows over answered samples with coverage, the task's metric name, failed models, strategies'
own columns, and the published figures beside measured ones."""

from aurelia_harness.cards import ModelCard
from aurelia_harness.journal import record_key
from aurelia_harness.report import aggregate, failed_models, paper_figure, summary_markdown
from aurelia_harness.types import Record


def rec(model="m", strategy="baseline", sample="s", score=1.0, error=None, metric="accuracy", graded=False, **kw):
    return Record(model=model, task="t", strategy=strategy, sample_id=sample,
                  key=record_key("h", "t", strategy, sample), model_hash="h", strategy_hash="x", score=score,
                  error=error, metric=metric, graded=graded, **kw)


def test_scores_are_over_answered_samples_and_errors_are_coverage():
    records = [rec(sample="a"), rec(sample="b", score=0.0), rec(sample="c", score=None, error={"type": "decode_timeout",
                                                                                               "message": "slow"}),
               rec(sample="d", score=0.0, unparseable=True)]
    row = aggregate(records, set())[0]
    assert row["n"] == 4 and row["answered"] == 3 and row["coverage"] == 0.75
    assert row["value"] == 1 / 3 and row["value_all"] == 0.25
    assert row["errors"] == 1 and row["error_types"] == {"decode_timeout": 1} and row["unparseable"] == 1


def test_a_custom_metric_keeps_its_name_and_graded_rows_use_a_mean_interval():
    row = aggregate([rec(sample=s, score=v, metric="pitch_closeness", graded=True) for s, v in
                     (("a", 0.9), ("b", 0.7))], set())[0]
    assert row["metric"] == "pitch_closeness" and row["graded"] and abs(row["value"] - 0.8) < 1e-9
    assert row["ci95"][0] < 0.8 < row["ci95"][1]


def test_a_model_whose_every_sample_errored_is_failed_unless_the_data_is_to_blame():
    down = [rec(model="down", sample=s, score=None, error={"type": "connection", "message": "down: cannot reach"})
            for s in "ab"]
    missing = [rec(model="ok", sample="a", score=None, error={"type": "media_missing", "message": "gone.mp4"})]
    failed = failed_models(down + missing, [{"model": "gone", "type": "OSError", "message": "no weights"}])
    assert [(f["model"], f["reason"]) for f in failed] == [("down", "every sample errored (2 of 2: connection)"),
                                                           ("gone", "could not load")]


def test_summary_shows_failures_strategy_columns_and_audio_warnings():
    row = aggregate([rec(strategy="vote", audio_missing=True)], set())[0]
    row["strategy_summary"] = {"mean_agreement": 0.5, "label": "x"}
    text = summary_markdown({"results": [row], "failed_models": [{"model": "down", "reason": "could not load",
                                                                  "type": "OSError", "message": "no weights"}]})
    assert "**down failed**: could not load — OSError: no weights" in text
    assert "| model | task | mean agreement | label |" in text and "| m | t | 0.50 | x |" in text
    assert "1 sample(s) of t (vote) reached m with no audio" in text


def test_published_figures_are_read_per_strategy_name():
    card = ModelCard(name="p", adapter="a", options={"paper": {"results": {"col": {"baseline": 40.0, "aurelia": 50.0,
                                                                                    "vote": 44.0}}}})

    class Task:
        definition = {"paper_column": "col"}

    assert paper_figure(card, Task(), "baseline") == 0.4 and paper_figure(card, Task(), "vote") == 0.44
    assert paper_figure(card, Task(), "cot") is None and paper_figure(card, None, "baseline") is None


def test_a_benchmarks_published_number_is_shown_for_the_reference_strategy():
    from aurelia_harness.report import published_reference

    class Task:
        definition = {"reference": {"qwen2.5-omni-7b": {"overall": 45.4, "source": "paper"}}}

    assert abs(published_reference(Task(), "qwen2.5-omni-7b") - 0.454) < 1e-9
    assert published_reference(Task(), "other") is None and published_reference(None, "x") is None
    row = aggregate([rec()], set())[0]
    row["corpus"] = {"by_category": {"a": 1.0}}  # a benchmark's breakdowns: no caption metrics to print
    assert "Caption metrics" not in summary_markdown({"results": [row]})
