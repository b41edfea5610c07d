"""The report in a real browser: headless Chromium opens it with no console error and no network request;
the data block inflates and the check browser, filters, copy buttons and detail panels work; the layout
fits 1400 and 1280 px windows with sticky headers; screenshots of the page, the porting hazards and the
recipes are kept under ``reports/out/`` (git-ignored; ``LOSSPARITY_SCREENSHOTS=DIR`` puts them elsewhere).

Chromium is driven through the DevTools protocol (CDP) over its websocket, with the small stdlib client
below: CDP reports console calls, uncaught exceptions, log entries (CSP violations, failed loads) and
every request as structured events, which is more robust than parsing ``--enable-logging`` output (its
format changes between versions and it does not list requests that were never attempted).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from reports import html, results
from tests.report.synthetic import make_doc, make_record
from tests.report.test_report_html import _showcase

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("LOSSPARITY_SCREENSHOTS") or ROOT / "reports" / "out")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1000")
TIMEOUT_S = 30

pytestmark = [pytest.mark.full,  # a browser process per test: the full suite (.ci/run)
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                 "(Debian: apt-get install -y chromium; binary chromium on PATH)")]


class DevTools:
    """A minimal CDP client: one websocket (RFC 6455, text frames, client-side masking) to one page."""

    def __init__(self, ws_url: str):
        host_port, path = ws_url.removeprefix("ws://").split("/", 1)
        host, port = host_port.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 101"), response[:200]
        self.buffer = response.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("devtools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _receive(self) -> dict:
        message = b""
        while True:
            head = self._read(2)
            final, opcode, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)  # server frames are never masked
            if opcode in (0x0, 0x1):
                message += payload
                if final:
                    return json.loads(message)
            elif opcode == 0x8:
                raise ConnectionError("devtools closed the websocket")

    def send(self, method: str, **params) -> dict:
        """Call ``method`` and return its result; events that arrive meanwhile are kept in ``events``."""
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                                  else bytes([0x80 | 126]) + struct.pack(">H", len(payload)) if len(payload) < 65536
                                  else bytes([0x80 | 127]) + struct.pack(">Q", len(payload)))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())
        raise TimeoutError(method)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium with a DevTools endpoint; yields a client attached to its blank page."""
    profile = tmp_path / "profile"
    process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert process.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT_S) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        yield client
        client.sock.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _problems(events: list[dict], page_url: str) -> tuple[list[str], list[str]]:
    """Console errors/warnings, exceptions and error log entries; requests for anything but the page."""
    errors, requests = [], []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent" and params["request"]["url"] != page_url:
            requests.append(params["request"]["url"])
    return errors, requests


def _search(chromium: DevTools, text: str) -> str:
    """Type ``text`` in the check browser's filter; the count line once the (debounced) filter ran."""
    return chromium.evaluate(f"""new Promise(done => {{
        const box = document.getElementById('search');
        box.value = {json.dumps(text)}; box.dispatchEvent(new Event('input'));
        setTimeout(() => done(document.getElementById('checks-count').textContent), 400); }})""")


def _open(chromium: DevTools, path: Path, width: int = 1400, height: int = 1000) -> str:
    """Open the report at ``path`` in a ``width`` x ``height`` window; wait for its data block."""
    for domain in ("Runtime", "Log", "Network", "Page"):
        chromium.send(f"{domain}.enable")
    chromium.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    url = path.as_uri()
    chromium.send("Page.navigate", url=url)
    chromium.wait_for("Page.loadEventFired")
    deadline = time.monotonic() + TIMEOUT_S
    while not chromium.evaluate("document.body.getAttribute('data-ready')"):
        assert time.monotonic() < deadline, "the data block never loaded"
        time.sleep(0.05)
    assert chromium.evaluate("document.body.getAttribute('data-ready')") == "true"
    return url


