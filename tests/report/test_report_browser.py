"""The report in a real browser: headless Chromium opens it with no console error and no network request,
the check browser's script works, and a screenshot is kept at ``reports/out/parity.png``.

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

from reports import html
from tests.report.test_report_html import _showcase

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "out" / "parity.png"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1000")
TIMEOUT_S = 30

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(Debian: apt-get install -y chromium; binary chromium on PATH)")


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


def test_report_opens_without_errors_or_requests(chromium, tmp_path):
    report = html.write_report(_showcase(), tmp_path / "parity.html")
    url = report.as_uri()
    for domain in ("Runtime", "Log", "Network", "Page"):
        chromium.send(f"{domain}.enable")
    chromium.send("Page.navigate", url=url)
    chromium.wait_for("Page.loadEventFired")

    # The check browser rendered every row, and its filter works.
    assert chromium.evaluate("document.getElementById('checks-count').textContent") == "12 of 12 checks match"
    assert _search(chromium, "huber gpu") == "1 of 12 checks match"
    assert _search(chromium, "") == "12 of 12 checks match"

    errors, requests = _problems(chromium.events, url)
    assert errors == []
    assert requests == []

    width, height = chromium.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = chromium.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1})
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
