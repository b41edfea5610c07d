"""The HTML report: escaping, self-containment, every section's contents (recipes, hazards, accuracy,
incompleteness), the compact data block, and size and build time at 100k real-shaped records."""
from __future__ import annotations

import gc
import html as htmllib
import re
import time

import msgspec
import pytest

from reports import html, plots, results
from tests.report.synthetic import (accuracy_record, accuracy_records, make_doc, make_record, real_shaped_checks,
                                    recipe_record, recipe_records, synthetic_checks)

SCRIPT = "<script>alert(1)</script>"
# Anything that would make the browser fetch from elsewhere: src/href/action to a URL with a scheme or
# protocol-relative, CSS url()/@import, a stylesheet link, an external script.
NETWORK = [
    re.compile(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I),
    re.compile(r"url\(\s*['\"]?\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"<link[^>]*rel\s*=\s*['\"]?stylesheet", re.I),
    re.compile(r"<script[^>]*\bsrc\s*=", re.I),
    re.compile(r"https?://", re.I),
]
QUOTE_ZH = "注意看,$p(i)-1$是啥?是不是SoftMax层的输出的概率-1"


def _witness(framework: str, flag: str, loss: str, abs_: float | str, rel: float | str) -> dict:
    """A convention witness: the flag's effect on ``loss``, its distance from the mathematics."""
    return make_record(id=f"convention:{framework}-{flag}", kind="convention", framework=framework, loss=loss,
                       convention=framework, math_distance={"abs": abs_, "rel": rel},
                       extra={"flag": {"name": flag, "summary": f"{flag} changes the number", "value": 1e-7,
                                       "source": f"{framework}/src/losses.py", "versions": ">=1.0"}})


def _showcase() -> dict:
    """A small merged CPU + GPU document with a record for every section of the page: documents, edges,
    conventions and their witnesses, recipes, accuracy, a lost check and a framework that did not import."""
    provenance = {"document": "keras-losses.md", "quote": "the loss is 2.3978953"}
    cpu = [
        make_record(id="golden:torch-doc1", kind="golden", case="doc1", provenance=provenance,
                    observed=2.39789534, expected=2.39789527, extra={"printed": "2.3978953"}),
        make_record(id="golden:reference-doc1", kind="golden", case="doc1", framework="reference",
                    provenance=provenance, observed=2.39789527, extra={"printed": "2.3978953"}),
        make_record(id="golden:reference-doc3", kind="golden", case="doc3.zh", framework="reference",
                    provenance={"document": "003_db0d.txt", "quote": QUOTE_ZH}, observed=1.0,
                    extra={"printed": "1"}),
        make_record(id="erratum:keras-doc2", kind="erratum", case="doc2", framework="keras", verdict="pass",
                    provenance={"document": "keras-losses.md", "quote": "prints 0.69"}, observed=0.6931,
                    extra={"printed": "0.69", "erratum": {"printed": "0.69", "corrected": "0.6931",
                                                         "why": "the document rounded log(2) twice"}}),
        make_record(id="convention:keras-clip_epsilon", kind="convention", framework="keras",
                    loss="categorical_crossentropy", deviation="clip_epsilon", convention="keras",
                    math_distance={"abs": 1.2e-7, "rel": 3.4e-6},
                    extra={"flag": {"name": "clip_epsilon", "summary": "probabilities clipped to [eps, 1-eps]",
                                    "value": 1e-7, "source": "keras/src/backend/numpy/nn.py@3.15.1",
                                    "versions": ">=3.0"}}),
        _witness("keras", "prob_clip", "categorical_crossentropy", 16.1, 0.98),
        _witness("torch", "bce_log_clamp", "binary_crossentropy", 84.0, 0.84),
        _witness("optax", "zero_times_inf_nan", "categorical_crossentropy", "inf", "inf"),
        make_record(id="edge:torch-log0", kind="edge", case="log0", observed="inf", expected="inf"),
        make_record(id="edge:keras-log0", kind="edge", case="log0", framework="keras", observed=16.118,
                    expected="inf", verdict="deviation", deviation="clip_epsilon"),
        make_record(id="edge:optax-log0", kind="edge", case="log0", framework="optax",
                    observed="error:TypeError: bad input", expected="inf", verdict="fail", reason="raised"),
        make_record(id="grad:torch-huber", kind="grad", value_error=None,
                    grad_error={"abs": 1e-6, "rel": 1e-6, "ulps": 12.0, "tol": 1e-5, "worst_index": [1]}),
        make_record(id="bench:torch-huber", kind="benchmark", extra={"benchmark": {"mean_s": 1.5e-5, "rounds": 50}}),
        make_record(id="value:torch-huber-cpu", observed=0.5, device="cpu"),
        make_record(id=f"value:{SCRIPT}", case=SCRIPT, kind="golden", verdict="fail", reason=SCRIPT,
                    provenance={"document": SCRIPT, "quote": SCRIPT}, extra={"printed": SCRIPT}),
        # A worker crash and a framework that failed to import, attributed by the plugin from the test's
        # parameters (framework, loss, dtype): they colour their cells.
        make_record(id="tests/matrix/test_matrix.py::test_value[optax-huber-function:none-float16-cpu-gen]",
                    kind=None, framework="optax", loss="huber", dtype="float16", verdict="lost",
                    reason="worker 'gw1' crashed while running", value_error=None),
        make_record(id="tests/matrix/test_matrix.py::test_framework_available[mxnet]", kind=None,
                    framework="mxnet", framework_version=None, loss=None, dtype=None, device=None, verdict="skip",
                    reason="mxnet is not installed: ImportError: libmxnet.so: cannot open", value_error=None),
        *recipe_records(),
        *accuracy_records(),
    ]
    gpu = [make_record(id="value:torch-huber-gpu", observed=0.5000001, device="gpu", device_name="H100")]
    return results.merge([make_doc(cpu), make_doc(gpu)], labels=["cpu", "gpu"])


@pytest.fixture(scope="module")
def showcase() -> dict:
    return _showcase()


@pytest.fixture(scope="module")
def page(showcase) -> str:
    return html.render(showcase)


def _section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def test_untrusted_text_is_escaped(page):
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the recipe code's "<script>" (in a comment) is text too, and the data block is base64: no "<" in it
    assert '&#34;&lt;script&gt;&#34; in a comment' in page
    block = page.split('id="lp-data">', 1)[1].split("</script>", 1)[0]
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", block)
    assert SCRIPT in {row["id"].removeprefix("value:") for row in html.data_rows(html.read_data_block(page))}


def test_page_loads_nothing_from_the_network(page):
    for pattern in NETWORK:
        assert not pattern.search(page), f"network reference {pattern.pattern!r}: {pattern.search(page)}"
    assert "default-src 'none'" in page  # and the CSP forbids it anyway


def test_sections_show_the_measurements(page):
    golden = _section(page, "golden")
    for text in ("keras-<wbr>losses.<wbr>md", "the loss is 2.3978953", "2.39789534", "2.39789527"):
        assert text in golden
    errata = _section(page, "errata")
    assert "0.6931" in errata and "the document rounded log(2) twice" in errata
    conventions = _section(page, "conventions")
    for text in ("clip_<wbr>epsilon", "probabilities clipped", "nn.<wbr>py@3.<wbr>15.<wbr>1", "&gt;=3.0", "3.4e-06"):
        assert text in conventions
    edges = _section(page, "edges")
    assert "e-inf" in edges and ">∞<" in edges and "16.118" in edges and "TypeError: bad input" in edges
    drift = _section(page, "drift")
    assert "value:<wbr>torch-<wbr>huber-<wbr>gpu" in drift and "H100" in drift
    assert "mean_<wbr>s" in _section(page, "benchmarks")
    assert _section(page, "plots").count("<svg") >= 2  # value and gradient histograms


def test_every_recipe_record_is_rendered_with_copyable_code(showcase, page):
    """Each recipe: its card (source → target), the code as text in a <code> a Copy button names, the
    residual per dtype, the difference without it and the settings that make it."""
    recipes = [r for r in showcase["checks"] if r["kind"] == "recipe"]
    assert len(recipes) == 18
    section = _section(page, "recipes")
    for record in recipes:
        extra = record["extra"]
        anchor = html.recipe_anchor(record["loss"], extra["source"], extra["target"], record["binding"])
        card = section.split(f'<article class="recipe b-{record["verdict"]}" id="{anchor}"', 1)[1].split("</article>")[0]
        assert f'<h4>{extra["source"]} → {extra["target"]}</h4>' in card
        code = card.split(f'<code id="code-{anchor}">', 1)[1].split("</code>", 1)[0]
        assert htmllib.unescape(code) == extra["code"]
        assert f'data-copy="code-{anchor}"' in card
        assert f'residual {html.fmt_measure(record["value_error"])}' in card
        for dtype, ulps in extra["max_ulps_by_dtype"].items():
            assert f'<span class="chip">{dtype}: {html.fmt_number(ulps, 3)} ulp</span>' in card
        assert html.fmt_measure(record["math_distance"]) in card.split("without it", 1)[1]
        for name in extra["differences"]:
            assert f"<code>{name}</code>" in card
        if not extra["differences"]:
            assert "(no convention setting differs)" in card
    # the prose of the old guide is gone: nothing says "without these settings" for float16 rounding
    assert "Without these settings" not in page and "Migration guide" not in page


def test_hazards_rank_differences_and_link_their_recipes(page):
    hazards = _section(page, "hazards")
    cards = {re.search(r"<h3>(.*?)</h3>", card).group(1): card for card in hazards.split('<div class="hazard"')[1:]}
    assert set(cards) == {"keras ↔ optax", "keras ↔ torch", "optax ↔ torch"}  # mxnet never ran: no card
    keras_torch = cards["keras ↔ torch"]
    rows = re.findall(r'<tr data-loss="([^"]+)"><td class="num">(\d+)</td><td><a href="#conv-([^"]+)"', keras_torch)
    assert [int(r[1]) for r in rows] == list(range(1, len(rows) + 1))
    names = [r[2] for r in rows]
    # the witnesses' sizes rank them: bce_log_clamp (rel 0.84) after prob_clip (rel 0.98)
    assert names.index("prob_clip") < names.index("bce_log_clamp")
    for anchor in re.findall(r'<a href="#(recipe-[^"]+)">', hazards):
        assert f'id="{anchor}"' in page  # every link lands on a recipe card
    assert "keras → torch" in keras_torch and "torch → keras" in keras_torch
    # an infinite difference (NaN where the other gives a number) ranks first
    keras_optax = cards["keras ↔ optax"]
    first = re.search(r'<td class="num">1</td><td><a href="#conv-([^"]+)"', keras_optax).group(1)
    assert first == "zero_times_inf_nan" and "rel ∞" in keras_optax.split("</tr>", 2)[1]


def test_accuracy_table_with_worst_input_and_distributions(page):
    section = _section(page, "accuracy")
    cells = re.findall(r'<td class="cell v-(\w+)" data-fw="(\w+)" data-dtype="(\w+)"><button type="button" '
                       r'class="acc-cell" data-index="(\d+)"[^>]*>(.*?)</button>', section)
    assert len(cells) == 24
    assert any(v == "fail" and "480 <span class=\"muted\">/ 12</span>" in body for v, *_, body in cells)
    assert all('<svg class="spark"' in body for *_, body in cells)
    block = html.read_data_block(page)
    detail = dict(zip(block["di"], block["dv"]))
    for *_, index, _ in cells:
        extra = detail[int(index)]["extra"]
        assert extra["worst_input"]["row"] == 4711
        assert detail[int(index)]["histogram"]["counts"] == [4100, 5200, 640, 52, 7, 1, 0, 0, 0, 0]


def test_accuracy_is_tolerant_of_missing_keys():
    bare = make_record(id="accuracy:bare", kind="accuracy", loss="huber", framework="torch", dtype="float32",
                       extra={"quantity": "grad"})
    odd = accuracy_record("mse", "torch", "float64", histogram={"edges": [0, 1, 10, 100], "counts": [5, 2, 1]},
                          extra={"max_ulps": 2.0})
    page = html.render(make_doc([bare, odd]))
    section = _section(page, "accuracy")
    assert section.count('class="acc-cell"') == 2
    assert "1 <span class=\"muted\">/ —</span>" in section  # max from value_error.ulps, no p99.9 given


def test_data_block_holds_every_check(showcase, page):
    block = html.read_data_block(page)
    rows = {(r["run"], r["id"]): r for r in html.data_rows(block)}
    assert len(rows) == block["n"] == len(showcase["checks"])
    for record in showcase["checks"]:
        row = rows[(record["run"], record["id"])]
        for field in ("verdict", "kind", "loss", "framework", "dtype", "device", "binding", "form", "reason", "case"):
            assert row[field] == record[field], field
    problems = {block["cols"]["id"][i] for i in block["di"]}
    assert {r["id"] for r in showcase["checks"] if r["verdict"] in ("fail", "error", "lost")} <= problems


def test_lost_checks_and_import_failures_colour_their_cells(page):
    matrix = _section(page, "matrix")
    assert re.search(r'<td class="cell v-lost" data-fw="optax" data-dtype="float16" title="huber · optax', matrix)
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    assert re.search(r'<span class="chip v-lost" data-fw="mxnet"[^>]*><b>mxnet</b>.*?no check ran: mxnet is not '
                     r"installed: ImportError", header)
    assert '<b>torch</b> 2.13.0 · ' in header


def test_incomplete_run_is_said_plainly():
    run = {"incomplete": {"reason": "the run died before it finished: rebuilt from its journal; 2 of 5 tests finished",
                          "collected": 5, "finished": 2, "running": ["tests/test_x.py::test_c[torch-huber]"],
                          "missing": ["tests/test_x.py::test_c[torch-huber]", "tests/test_x.py::test_d"],
                          "journal": "reports/.partial/results.json.journal.jsonl"}}
    doc = make_doc([make_record(id="a"), make_record(id="b")], started="2026-01-01T00:00:00+00:00", finished=None,
                   **run)
    results.validate(doc)
    page = html.render(doc)
    assert "(incomplete run)</title>" in page
    assert "✓ no failures" not in page and "incomplete run: no failures among the 2 checks that finished" in page
    banner = page.split('<div class="incomplete"', 1)[1].split("</div>\n</div>", 1)[0]
    for text in ("<b>Incomplete run:</b> the run died before it finished", "2 selected tests did not finish",
                 "test_<wbr>c[<wbr>torch-<wbr>huber]", "results.<wbr>json.<wbr>journal.<wbr>jsonl"):
        assert text in banner
    assert "did not finish" in _section(page, "runs")


def test_quotes_get_cjk_fonts_and_ids_break_at_separators(page):
    assert f'<blockquote lang="zh">{QUOTE_ZH}</blockquote>' in page
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    for font in ('"Noto Sans CJK SC"', '"Source Han Sans"', '"PingFang SC"', '"Microsoft YaHei"', "sans-serif"):
        assert font in style
    assert "doc3.<wbr>zh" in _section(page, "golden")
    assert "word-break: break-all" not in style  # the cause of ids wrapping letter by letter


def test_filters_cover_framework_loss_dtype_verdict(page):
    nav = page.split('<nav id="nav">', 1)[1].split("</nav>", 1)[0]
    for dim in ("framework", "loss", "dtype", "verdict"):
        assert f'<details class="filter" data-dim="{dim}">' in nav
    assert 'value="mxnet"' in nav and 'value="float16"' in nav and 'value="lost"' in nav
    assert page.count("<section id=") == page.count("<details open><summary><h2>")  # every section collapses


def test_banner_says_what_failed():
    green = html.render(make_doc([make_record(id="ok")]))
    assert "✓ no failures in 1 checks" in green
    red = html.render(make_doc([make_record(id="ok"), make_record(id="bad", verdict="lost")]))
    assert "✗ 1 of 2 checks did not pass" in red


def test_older_records_without_typed_fields_still_show_binding_and_form():
    """A file from before the typed fields (form under ``extra``; or no such keys at all) renders; the
    browser data takes binding and form from ``extra``."""
    typed = ("binding", "form", "reduction", "args", "flags")
    old = [{**{k: v for k, v in r.items() if k not in typed}, "extra": {"form": r["form"], "binding": "hinge"}}
           for r in [make_record(id="a", loss="hinge", form="class:sum"), make_record(id="b", form="function:none")]]
    older = {k: v for k, v in make_record(id="c").items() if k not in typed}
    page = html.render(dict(make_doc([*old, older, make_record(id="d")]), schema="lossparity.results/1"))
    rows = {r["id"]: r for r in html.data_rows(html.read_data_block(page))}
    assert (rows["a"]["binding"], rows["a"]["form"]) == ("hinge", "class:sum")
    assert rows["c"]["binding"] is None and rows["c"]["verdict"] == "pass"


def test_mark_stale_puts_a_banner_on_an_old_report(tmp_path):
    path = html.write_report(make_doc([make_record(id="ok")]), tmp_path / "parity.html")
    assert html.mark_stale(path, "a new run started at 12:00; this report is from an earlier run")
    assert html.mark_stale(path, "a new run started at 12:05; this report is from an earlier run")
    text = path.read_text()
    assert text.count("Stale report:") == 1 and "12:05" in text and "12:00" not in text
    assert not html.mark_stale(tmp_path / "absent.html", "x")


def _cpu(function, *args):
    gc.collect()
    start = time.process_time()
    value = function(*args)
    return time.process_time() - start, value


@pytest.mark.full
def test_build_100k_real_shaped_records_small_and_quick():
    """100k records shaped like a real run's (1.2 kB each in the file, 120 MB, ordered by id as
    ``results.write_atomic`` writes them): the page stays under 5 MB and rendering it takes at most 2.5
    times as long as parsing the file's JSON (msgspec, the project's parser, the faster of the two it
    has; CPU time of this process, best of two, so that other jobs on a shared machine inflate neither
    side).  Measured: 1.3 MB, 1.1-1.8x."""
    doc = make_doc(sorted(real_shaped_checks(100_000), key=lambda r: r["id"]))  # ordered as a results file is
    data = msgspec.json.encode(doc)
    del doc
    with results.paused_gc():
        parse = min(_cpu(msgspec.json.decode, data)[0] for _ in range(2))
        doc = msgspec.json.decode(data)
        render = []
        for _ in range(2):
            seconds, page = _cpu(html.render, doc)
            render.append(seconds)
    size = len(page.encode())
    print(f"\n100k real-shaped records ({len(data) / 1e6:.0f} MB of JSON): parse {parse:.2f} s CPU, "
          f"render {min(render):.2f} s CPU ({min(render) / parse:.2f}x), page {size / 1e6:.2f} MB")
    assert size < 5_000_000
    assert min(render) <= 2.5 * parse
    assert html.read_data_block(page)["n"] == 100_000


@pytest.mark.full
def test_build_100k_synthetic_checks_quickly():
    """The older synthetic mix (every kind, many benchmark and golden records) builds too."""
    doc = make_doc(synthetic_checks(100_000))
    seconds, page = _cpu(html.render, doc)
    print(f"\nreport of 100k synthetic checks built in {seconds:.2f} s CPU ({len(page) / 1e6:.1f} MB)")
    assert len(page.encode()) < 5_000_000 and seconds < 4.0


def test_ulp_histogram_bins():
    counts = plots.ulp_bins([0.0, 0.25, 1.0, 9.9, 10.0, 3e5, 2e6, float("inf"), float("nan")])
    assert counts == [1, 1, 2, 1, 0, 0, 0, 1, 1, 2]
    assert len(counts) == len(plots.BIN_LABELS) == len(plots.BIN_RANGES)


@pytest.mark.parametrize(("given", "labels", "counts"), [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], list(plots.BIN_LABELS), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ([3, 1], ["0", "1"], [3, 1]),
    ({"edges": [0, 1, 10], "counts": [5, 2]}, ["[0, 1)", "[1, 10)"], [5, 2]),
    ({"labels": ["a", "b"], "counts": [1.0, 2]}, ["a", "b"], [1, 2]),
    ({"0": 4, "<1": 2}, ["0", "<1"], [4, 2]),
    ([[0.5, 3], [1, 4]], ["0.5", "1"], [3, 4]),
])
def test_ulp_histograms_in_the_shapes_producers_send(given, labels, counts):
    assert plots.normalize_histogram(given) == {"labels": labels, "counts": counts}


@pytest.mark.parametrize("bad", [None, "many", [], [1, -2], {"counts": "x"}, [1, "a"]])
def test_not_a_histogram(bad):
    assert plots.normalize_histogram(bad) is None


def test_recipe_record_without_extra_renders():
    bare = make_record(id="recipe:huber:a->b", kind="recipe", loss="huber", framework="torch", convention="keras")
    section = _section(html.render(make_doc([bare, recipe_record("huber", "keras", "optax", code="")])), "recipes")
    assert "keras → torch" in section and "The record carries no code." in section


def _producer_recipe() -> dict:
    """A recipe record exactly as ``lossparity.recipes.run`` writes it (keras -> optax, a real one)."""
    return make_record(
        id="recipe:binary_crossentropy:keras->optax:binary_crossentropy_from_keras", kind="recipe",
        loss="binary_crossentropy", framework="optax", framework_version="0.2.8", convention="keras",
        binding="binary_crossentropy_from_keras", form="function:none", reduction="none",
        args={"from_logits": False}, dtype=None, flags=["bce_logits_formula", "prob_clip"], verdict="pass",
        value_error={"abs": 8.92699e-08, "rel": 1.0146e-07, "tol": 4.0337e-06, "ulps": 0.374425, "worst_index": [0],
                     "worst_input": {"y_pred": [0.09], "y_true": [1.0]}},
        grad_error={"abs": 2.79096e-07, "rel": 7.13479e-08, "tol": 1.1818e-05, "ulps": 0.309666,
                    "worst_index": [1, 0], "worst_input": None},
        math_distance={"abs": 0.921034, "rel": 0.25399},
        extra={"checks": {"pass": 17}, "code": "def binary_crossentropy_from_keras(y_true, y_pred, axis=-1):\n"
                                             "    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)\n",
               "differences": ["prob_clip", "granularity", "written_from_ops"],
               "dtypes_not_checked": {"float64": "optax has no float64"}, "flag_differences": {"prob_clip": "value"},
               "max_ulps_by_dtype": {"float32": {"grad": 0.31, "value": 0.374}}, "note": "", "source": "keras",
               "target": "optax",
               "without_recipe": {"abs": 0.921034056, "rel": 0.253989816, "case": "gen.clipped.from_logits=False",
                                  "dtype": "float32", "via": "reference under optax's convention 'optax'",
                                  "behaviour": [{"case": "edge.bce.prob-zero-on-positive", "dtype": "float32",
                                                 "source": "value", "target": "inf"}]},
               "worst": {"grad": {"case": "gen.small", "dtype": "float32", "kind": "grad"}}})


def test_recipes_in_the_producers_format():
    """What ``lossparity.recipes`` sends beyond the minimum: per-dtype value and gradient ulps, checks by
    verdict, the inputs where the frameworks differ in kind (a hazard ranked first), what stood for the
    target's own function, the dtypes not checked."""
    page = html.render(make_doc([_producer_recipe(), _witness("keras", "prob_clip", "binary_crossentropy", 0.5, 0.1)]))
    card = _section(page, "recipes")
    for text in ('<span class="chip">float32: grad 0.31 · value 0.374 ulp</span>', "17 pass",
                 "gradient 0.31 ulp", "(at float32, gen.clipped.from_logits=False)", "prob_clip</code></a> "
                 "<span class=\"note\">(changes the value)</span>", "<code>granularity</code>",
                 "reference under optax&#39;s convention", "target inf", "float64 not checked",
                 "optax has no float64", '<span class="chip mono">from_logits=False</span>'):
        assert text in card, text
    hazards = _section(page, "hazards")
    first = hazards.split('<td class="num">1</td>', 1)[1].split("</tr>", 1)[0]
    assert "NaN / inf / error" in first and "differs in kind on 1 input" in first
    assert html.recipe_anchor("binary_crossentropy", "keras", "optax", "binary_crossentropy_from_keras") in first


def test_accuracy_in_the_producers_format():
    """``lossparity.accuracy`` labels its histogram with ``extra.ulp_bins``; records differ by arguments."""
    bins = ["0", "(0,1)", "[1,10)", "mismatch"]
    records = [accuracy_record("huber", "torch", "float32", args={"delta": delta}, histogram=[5, 3, 1, 0],
                               id=f"accuracy:huber-{delta}", extra={"ulp_bins": bins, "worst_input": {"inputs": {}}})
               for delta in (0.5, 1.0)]
    page = html.render(make_doc(records))
    section = _section(page, "accuracy")
    assert "delta=0.5" in section and "delta=1.0" in section and section.count('class="acc-cell"') == 2
    block = html.read_data_block(page)
    assert block["dv"][0]["histogram"] == {"labels": bins, "counts": [5, 3, 1, 0]}
