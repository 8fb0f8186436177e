"""Progress in a log: a line per tenth with elapsed time and ETA, no carriage returns, and a last
line saying where an early stop left off; and the slow steps that report through it."""

import io
import re

import numpy as np
from fixtures import make_titles, tiny_bert

from bert_int8.core.progress import LineProgress, progress
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.model.modeling import predict_logits
from bert_int8.quantize.accuracy_budget import fit_budget

LINE = re.compile(r"^(.+): (\d+)/(\d+) (\w+) \((\d+)%\), \d+:\d\d elapsed(, ETA \d+:\d\d|, done|, stopped early)$")


def _lines(text):
    assert "\r" not in text
    lines = text.splitlines()
    for line in lines:
        assert LINE.match(line), line
    return lines


def _percent(line):
    return int(LINE.match(line).group(5))


def test_a_line_per_tenth_up_to_100_percent():
    out = io.StringIO()
    with LineProgress(100, "evaluate fp32", "titles", out) as bar:
        for _ in range(100):
            bar.update()
    lines = _lines(out.getvalue())
    assert len(lines) == 10
    percents = [_percent(line) for line in lines]
    assert percents == sorted(set(percents)) and percents[0] == 10
    assert lines[-1].startswith("evaluate fp32: 100/100 titles (100%)")
    assert all("ETA" in line for line in lines)


def test_big_steps_print_once_each():
    out = io.StringIO()
    with LineProgress(3, "quantize", "backends", out) as bar:
        for _ in range(3):
            bar.update()
    assert [_percent(line) for line in _lines(out.getvalue())] == [33, 67, 100]


def test_an_early_close_says_where_it_stopped():
    out = io.StringIO()
    with LineProgress(100, "budget", "trials", out) as bar:
        for _ in range(37):
            bar.update()
    lines = _lines(out.getvalue())
    assert [_percent(line) for line in lines] == [10, 20, 30, 37]
    assert lines[-1].startswith("budget: 37/100 trials (37%)") and lines[-1].endswith("stopped early")
    bar.close()  # closing again adds nothing
    assert len(_lines(out.getvalue())) == 4


def test_an_error_is_the_last_line_not_the_bar():
    out = io.StringIO()
    try:
        with LineProgress(3, "quantize", "backends", out):
            raise ValueError("no recipe meets the budget")
    except ValueError:
        pass
    assert out.getvalue() == ""


def test_updates_past_the_last_printed_line_are_reported_on_close():
    out = io.StringIO()
    bar = LineProgress(10, "x", "it", out)
    bar.update(10)
    bar.update(2)  # more than announced: no second 100% line while running ...
    assert len(_lines(out.getvalue())) == 1
    bar.close()  # ... but the log ends with what was done
    assert _lines(out.getvalue())[-1].startswith("x: 12/10 it (100%)")


def test_progress_picks_lines_off_a_terminal_and_tqdm_on_one():
    assert isinstance(progress(5, "x", stream=io.StringIO()), LineProgress)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tqdm import tqdm

    bar = progress(5, "x", stream=Terminal())
    assert isinstance(bar, tqdm)
    bar.close()


def test_predict_logits_reports_progress_only_when_asked(capsys):
    texts = [t for t, _ in make_titles(3, 2)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    model = tiny_bert(vocab_size=len(tok))
    quiet = predict_logits(model, tok, texts, 4)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(predict_logits(model, tok, texts, 4, desc="evaluate fp32"), quiet)
    lines = _lines(capsys.readouterr().err)
    assert lines[-1].startswith(f"evaluate fp32: {len(texts)}/{len(texts)} titles (100%)")


def test_budget_search_that_stops_early_ends_its_log_with_where(capsys):
    gain = {"a": 0.05, "b": 0.05, "c": 0.01}  # F1 won back by keeping each layer FP32

    def score(keep):
        return 0.9 + sum(gain[n] for n in keep)

    keep, _, report = fit_budget(lambda keep: list(keep), score, list(gain), 1.0, 0.0, desc="quantize torch")
    assert keep == ["a", "b"] and report["dev_f1_drop"] == 0.0
    lines = _lines(capsys.readouterr().err)
    assert lines[-1].startswith("quantize torch: keeping layers FP32: 2/3 trials (67%)")
    assert lines[-1].endswith("stopped early")
    assert any(line.startswith("quantize torch: sensitivity per layer: 3/3 trials (100%)") for line in lines)
