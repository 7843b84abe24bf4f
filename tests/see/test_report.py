"""``report.html``: written after every run, self-contained, sectioned by what the folder holds,
in both languages."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import shutil
import string
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from sklearn.metrics import classification_report

import neuroplast
from neuroplast import prune as prune_run
from neuroplast.cli import main
from neuroplast.data import load_dataset
from neuroplast.pipeline import run_stage
from neuroplast.see import report as report_module
from neuroplast.see.locale import table
from neuroplast.see.report import fonts, render, write_report
from neuroplast.spec import ExplainSpec, UncertaintySpec

FIVE_MB = 5_000_000
SECTION_TITLES = ("report.overview", "report.environment", "report.spec", "report.data", "report.model",
                  "report.learning_curves", "report.confusion_matrix", "report.per_class", "report.mistakes")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch CNN on the bundled digits; its report is written by training itself."""
    out = tmp_path_factory.mktemp("report") / "cnn"
    neuroplast.run("digits-cnn", out=out, progress=False, train={"epochs": 1, "threads": 1})
    return out


def _page(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _table(page: str, table_id: str) -> list[list[str]]:
    """The rows of ``<table id=table_id>``, header included, as unescaped cell texts."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, f"no table {table_id!r} in the report"
    return [[html.unescape(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)]


def _assert_offline(page: str) -> None:
    """Every picture is a data: URI; links are in-page or relative; nothing else is fetched."""
    for url in re.findall(r'\bsrc="([^"]*)"', page):
        assert url.startswith("data:image/png;base64,"), url[:60]
    for url in re.findall(r'\bhref="([^"]*)"', page):
        assert url.startswith("#") or not re.match(r"^[a-z][\w+.-]*:|^//", url), url
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert not re.search(r"<script[^>]*\bsrc|<link\b|@import|url\(", page)


def test_training_writes_a_self_contained_report_with_the_classifier_sections(cnn_run: Path) -> None:
    page = _page(cnn_run / "report.html")
    _assert_offline(page)
    assert (cnn_run / "report.html").stat().st_size <= FIVE_MB
    en = table("en")
    for key in SECTION_TITLES + ("report.samples", "report.layers"):
        assert f">{html.escape(en[key])}<" in page, key
    for anchor in ('id="learning-curves-img"', 'id="confusion-img"', 'id="samples"', 'id="mistakes-gallery"',
                   'id="spec-toml"'):
        assert anchor in page
    assert "digits-cnn" in page and "Total params" in page  # the name and the layer table


def test_per_class_table_equals_sklearn_on_the_same_predictions(cnn_run: Path) -> None:
    run = neuroplast.load(cnn_run)
    data = load_dataset(run.spec.data, run.spec.seed)
    expected = classification_report(data.y_test.numpy(), run.predict(data.x_test), output_dict=True,
                                     target_names=run.class_names, zero_division=0)
    rows = _table(_page(cnn_run / "report.html"), "per-class")
    assert len(rows) == 1 + len(run.class_names) + 2  # header, classes, macro and weighted averages
    for name, row in zip(run.class_names, rows[1:], strict=False):
        want = expected[name]
        assert row == [name, f"{want['precision']:.4f}", f"{want['recall']:.4f}", f"{want['f1-score']:.4f}",
                       f"{int(want['support']):,}"]
    macro = expected["macro avg"]
    assert rows[-2][1:4] == [f"{macro[k]:.4f}" for k in ("precision", "recall", "f1-score")]


def test_pruned_run_report_has_the_pruning_table(cnn_run: Path, tmp_path: Path) -> None:
    pruned = prune_run(cnn_run, method="structured", sparsity=0.5, epochs=1, final_epochs=1, out=tmp_path / "pruned",
                       progress=False, latency_repeats=2)
    page = _page(tmp_path / "pruned" / "report.html")
    _assert_offline(page)
    rows = _table(page, "pruning-table")
    params = pruned.metrics["pruning"]["params"]
    assert rows[2][:3] == [table("en")["report.parameters"], f"{params['dense']:,}", f"{params['pruned']:,}"]
    assert any(r[0].startswith("Latency, batch 1 ") for r in rows)
    assert 'id="pruning-img"' in page and 'id="per-class"' in page


def test_calibrated_run_report_has_the_reliability_diagram_and_ood(cnn_run: Path, tmp_path: Path) -> None:
    folder = run_stage("uncertainty", cnn_run, UncertaintySpec(method="temperature", ood="mahalanobis"),
                       out=tmp_path / "cal")
    metrics = neuroplast.load(folder).metrics
    page = _page(tmp_path / "cal" / "report.html")
    _assert_offline(page)
    assert 'id="reliability"' in page and 'id="ood-img"' in page
    rows = _table(page, "calibration-table")
    assert rows[1][1:] == [f"{metrics['calibration']['before'][k]:.4f}" for k in ("accuracy", "nll", "brier", "ece")]


def test_explain_rewrites_the_parent_report_in_its_language(cnn_run: Path) -> None:
    write_report(cnn_run, lang="zh-Hant")
    run_stage("explain", cnn_run, ExplainSpec(method="saliency", count=2))
    page = _page(cnn_run / "report.html")
    assert '<html lang="zh-Hant">' in page and 'id="explain-saliency-gallery"' in page
    assert page.count(f'alt="{table("zh-Hant")["report.attribution_alt"]}"') == 2
    write_report(cnn_run)  # back to English for the other tests


def test_chinese_report_has_no_english_section_titles(cnn_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "zh.html"
    assert main(["report", str(cnn_run), "--lang", "zh-Hant", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = _page(out)
    assert '<html lang="zh-Hant">' in page
    for text in ("學習曲線", "混淆矩陣", "各類別指標", "精確率", "召回率"):
        assert text in page
    en, zh = table("en"), table("zh-Hant")
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles and all(t in {html.escape(v) for v in zh.values()} for t in titles)
    for key in SECTION_TITLES:
        assert en[key] not in page, en[key]


@pytest.mark.filterwarnings("ignore:Glyph:UserWarning")  # DejaVu Sans has no CJK glyphs: boxes, not checked
def test_chinese_report_redraws_the_plots_with_translated_words_when_a_cjk_font_is_found(
        cnn_run: Path, tmp_path: Path, monkeypatch) -> None:
    # Which CJK font is installed is the machine's business (.ci/run installs fonts-wqy-microhei); this
    # checks what the report does once the lookup finds one, with a font every matplotlib has standing in.
    monkeypatch.setattr(fonts, "cjk_font", lambda: "DejaVu Sans")
    page = _page(write_report(cnn_run, lang="zh-Hant", out=tmp_path / "zh.html"))
    english = base64.b64encode((cnn_run / "learning_curves.png").read_bytes()).decode()
    assert 'id="learning-curves-img"' in page and 'id="confusion-img"' in page
    assert english not in page  # redrawn, not the run folder's English PNGs
    assert base64.b64encode((cnn_run / "confusion_matrix.png").read_bytes()).decode() not in page
    assert table("zh-Hant")["report.no_cjk_font"] not in page
    assert english in _page(write_report(cnn_run, out=tmp_path / "en.html"))  # English embeds the file


def test_the_font_lookup_names_the_font_ci_installs(monkeypatch) -> None:
    # fonts-wqy-microhei (.ci/run) registers as "WenQuanYi Micro Hei"; the lookup, uncached, must take it
    from matplotlib import font_manager

    monkeypatch.setattr(font_manager.fontManager, "ttflist", [font_manager.FontEntry(name="WenQuanYi Micro Hei")])
    assert fonts.cjk_font.__wrapped__() == "WenQuanYi Micro Hei"


def test_chinese_report_without_a_cjk_font_warns_once_and_says_so_on_the_page(
        cnn_run: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    fonts.warn_no_cjk_font.cache_clear()  # an earlier zh-Hant report in this process may have warned
    with caplog.at_level(logging.WARNING):
        pages = [_page(write_report(cnn_run, lang="zh-Hant", out=tmp_path / f"zh{i}.html")) for i in range(2)]
        english = _page(write_report(cnn_run, out=tmp_path / "en.html"))
    warned = [r for r in caplog.records if fonts.FONT_PACKAGE in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    for page in pages:
        overview = re.search(r'<section id="overview">(.*?)</section>', page, re.S)
        assert overview and html.escape(table("zh-Hant")["report.no_cjk_font"]) in overview.group(1)
        assert "fonts-wqy-microhei" in page
        # the plots fall back to the run folder's PNGs, whose English words show, not empty boxes
        assert base64.b64encode((cnn_run / "learning_curves.png").read_bytes()).decode() in page
    assert fonts.FONT_PACKAGE not in english


def test_the_missing_font_warning_reaches_the_terminal_of_neuroplast_report(cnn_run: Path, tmp_path: Path) -> None:
    # the CLI configures no logging: the warning reaches stderr through logging's last-resort handler
    code = ("import sys; from neuroplast.see.report import fonts; fonts.cjk_font = lambda: None; "
            "from neuroplast.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "report", str(cnn_run), "--lang", "zh-Hant", "--out",
                           str(tmp_path / "zh.html")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("fonts-wqy-microhei") == 1, done.stderr


def test_both_tables_have_the_same_keys_and_placeholders() -> None:
    files = resources.files("neuroplast.see") / "locales"
    en = json.loads((files / "en.json").read_text(encoding="utf-8"))
    zh = json.loads((files / "zh-Hant.json").read_text(encoding="utf-8"))
    assert set(en) == set(zh) and sum(k.startswith("report.") for k in en) > 100

    def fields(s: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(s) if name}

    assert {k: fields(v) for k, v in en.items()} == {k: fields(v) for k, v in zh.items()}
    assert all(re.search(r"[\u4e00-\u9fff]", v) for k, v in zh.items() if k.endswith(("_caption", "_title")))


def test_report_of_a_non_run_folder_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a neuroplast run folder" in err and str(tmp_path) in err


def test_regression_report_has_its_table_and_scatter(tmp_path: Path) -> None:
    run = neuroplast.run("diabetes-mlp", out=tmp_path / "diab", progress=False, train={"epochs": 1, "threads": 1})
    page = _page(tmp_path / "diab" / "report.html")
    _assert_offline(page)
    rows = _table(page, "regression-table")
    assert rows[1][1] == f"{run.metrics['test']['rmse']:.4f}"
    assert 'id="sample-rows"' in page and 'id="per-class"' not in page and table("en")["report.regression"] in page


def test_language_model_report_has_generated_text_and_attention(tmp_path: Path) -> None:
    text = tmp_path / "poem.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 60)
    neuroplast.run("shakespeare-transformer", out=tmp_path / "lm", progress=False,
                   overrides=[f"data.path={text}", "data.block_size=16", "model.d_model=16", "model.num_layers=1",
                              "train.epochs=1", "train.max_steps_per_epoch=2", "train.threads=1"])
    page = _page(tmp_path / "lm" / "report.html")
    _assert_offline(page)
    assert 'id="generated"' in page and 'id="attention-maps"' in page
    assert "quick brown fox" in page  # the text sample


def test_too_large_pictures_give_way_to_a_note(cnn_run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(render, "MAX_BYTES", 60_000)
    out = write_report(cnn_run, out=tmp_path / "small.html")
    assert out.stat().st_size <= 60_000
    assert table("en")["report.figure_left_out"] in _page(out)


def test_damaged_files_give_notes_not_a_lost_report(cnn_run: Path, tmp_path: Path, caplog) -> None:
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    (run / "history.csv").write_text("epoch,train_loss\n1,not-a-number\n")
    (run / "pruned-broken").mkdir()
    (run / "pruned-broken" / "metrics.json").write_text("{")
    with caplog.at_level(logging.WARNING):
        page = _page(write_report(run, out=tmp_path / "report.html"))
    assert "history.csv" in caplog.text  # read as no history; the saved learning curves still show
    assert 'id="learning-curves-img"' in page and 'id="per-class"' in page
    failed = re.search(r'<section id="pruning">(.*?)</section>', page, re.S)
    assert failed and html.escape(table("en")["report.section_failed_title"]) in failed.group(1)


def test_a_failing_report_does_not_lose_the_training(tmp_path: Path, monkeypatch, caplog) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(report_module, "write_report", broken)
    with caplog.at_level(logging.WARNING):
        run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 1, "threads": 1})
    assert (tmp_path / "run" / "model.safetensors").is_file() and run.metrics["test"]["accuracy"] > 0
    assert not (tmp_path / "run" / "report.html").exists()
    assert "disk on fire" in caplog.text


def test_counts_say_what_they_count_all_test_examples_or_the_first_few(cnn_run: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    """The mistakes caption counts what the report looked at: every test example, or (past its limit) the
    first ones of how many, never a share of the first 1,000 passed off as the whole test set."""
    from neuroplast.see.report import context

    total = json.loads((cnn_run / "metrics.json").read_text())["data"]["test"]
    caption = re.compile(r"of (the [^.]*?test examples[^.]*?) are misclassified|all of (the [^.]*) correctly")
    whole = caption.search(html.unescape(_page(write_report(cnn_run, out=tmp_path / "all.html"))))
    assert whole and (whole.group(1) or whole.group(2)) == f"the {total:,} test examples"
    monkeypatch.setattr(context, "MAX_EXAMPLES", 50)
    first = caption.search(html.unescape(_page(write_report(cnn_run, out=tmp_path / "first.html"))))
    assert first and (first.group(1) or first.group(2)) == (
        f"the first 50 of the {total:,} test examples (the report looks at 50 at most)")
    zh = html.unescape(_page(write_report(cnn_run, lang="zh-Hant", out=tmp_path / "zh.html")))
    assert f"{total:,} 個測試樣本中的前 50 個" in zh


def test_feature_maps_too_small_to_see_are_named_not_drawn(cnn_run: Path) -> None:
    """The 8x8 digits CNN's last conv block gives 2x2 maps: drawn large they are four squares that say
    nothing; the report names them instead."""
    import torch

    from neuroplast.see.report.sections_layers import MIN_MAP_SIDE
    from neuroplast.trust import feature_maps

    run = neuroplast.load(cnn_run)
    maps = feature_maps(run.model, torch.zeros(1, *run.info["input_shape"]))
    small = [n for n, a in list(maps.items())[:4] if min(a.shape[-2:]) < MIN_MAP_SIDE]
    assert small  # the model has such a layer, so the check below means something
    page = html.unescape(_page(write_report(cnn_run, out=cnn_run / "maps.html")))
    assert 'id="feature-maps"' in page and all(f"Layer {n}:" not in page for n in small)  # the captions
    assert f"Not drawn: {small[0]} (2×2)" in page


def test_the_spec_section_shows_only_the_data_keys_the_source_reads(cnn_run: Path) -> None:
    """An 8x8 digits run does not read image_size, tokens, block_size or window: the report leaves them out
    and says so; spec.toml itself keeps every key."""
    import tomllib

    page = html.unescape(_page(write_report(cnn_run, out=cnn_run / "spec.html")))
    shown = tomllib.loads(re.search(r'<pre id="spec-toml"[^>]*>(.*?)</pre>', page, re.S).group(1))
    assert shown["data"]["source"] == "digits" and "val_fraction" in shown["data"]
    for key in ("image_size", "tokens", "block_size", "window"):
        assert key not in shown["data"] and f"data.{key}" in page  # named in the note
        assert key in tomllib.loads((cnn_run / "spec.toml").read_text())["data"]
    assert shown["model"] == tomllib.loads((cnn_run / "spec.toml").read_text())["model"]


def test_the_vector_space_section_measures_each_stage(cnn_run: Path) -> None:
    """Each stage's row: its width and the leave-one-out 5-NN accuracy of the test examples there; the
    input row checked with scikit-learn on the test pixels, one 2-D picture per stage."""
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    page = _page(write_report(cnn_run, out=cnn_run / "space.html"))
    rows = _table(page, "space-table")
    assert rows[0] == ["stage", "dimensions", "5-NN accuracy"] and rows[1][0] == "input" and rows[-1][0] == "output (logits)"
    run = neuroplast.load(cnn_run)
    data = run.dataset()
    x, y = data.x_test.flatten(1).numpy(), data.y_test.numpy()
    votes = [KNeighborsClassifier(5).fit(np.delete(x, i, 0), np.delete(y, i)).predict(x[i:i + 1])[0] == y[i]
             for i in range(len(y))]
    assert rows[1][1] == "64" and abs(float(rows[1][2]) - np.mean(votes)) < 1e-4
    gallery = re.search(r'id="space-gallery".*?(?=<h2|</main>)', page, re.S).group(0)
    assert gallery.count("data:image/png;base64,") == len(rows) - 1