def _click(chromium: DevTools, selector: str) -> None:
    """A real mouse click (a user gesture, which the clipboard needs) on the first match of ``selector``."""
    x, y = chromium.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        e.scrollIntoView({{block: "center"}}); const r = e.getClientRects()[0];
        return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        chromium.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def _screenshot(chromium: DevTools, name: str, element: str | None = None) -> Path:
    """The viewport (scrolled to ``element``, below the sticky bar) or the whole page, as a PNG in SHOTS."""
    if element is None:
        width, height = chromium.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        shot = chromium.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                             clip={"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1})
    else:
        chromium.evaluate(f"""(() => {{ const e = document.getElementById({json.dumps(element)});
            for (let n = e; n; n = n.parentElement) {{ if (n.tagName === "DETAILS") n.open = true; }}
            e.scrollIntoView(); window.scrollBy(0, -document.getElementById("nav").offsetHeight - 4); }})()""")
        time.sleep(0.2)
        shot = chromium.send("Page.captureScreenshot", format="png")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return html.write_report(_showcase(), tmp_path_factory.mktemp("report") / "parity.html")


def test_report_opens_without_errors_or_requests(chromium, report):
    url = _open(chromium, report)
    total = len(_showcase()["checks"])
    # The check browser inflated every check, and its filter works.
    assert chromium.evaluate("document.getElementById('checks-count').textContent") == f"{total} of {total} checks match"
    assert _search(chromium, "huber gpu") == f"1 of {total} checks match"
    assert chromium.evaluate("document.querySelectorAll('#checks-body tr.detail-row').length") == 1  # one match: open
    assert _search(chromium, "") == f"{total} of {total} checks match"
    errors, requests = _problems(chromium.events, url)
    assert errors == []
    assert requests == []
    _screenshot(chromium, "parity")


@pytest.mark.parametrize("width", [1400, 1280])
def test_layout_fits_a_laptop_screen(chromium, report, width):
    """Nothing overflows the window sideways (wide tables scroll inside their own box, and only when
    they must); a long table's header sticks below the sticky bar; ids wrap at their parts."""
    _open(chromium, report, width)
    chromium.evaluate("document.querySelectorAll('details').forEach(d => { if (!d.classList.contains('filter')) d.open = true; })")
    assert chromium.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    outside = chromium.evaluate("""Array.from(document.querySelectorAll('body *')).filter(e => {
        if (e.closest('pre, .wide, .filter') || !e.getClientRects().length) return false;
        return e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5; })
        .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
    assert outside == []
    assert chromium.evaluate("Array.from(document.querySelectorAll('.wide')).every(w => w.scrollWidth <= w.clientWidth)")
    # sticky: scroll into the middle of the check browser; its header sits right below the bar
    top, bar = chromium.evaluate("""(() => { const t = document.getElementById('checks-body');
        window.scrollTo(0, t.getBoundingClientRect().top + window.scrollY + 200);
        return [t.closest('table').querySelector('thead th').getBoundingClientRect().top,
                document.getElementById('nav').getBoundingClientRect().bottom]; })()""")
    assert abs(top - bar) <= 2
    assert chromium.evaluate("document.getElementById('nav').getBoundingClientRect().top") == 0
    # a case id wraps at its dots and dashes, not letter by letter: every line holds several letters
    widths = chromium.evaluate("""Array.from(document.querySelectorAll('#golden td.id')).map(td =>
        td.getBoundingClientRect().width)""")
    assert widths and min(widths) > 120
    _screenshot(chromium, f"parity-{width}")


def test_hazards_and_recipes(chromium, report):
    """The hazards link to recipe cards, which open; Copy puts the recipe's code on the clipboard."""
    _open(chromium, report)
    chromium.send("Browser.grantPermissions", permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
    _screenshot(chromium, "parity-hazards", "hazards")
    link = chromium.evaluate("document.querySelector('#hazards a[href^=\"#recipe-\"]').getAttribute('href')")
    _click(chromium, f'#hazards a[href="{link}"]')
    time.sleep(0.2)
    assert chromium.evaluate(f"document.getElementById({json.dumps(link[1:])}).closest('details').open")
    button = f'#{link[1:]} button.copy'
    _click(chromium, button)
    deadline = time.monotonic() + TIMEOUT_S
    while not chromium.evaluate(f"document.querySelector({json.dumps(button)}).getAttribute('data-copied')"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code = chromium.evaluate(f"document.querySelector({json.dumps(button)}).parentElement.querySelector('code').textContent")
    assert code.startswith("def ") and "<script>" in code
    assert chromium.evaluate("navigator.clipboard.readText()") == code
    # without the clipboard API (an old browser, a page without permission): the code is copied or selected
    chromium.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    second = 'article.recipe:nth-of-type(2) button.copy'
    chromium.evaluate(f"document.querySelector({json.dumps(second)}).closest('details').open = true")
    _click(chromium, second)
    state = chromium.evaluate(f"document.querySelector({json.dumps(second)}).getAttribute('data-copied')")
    assert state in ("yes", "selected")
    chromium.evaluate("document.querySelectorAll('details.loss').forEach(d => d.open = false)")
    _screenshot(chromium, "parity-recipes", html.recipe_anchor("categorical_crossentropy", "keras", "torch",
                                                               "keras_categorical_crossentropy_in_torch"))
    assert _problems(chromium.events, report.as_uri()) == ([], [])


def test_filters_hide_what_is_not_selected(chromium, report):
    _open(chromium, report)
    total = len(_showcase()["checks"])
    keras = sum(1 for r in _showcase()["checks"] if r["framework"] == "keras")
    chromium.evaluate("""(() => { const box = document.querySelector('details.filter[data-dim="framework"]');
        const input = box.querySelector('input[value="keras"]'); input.checked = false;
        input.dispatchEvent(new Event('change', {bubbles: true})); })()""")
    count = chromium.evaluate("document.getElementById('checks-count').textContent")
    assert count == f"{total - keras} of {total} checks match"
    hidden = chromium.evaluate("""[
        getComputedStyle(document.querySelector('#matrix th[data-group][data-fw="keras"]')).display,
        Array.from(document.querySelectorAll('article.recipe')).filter(a => a.dataset.fw.split(' ').includes('keras'))
             .every(a => getComputedStyle(a).display === 'none'),
        Array.from(document.querySelectorAll('article.recipe')).filter(a => !a.dataset.fw.split(' ').includes('keras'))
             .every(a => a.classList.contains('f-hide') === false),
        document.querySelector('details.filter[data-dim="framework"] .filter-state').textContent]""")
    assert hidden[:3] == ["none", True, True] and "keras" not in hidden[3]
    chromium.evaluate("""(() => { const box = document.querySelector('details.filter[data-dim="verdict"]');
        box.querySelectorAll('input').forEach(i => { i.checked = ['fail', 'lost'].includes(i.value); });
        box.dispatchEvent(new Event('change')); })()""")
    rows = chromium.evaluate("Array.from(document.querySelectorAll('#checks-body tr[data-row] .badge')).map(b => b.textContent)")
    assert rows and set(rows) <= {"fail", "lost"}
    chromium.evaluate("document.getElementById('filters-reset').click()")
    assert chromium.evaluate("document.getElementById('checks-count').textContent") == f"{total} of {total} checks match"


def test_detail_panels_open_on_demand(chromium, report):
    """A problem's id opens its detail in the check browser; an accuracy cell shows its worst input and
    its error distribution; a matrix cell filters the browser to its checks."""
    _open(chromium, report)
    _click(chromium, '#problems a[data-find]')
    time.sleep(0.3)
    detail = chromium.evaluate("document.querySelector('#checks-body tr.detail-row').textContent")
    assert "verdict" in detail and "test" in detail
    _click(chromium, '#accuracy td.v-fail button.acc-cell')
    time.sleep(0.2)
    panel = chromium.evaluate("[document.getElementById('acc-detail').hidden, document.getElementById('acc-detail').textContent,"
                              " document.querySelectorAll('#acc-detail svg.hist rect').length]")
    assert panel[0] is False and '"row": 4711' in panel[1] and panel[2] == 10
    cell = chromium.evaluate("document.querySelector('#matrix td.v-lost a').textContent")  # "passed/total ✗"
    _click(chromium, '#matrix td.v-lost a')
    time.sleep(0.3)
    total = cell.split("/")[1].split()[0]
    assert chromium.evaluate("document.getElementById('checks-count').textContent").startswith(f"{total} of ")
    assert "lost" in chromium.evaluate("Array.from(document.querySelectorAll('#checks-body .badge')).map(b => b.textContent)")
    assert not chromium.evaluate("document.getElementById('cell-filter').hidden")
    assert _problems(chromium.events, report.as_uri()) == ([], [])


def test_an_incomplete_run_says_so_at_the_top(chromium, tmp_path):
    run = {"incomplete": {"reason": "the run died before it finished: rebuilt from its journal; 1 of 3 tests finished",
                          "collected": 3, "finished": 1, "running": ["tests/test_x.py::test_b[torch]"],
                          "missing": ["tests/test_x.py::test_b[torch]", "tests/test_x.py::test_c"],
                          "journal": "reports/.partial/results.json.journal.jsonl"}}
    doc = make_doc([make_record(id="a"), make_record(id="tests/test_x.py::test_b[torch]", verdict="lost")], **run)
    results.validate(doc)
    path = html.write_report(doc, tmp_path / "parity.html")
    _open(chromium, path)
    box = chromium.evaluate("""(() => { const b = document.querySelector('.incomplete[role=alert]').getBoundingClientRect();
        return [b.top, b.height]; })()""")
    assert 0 < box[0] < 200 and box[1] > 20  # in the first screenful, above everything else
    _screenshot(chromium, "parity-incomplete", "incomplete1")
