"""Headless Chromium driven over the DevTools protocol, for tests that look at pages as a person.

Debian's `chromium` package (installed by `.ci/run` when missing) and the `websocket-client`
package; no browser download. One `Browser` per test: its own profile folder, every console
error and uncaught exception collected, screenshots as PNG files.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_executable() -> str:
    """`CHROMIUM`, or Debian's chromium; a clear failure (not a skip) when it is missing."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError(
            "chromium is not installed: `apt-get install -y chromium` (.ci/run does it), "
            "or set CHROMIUM to a Chromium/Chrome executable"
        )
    return found


class Browser:
    """One page of a headless Chromium, with the console errors it has seen so far."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self._socket = socket
        self._next_id = 0
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result, collecting events meanwhile."""
        self._next_id += 1
        call_id = self._next_id
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message is None:
                continue
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise TimeoutError(f"{method} got no answer in {timeout} s")

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        self._socket.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
        try:
            message: dict[str, Any] = json.loads(self._socket.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in message:
            self._record(message)
        return message

    def _record(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the next event named `method` (events seen before this call included)."""
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event["method"] == method:
                return self.events.pop(index)
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message and message.get("method") == method:
                self.events.remove(message)
                return message
        raise TimeoutError(f"no {method} in {timeout} s")

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Load `url` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 60.0) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still falsy after {timeout} s")
            time.sleep(0.25)

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save a PNG of the page (the whole page by default, not just the viewport)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def chromium(profile: Path, width: int = 1400, height: int = 1000) -> Iterator[Browser]:
    """A headless Chromium with its own profile folder; stopped (and waited for) on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    port_file = profile / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)  # a previous browser's port, in a reused profile
    command = [
        chromium_executable(),
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    socket: websocket.WebSocket | None = None
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"chromium did not start: {stderr[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        browser = Browser(socket)
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable")
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield browser
    finally:
        if socket is not None:
            socket.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
