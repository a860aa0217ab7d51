"""The report in a real headless Chromium, driven over the DevTools protocol (websocket-client).

Checks: no console error, no network request, every figure rendered with the expected number of
points, the front table sorts, a study named ``<script>alert(1)</script>`` runs nothing. A
screenshot is saved (and copied to /tmp/report-screenshot.png) for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from paretolab.records import StudyMeta, load_records
from paretolab.report import write_report
from paretolab.report.data import ReportData

from conftest import system_missing
from test_report import XSS, synthetic_study

pytestmark = pytest.mark.system

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1366,900", "--remote-debugging-port=0",
         "--enable-unsafe-swiftshader"]


def _browser_or_skip() -> str:
    path = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if path is None:
        system_missing("no Chromium on PATH (Debian: apt-get install chromium); the browser test needs it")
    try:
        import websocket  # noqa: F401
    except ImportError:
        system_missing("websocket-client is not installed (pip install websocket-client)")
    return path


class Page:
    """One Chromium tab over CDP; collects console errors, exceptions, requests and dialogs."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg.get("method") == "Page.javascriptDialogOpening":  # never leave a dialog blocking
            self.ws.send(json.dumps({"id": 10**6 + len(self.events), "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": True}}))

    def pump(self, seconds: float) -> None:
        self.ws.settimeout(0.1)
        end = time.time() + seconds
        try:
            while time.time() < end:
                try:
                    self._event(json.loads(self.ws.recv()))
                except Exception:  # websocket timeout: nothing pending
                    pass
        finally:
            self.ws.settimeout(30)

    def eval(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def open(self, url: str, n_figures: int) -> None:
        self.send("Page.navigate", url=url)
        end = time.time() + 60
        while time.time() < end:
            self.pump(0.3)
            done = self.eval("document.readyState === 'complete' && "
                             "Array.from(document.querySelectorAll('.plotly-graph-div'))"
                             ".filter(d => d._fullLayout).length")
            if done == n_figures:
                return
        raise AssertionError(f"figures did not render: {done} of {n_figures}")

    def problems(self) -> dict[str, list[str]]:
        errors, requests, dialogs = [], [], []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                errors.append(str(p.get("exceptionDetails", {}).get("exception", {}).get("description")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("file:", "data:", "blob:", "about:")):
                    requests.append(url)
            elif m == "Page.javascriptDialogOpening":
                dialogs.append(p.get("message", ""))
        return {"errors": errors, "requests": requests, "dialogs": dialogs}

    def screenshot(self, path: Path) -> None:
        height = int(self.eval("document.documentElement.scrollHeight"))
        self.send("Emulation.setDeviceMetricsOverride", width=1366, height=min(height, 12000),
                  deviceScaleFactor=1, mobile=False)
        self.pump(1.0)  # let responsive figures re-layout
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        import base64

        path.write_bytes(base64.b64decode(shot["data"]))
        self.send("Emulation.clearDeviceMetricsOverride")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    exe = _browser_or_skip()
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.time() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.time() > end or proc.poll() is not None:
                pytest.fail("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page_target = next(t for t in targets if t.get("type") == "page")
        page = Page(page_target["webSocketDebuggerUrl"])
        yield page
        page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _report(study, out: Path) -> tuple[Path, ReportData]:
    meta = StudyMeta.from_study(study)
    records = load_records(study)
    path = write_report(meta, records, out, target="reports/demo").html
    return path, ReportData.build(meta, records)


FIGURE_POINTS = """
(() => {
  const out = {};
  document.querySelectorAll('.plotly-graph-div').forEach(gd => {
    out[gd.id] = gd._fullData.map((t, i) => ({name: t.name, type: t.type, n: t._length,
      hover: Array.isArray(gd.data[i].text) ? gd.data[i].text.length : 0}));
  });
  return out;
})()
"""


def test_report_renders_offline_with_every_figure_and_a_sortable_table(browser: Page, tmp_path: Path) -> None:
    study = synthetic_study(80, objectives=["error", "sparsity"], losses=["ce", "l1"], conflict=True,
                            constrained=True, balancers=("static", "mgda", "gradnorm"))
    path, data = _report(study, tmp_path)
    n_complete = len(data.complete)
    # two losses and nothing else searched: one weight, so no importance chart (issue 30)
    ids = ["fig-front", "fig-hv", "fig-weights", "fig-params", "fig-balancer-fronts",
           "fig-balancer-ranks", "fig-curves", "fig-conflict"]
    browser.open(path.as_uri(), len(ids))
    browser.pump(0.5)
    problems = browser.problems()
    assert problems == {"errors": [], "requests": [], "dialogs": []}

    figs = browser.eval(FIGURE_POINTS)
    assert sorted(figs) == sorted(ids)
    front = {t["name"]: t for t in figs["fig-front"]}
    assert front["dominated"]["n"] + front["infeasible"]["n"] + front["Pareto front"]["n"] == n_complete
    assert front["Pareto front"]["n"] == int(data.on_front.sum())
    assert front["Pareto front"]["hover"] == front["Pareto front"]["n"]  # hover texts filled in
    assert front["front (step line)"]["n"] == int(data.on_front.sum())
    assert [t["n"] for t in figs["fig-hv"]] == [n_complete, n_complete]
    assert sum(t["n"] for t in figs["fig-weights"]) == 2 * n_complete
    assert sum(t["n"] for t in figs["fig-balancer-ranks"]) == n_complete
    assert len(figs["fig-curves"]) == 2 * int(data.on_front.sum())
    # parallel coordinates: one polyline per complete trial across weights and objectives
    assert [(t["type"], t["n"]) for t in figs["fig-params"]] == [("parcoords", n_complete)]
    axes = browser.eval("Array.from(document.querySelectorAll('#fig-params .axis-title'))"
                        ".map(e => e.textContent)")
    assert axes == ["w:ce", "w:l1", "error (min)", "sparsity (max)"]
    note = browser.eval("document.querySelector('#importance .missing').textContent")
    assert note.startswith("only one thing was searched (w:ce")
    # drawn, not only configured: the SVG has one marker path per front point
    drawn = browser.eval("document.querySelectorAll('#fig-front .scatterlayer .trace:nth-child(4) "
                         ".points path').length")
    assert drawn == int(data.on_front.sum())

    # the front table sorts by a clicked column (numerically), both ways
    col = 1  # the first objective
    def column() -> list[float]:
        return browser.eval(f"Array.from(document.querySelectorAll('#front-table tbody tr'))"
                            f".map(r => parseFloat(r.cells[{col}].dataset.value))")
    browser.eval(f"document.querySelectorAll('#front-table th')[{col}].click()")
    asc = column()
    assert asc == sorted(asc) and len(asc) == int(data.on_front.sum())
    browser.eval(f"document.querySelectorAll('#front-table th')[{col}].click()")
    assert column() == sorted(asc, reverse=True)
    browser.eval("document.querySelectorAll('#front-table th')[0].click()")
    numbers = browser.eval("Array.from(document.querySelectorAll('#front-table tbody tr'))"
                           ".map(r => parseInt(r.cells[0].textContent))")
    assert numbers == sorted(numbers)
    # the front table fits the page: no horizontal scrolling; settings read as text
    widths = browser.eval("(() => { const d = document.querySelector('#front-table').parentElement;"
                          " return [d.scrollWidth, d.clientWidth]; })()")
    assert widths[0] <= widths[1], widths
    cell = browser.eval("document.querySelector('#front-table tbody tr').cells[document.querySelector("
                        "'#front-table tbody tr').cells.length - 2].textContent")
    assert re.fullmatch(r"(static|mgda|gradnorm)alpha=[0-9.]+", cell), cell

    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 50_000
    shutil.copy(shot, "/tmp/report-screenshot.png")
    print(f"screenshot: {shot} (copied to /tmp/report-screenshot.png)")


def test_three_objectives_and_three_losses_render(browser: Page, tmp_path: Path) -> None:
    study = synthetic_study(60, objectives=["a", "b", "c"], directions=["minimize", "maximize", "minimize"],
                            losses=["x", "y", "z"])
    path, data = _report(study, tmp_path)
    ids = ["fig-front", "fig-front-projection", "fig-front-pairs", "fig-hv", "fig-weights", "fig-params",
           "fig-importance", "fig-balancer-ranks", "fig-curves"]
    browser.open(path.as_uri(), len(ids))
    browser.pump(0.5)
    problems = browser.problems()
    assert not problems["requests"] and not problems["dialogs"]
    # WebGL (3-D scatter) may be unavailable without a GPU; nothing else may complain
    assert not [e for e in problems["errors"] if "WebGL" not in e], problems["errors"]
    figs = browser.eval(FIGURE_POINTS)
    n = len(data.complete)
    assert sum(t["n"] for t in figs["fig-front"]) == n
    assert sum(t["n"] for t in figs["fig-front-pairs"] if t["name"] != "knee") == 3 * n
    assert sum(t["n"] for t in figs["fig-weights"] if t["type"] == "scatterternary") == 3 * n
    assert [(t["type"], t["n"]) for t in figs["fig-params"]] == [("parcoords", n)]
    assert [(t["type"], t["n"]) for t in figs["fig-importance"]] == [("bar", 3)] * 3  # 3 weights each
    # the 2-D projection beside the 3-D view: same row, to its right, every complete trial once
    assert sum(t["n"] for t in figs["fig-front-projection"]) == n
    boxes = browser.eval("['fig-front', 'fig-front-projection'].map(id => { const r = document"
                         ".getElementById(id).getBoundingClientRect(); return [r.left, r.right, r.top]; })")
    (left3d, right3d, top3d), (left2d, _, top2d) = boxes
    assert left2d >= right3d and abs(top2d - top3d) < 2, boxes
    browser.screenshot(tmp_path / "report-3obj.png")
    shutil.copy(tmp_path / "report-3obj.png", "/tmp/report-screenshot-3obj.png")


def test_a_study_named_script_shows_as_text_and_runs_nothing(browser: Page, tmp_path: Path) -> None:
    study = synthetic_study(12, name=XSS, objectives=["<img src=x onerror=alert(2)>", "b"],
                            losses=["</script><script>alert(3)</script>", "l2"])
    path, _ = _report(study, tmp_path)
    browser.events.clear()
    browser.open(path.as_uri(), 7)  # no conflict recorded, one searched weight: seven figures
    browser.pump(1.0)
    assert browser.eval("document.querySelector('h1').textContent") == XSS
    assert browser.eval("document.title").startswith(XSS)
    assert browser.eval("document.querySelectorAll('img').length") == 0
    problems = browser.problems()
    assert problems["dialogs"] == [] and problems["requests"] == [] and problems["errors"] == []
    # hovering shows the escaped name as text (Plotly decodes the entities, runs no markup)
    legend = browser.eval("Array.from(document.querySelectorAll('#fig-weights .xtitle'))"
                          ".map(e => e.textContent)")
    assert "weight of </script><script>alert(3)</script>" in legend


@pytest.mark.parametrize("m", [3, 4])
def test_a_verified_study_with_three_or_four_objectives_draws_its_intervals(browser: Page, tmp_path: Path,
                                                                             m: int) -> None:
    from test_verify_report import _verified

    from paretolab.report.figures import VERIFIED_NAME
    from paretolab.report.page import build_page

    data = _verified(m)
    path = write_report(data.meta, data.records, tmp_path, target="reports/demo").html
    ids = sorted(build_page(data).figures)
    browser.events.clear()
    browser.open(path.as_uri(), len(ids))
    browser.pump(0.5)
    problems = browser.problems()
    assert not problems["requests"] and not problems["dialogs"]
    assert not [e for e in problems["errors"] if "WebGL" not in e], problems["errors"]
    figs = browser.eval(FIGURE_POINTS)
    view = "fig-front-pairs" if m == 3 else "fig-front-verified"
    verified = [t for t in figs[view] if t["name"] == VERIFIED_NAME]
    assert len(verified) == m * (m - 1) // 2 and all(t["n"] == 3 and t["hover"] == 3 for t in verified)
    bars = browser.eval(f"document.querySelectorAll('#{view} .errorbar').length")
    assert bars == 3 * len(verified)  # one error bar group per point drawn, in every pair
    verdicts = browser.eval("Array.from(document.querySelectorAll('#front-table tbody tr'))"
                            ".map(r => r.cells[0].textContent + ':' + Array.from(r.cells)"
                            ".map(c => c.textContent).find(t => t === 'robust' || t === 'dominated'))")
    assert sorted(verdicts) == ["0:dominated", "1:robust", "2:robust"]
    browser.screenshot(tmp_path / f"verified-{m}.png")
    shutil.copy(tmp_path / f"verified-{m}.png", f"/tmp/report-screenshot-verified-{m}.png")


def test_one_balancer_and_no_conflict_say_why_instead_of_drawing(browser: Page, tmp_path: Path) -> None:
    study = synthetic_study(20, balancers=("static",))
    path, _ = _report(study, tmp_path)
    browser.events.clear()
    browser.open(path.as_uri(), 5)  # front, hypervolume, weights, params, curves
    problems = browser.problems()
    assert problems == {"errors": [], "requests": [], "dialogs": []}
    texts = browser.eval("Array.from(document.querySelectorAll('section .missing')).map(e => e.textContent)")
    assert any(t.startswith("every complete trial used one balancer (static)") for t in texts)
    assert any(t.startswith("Gradient conflict: not recorded") for t in texts)
    assert any(t.startswith("only one thing was searched") for t in texts)
    ids = browser.eval("Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => d.id)")
    assert not [i for i in ids if i.startswith(("fig-balancer", "fig-importance", "fig-conflict"))]
