"""report.html in a real browser: headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it)
loads it from disk with every request sent to a proxy of ours, and its rendered DOM is read back.

Chromium itself calls a few Google services (sign-in, time, variations) whatever page it shows;
those hosts are the browser's own and are set aside by name. A probe page with one remote image
shows that a request made by a page does reach the proxy."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading

import pytest

from helpers import PNG, RESULTS, tables_of
from pytest_flaggems_import.cli import main

BROWSERS_OWN = {"accounts.google.com:443", "www.google.com:443", "clients2.google.com", "clients2.google.com:443",
                "update.googleapis.com:443", "optimizationguide-pa.googleapis.com:443"}  # fmt: skip


@pytest.fixture
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    return found


class Proxy:
    """Accepts connections and records each request line's target (host[:port] or URL host)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.targets: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                line = conn.recv(1024).split(b"\r\n", 1)[0].decode(errors="replace").split()
                if len(line) >= 2:
                    target = line[1]
                    self.targets.append(target.split("/")[2] if "://" in target else target)

    def page_requests(self) -> list[str]:
        return [t for t in self.targets if t not in BROWSERS_OWN]


def load(chromium: str, proxy: Proxy, page, profile, *extra: str) -> subprocess.CompletedProcess:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
            "--proxy-bypass-list=<-loopback>", *extra, page.as_uri()]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def test_report_html_renders_its_tables_offline_in_chromium(chromium, tmp_path):
    session_file = RESULTS / "gpu-bench-run1" / "session.json"
    session = json.loads(session_file.read_text())
    assert main(["report", str(session_file), "--out", str(tmp_path / "out")]) == 0
    page = tmp_path / "out" / "report.html"

    proxy = Proxy()
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://report-probe.invalid/x.png"></body></html>')
    load(chromium, proxy, probe, tmp_path / "profile", "--dump-dom")
    assert "report-probe.invalid" in proxy.page_requests(), proxy.targets  # the watch works

    proxy.targets.clear()
    shown = load(chromium, proxy, page, tmp_path / "profile", "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = tmp_path / "dom.html"
    dom.write_text(shown.stdout)
    tables = tables_of(dom).tables
    for batch in (1, 2):
        expected = {d["op"]: "selected" if d["selected"] else "rejected" for d in session["decisions"] if d["batch"] == batch}
        assert {row[0]: row[6] for row in tables[f"batch{batch}"][1:]} == expected
    assert proxy.page_requests() == [], proxy.targets

    screenshot = tmp_path / "report.png"
    taken = load(chromium, proxy, page, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,2000",
                 "--hide-scrollbars")  # fmt: skip
    assert taken.returncode == 0 and screenshot.read_bytes().startswith(PNG), taken.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000  # a rendered page with charts, not a blank one
    assert proxy.page_requests() == [], proxy.targets
