"""The HTML report: escaping, self-containment, the sections' contents, and build time at scale."""
from __future__ import annotations

import re
import time

import pytest

from reports import html, plots, results
from tests.report.synthetic import make_doc, make_record, synthetic_checks

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


def _showcase() -> dict:
    """A small merged CPU + GPU document with a record for every section of the page."""
    provenance = {"document": "keras-losses.md", "quote": "the loss is 2.3978953"}
    cpu = [
        make_record(id="golden:torch-doc1", kind="golden", case="doc1", provenance=provenance,
                    observed=2.39789534, expected=2.39789527, extra={"printed": "2.3978953"}),
        make_record(id="golden:reference-doc1", kind="golden", case="doc1", framework="reference",
                    provenance=provenance, observed=2.39789527, extra={"printed": "2.3978953"}),
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
    ]
    gpu = [make_record(id="value:torch-huber-gpu", observed=0.5000001, device="gpu", device_name="H100")]
    return results.merge([make_doc(cpu), make_doc(gpu)], labels=["cpu", "gpu"])


@pytest.fixture(scope="module")
def page() -> str:
    return html.render(_showcase())


def test_untrusted_text_is_escaped(page):
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the embedded check data escapes "<" too, so "</script>" cannot end its element early
    data = page.split('<script type="application/json" id="checks-data">', 1)[1].split("</script>", 1)[0]
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in data


def test_page_loads_nothing_from_the_network(page):
    for pattern in NETWORK:
        assert not pattern.search(page), f"network reference {pattern.pattern!r}: {pattern.search(page)}"
    assert "default-src 'none'" in page  # and the CSP forbids it anyway


def test_sections_show_the_measurements(page):
    golden = page.split('id="golden"', 1)[1].split('id="errata"', 1)[0]
    for text in ("keras-losses.md", "the loss is 2.3978953", "2.39789534", "2.39789527"):
        assert text in golden
    errata = page.split('id="errata"', 1)[1].split('id="conventions"', 1)[0]
    assert "0.6931" in errata and "the document rounded log(2) twice" in errata
    conventions = page.split('id="conventions"', 1)[1].split('id="migration"', 1)[0]
    for text in ("clip_epsilon", "probabilities clipped", "keras/src/backend/numpy/nn.py@3.15.1", "&gt;=3.0",
                 "3.4e-06"):
        assert text in conventions
    migration = page.split('id="migration"', 1)[1].split('id="edges"', 1)[0]
    assert "flag <code>clip_epsilon</code>" in migration and "3.4e-06 relative" in migration
    edges = page.split('id="edges"', 1)[1].split('id="gradients"', 1)[0]
    assert 'class="e-inf mono">∞' in edges and "16.118" in edges and "TypeError: bad input" in edges
    drift = page.split('id="drift"', 1)[1].split('id="benchmarks"', 1)[0]
    assert "value:torch-huber-gpu" in drift and "H100" in drift
    assert "mean_s" in page.split('id="benchmarks"', 1)[1]
    assert page.count("<svg") >= 2  # value and gradient histograms


def test_matrix_cells_link_to_their_checks(page):
    anchors = set(re.findall(r'<td class="cell v-\w+"[^>]*><a href="#([^"]+)"', page))
    assert anchors and all(f'<details id="{a}">' in page for a in anchors)
    assert 'class="cell v-fail"' in page  # the failing golden check makes its cell red


def test_banner_says_what_failed():
    green = html.render(make_doc([make_record(id="ok")]))
    assert "✓ no failures in 1 checks" in green
    red = html.render(make_doc([make_record(id="ok"), make_record(id="bad", verdict="lost")]))
    assert "✗ 1 of 2 checks did not pass" in red


def _real_shaped(framework: str, loss: str, api: str, forms: list[str], version: str, **fields) -> list[dict]:
    """Records shaped like ``lossparity.checks`` writes them: ``api`` is prose with the form in brackets,
    the binding, form, reduction and arguments are typed top-level fields."""
    return [make_record(id=f"value:{framework}-{loss}-{form}", framework=framework, framework_version=version,
                        loss=loss, convention=framework, api=f"{api} [{form}]", binding=loss, form=form,
                        reduction=form.split(":", 1)[1], args={"axis": -1}, case="gen.small", **fields)
            for form in forms]


def _migration_of(page: str, loss: str) -> str:
    section = page.split('id="migration"', 1)[1].split('id="edges"', 1)[0]
    return section.split(f'id="migrate-{loss}"', 1)[1].split("<h3", 1)[0]


def test_migration_lists_the_reductions_measured():
    keras = _real_shaped("keras", "hinge", "keras.losses.hinge / keras.losses.Hinge",
                         ["function:none", "class:none", "class:sum", "class:sum_over_batch_size"],
                         "keras 3.15.1 / tensorflow 2.21.0", flags=["hinge_labels_to_pm1"])
    torch = _real_shaped("torch", "kl_divergence", "torch.nn.functional.kl_div(input=torch.log(q), target=p) / "
                         "nn.KLDivLoss", ["function:none", "function:sum", "module:mean", "function:batchmean"],
                         "2.13.0+cpu")
    page = html.render(make_doc(keras + torch))
    hinge = _migration_of(page, "hinge")
    assert ("reductions measured: <code>none</code>, <code>sum</code>, <code>sum_over_batch_size</code>"
            in hinge)
    assert "flag <code>hinge_labels_to_pm1</code>" in hinge  # from the records' flags field
    kl = _migration_of(page, "kl_divergence")
    assert ("reductions measured: <code>batchmean</code>, <code>mean</code>, <code>none</code>, <code>sum</code>"
            in kl)


def test_migration_reads_older_records_without_typed_fields():
    """A file from before the typed fields (form under ``extra``, no reduction) still shows its
    reductions; a record with neither shows none, and nothing is parsed out of ``api``."""
    old = [dict(r, binding=None, form=None, reduction=None, args={}, extra={"form": r["form"], "binding": "hinge"})
           for r in _real_shaped("keras", "hinge", "keras.losses.Hinge", ["class:sum", "function:none"], "3.15.1")]
    bare = [dict(r, binding=None, form=None, reduction=None)
            for r in _real_shaped("optax", "hinge", "optax.losses.hinge_loss", ["function:mean"], "0.2.8")]
    page = html.render(make_doc(old + bare))
    hinge = _migration_of(page, "hinge")
    keras, optax = hinge.split("<b>optax</b>", 1)
    assert "reductions measured: <code>none</code>, <code>sum</code>" in keras
    assert "reductions measured" not in optax


def test_build_100k_checks_quickly():
    """The target is 2 s; the bound is generous and on CPU time, which other jobs on a shared machine
    (xdist workers, parallel CI) do not inflate the way they inflate wall time."""
    doc = make_doc(synthetic_checks(100_000))
    wall, cpu = time.perf_counter(), time.process_time()
    page = html.render(doc)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\nreport of 100k checks built in {wall:.2f} s wall, {cpu:.2f} s CPU ({len(page) / 1e6:.1f} MB)")
    assert cpu < 4.0


def test_ulp_histogram_bins():
    counts = plots.ulp_bins([0.0, 0.25, 1.0, 9.9, 10.0, 3e5, 2e6, float("inf"), float("nan")])
    assert counts == [1, 1, 2, 1, 0, 0, 0, 1, 1, 2]
    assert len(counts) == len(plots.BIN_LABELS) == len(plots.BIN_RANGES)
