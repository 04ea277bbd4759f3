"""Widgets in a real browser: JupyterLab in headless Chromium, driven by Python playwright (``make test-browser``).

For every lesson with a widget cell: open the stored notebook untrusted (a fresh clone: JupyterLab shows widget
outputs as text, so the static picture above each one must show) and trusted (the saved widget state draws the
controls and the picture without running anything); then clear it, "Run All" (fast mode), move one control of every
widget and check that the picture changes (its rendered bytes differ) and that no "Error displaying widget" appears.
The server runs on 127.0.0.1 with a random token, on a temporary copy of the notebooks (the repository's files are
never saved over), and is stopped at the end. Screenshots go to outputs/browser/. Also: nbconvert's HTML of each
stored notebook carries the widget state and a static image.

Collected only when FDUNLEARN_BROWSER=1 (tests/conftest.py), which ``make test-browser`` sets.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.sign import NotebookNotary

from fdunlearn import config
from fdunlearn.course import run_notebooks

CHROMIUM = os.environ.get("FDUNLEARN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = config.REPO_ROOT / "outputs" / "browser"
RUN_ALL_TIMEOUT_MS = 300_000  # one lesson, fast mode, on a busy 2-core machine
CHANGE_TIMEOUT_S = 20  # a moved control redraws its picture within this
# Lessons whose stored notebook predates the saved state (re-executed by whoever edits them): live check only.
NOT_REEXECUTED: dict[str, str] = {}
_WIDGET_CALL = re.compile(r"\b(widgets|views)\.\w+\(")


def widget_lessons() -> list[Path]:
    """Lessons with a cell that builds a widget (``widgets.*`` or ``views.*``)."""
    return [p for p in sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
            if any(c.cell_type == "code" and _WIDGET_CALL.search(c.source)
                   for c in nbformat.read(p, as_version=4).cells)]


LESSONS = [pytest.param(p, id=p.stem) for p in widget_lessons()]
STORED = [pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(reason=NOT_REEXECUTED[p.name], strict=False)]
                       if p.name in NOT_REEXECUTED else []) for p in widget_lessons()]

# JupyterLab settings for the test server: no autosave, every cell in the page (no virtual scrolling), no news
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


@dataclass
class Lab:
    url: str
    token: str
    log: Path
    root: Path

    def trust(self, name: str) -> None:
        """Sign the served copy of lesson ``name`` (``jupyter trust``), in the server's own signature store."""
        path = self.root / "notebooks" / name
        nb = nbformat.read(path, as_version=4)
        NotebookNotary(data_dir=str(self.root / "data")).sign(nb)

    def api(self, path: str, method: str = "GET") -> bytes:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a random token, serving a copy of notebooks/, kernels in fast mode."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(config.REPO_ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name, value in LAB_SETTINGS.items():
        (root / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "settings" / name).write_text(json.dumps(value))
    token, port = secrets.token_hex(24), _free_port()
    env = {**os.environ, "FDUNLEARN_FAST": "1", "FDUNLEARN_OUTPUT": str(root / "outputs"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # kernels: this env
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "JUPYTER_DATA_DIR": str(root / "data"),  # notebook signatures: none trusted at first
           "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}
    log = root / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
           *(["--allow-root"] if os.geteuid() == 0 else [])]  # CI containers run as root
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, log, root)
    try:
        deadline = time.time() + 120
        while True:
            try:
                server.api("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield server
    finally:
        try:
            server.api("/api/shutdown", method="POST")  # stops its kernels too
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium (the system's, no download) with a fresh profile."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make test-browser` (installs Debian's chromium package) or set "
                    "FDUNLEARN_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


# JavaScript run in the page (JupyterLab exposes ``window.jupyterapp`` with expose_app_in_browser)
PANEL = "[data-under-test]"  # the lesson's notebook panel (JupyterLab may keep other tabs in the page)
KERNEL_IDLE = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = nb && nb.sessionContext && nb.sessionContext.session && nb.sessionContext.session.kernel;
  const ready = !!(kernel && kernel.status === 'idle' && nb.content && nb.content.widgets.length > 0);
  if (ready) nb.node.setAttribute('data-under-test', '');
  return ready;
}"""
RUN_FINISHED = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const done = cells.every(c => c.model.executionCount !== null);
  return failed || (done && nb.sessionContext.session.kernel.status === 'idle');
}"""
CLEARED = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code').every(c => c.model.executionCount === null && c.model.outputs.length === 0)"""
ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))"""
WIDGET_BOXES = f"{PANEL} .jp-OutputArea-output .widget-vbox:has(> img.widget-image)"
# untrusted: per widget output shown as text ("VBox(...)"), is the output just before it a loaded PNG?
STATIC_BEFORE_TEXT_WIDGETS = """() => [...document.querySelector('[data-under-test]')
  .querySelectorAll('.jp-OutputArea')].flatMap(area => {
  const outs = [...area.querySelectorAll(':scope > .jp-OutputArea-child .jp-OutputArea-output')];
  return outs.map((o, i) => [o, i]).filter(([o]) => o.dataset.mimeType === 'text/plain'
                                                   && o.textContent.trim().startsWith('VBox('))
    .map(([o, i]) => { const img = i > 0 && outs[i - 1].querySelector('img');
                       return !!(img && img.complete && img.naturalWidth > 0); });
})"""


def _command(page, command: str) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute({json.dumps(command)})")


def _no_widget_errors(page) -> None:
    assert page.locator(PANEL).get_by_text("Error displaying widget").count() == 0, "a widget failed to display"


def _move_control(box) -> str:
    """Move one control of a widget box one step (the first dropdown with a choice, else the slider); returns which."""
    selects = box.locator("select")
    for i in range(selects.count()):
        if selects.nth(i).locator("option").count() > 1:
            selects.nth(i).select_option(index=1)
            return "dropdown"
    track = box.locator(".noUi-target").first
    assert track.count(), "no control with a second choice"
    size = track.bounding_box()
    track.click(position={"x": size["width"] * 0.9, "y": size["height"] / 2})  # slider: jump towards the end
    return "slider"


def _wait_for_new_picture(image, before: bytes) -> bytes:
    deadline = time.time() + CHANGE_TIMEOUT_S
    while time.time() < deadline:
        after = image.screenshot()
        if after != before:
            return after
        time.sleep(0.5)
    return before


@pytest.mark.parametrize("path", LESSONS)
def test_widgets_answer_in_jupyterlab(lab, browser, path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    try:
        page.goto(f"{lab.url}/lab/tree/notebooks/{path.name}?reset&token={lab.token}")  # reset: no other tabs
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)

        # 1. the stored notebook, before anything runs
        if path.name not in NOT_REEXECUTED:
            shown = len(run_notebooks.shown_widgets(nbformat.read(path, as_version=4)))
            # untrusted (a fresh clone): widget outputs fall back to text; the static PNG above each one shows
            page.wait_for_function(f"() => ({STATIC_BEFORE_TEXT_WIDGETS})().length === {shown}", timeout=60_000)
            assert page.evaluate(STATIC_BEFORE_TEXT_WIDGETS) == [True] * shown
            _no_widget_errors(page)
            # trusted: the saved widget state draws every widget, picture included
            lab.trust(path.name)
            page.reload()
            page.wait_for_function(KERNEL_IDLE, timeout=120_000)
            page.wait_for_function(f"() => document.querySelectorAll({json.dumps(WIDGET_BOXES)}).length === {shown}",
                                   timeout=60_000)
            page.locator(WIDGET_BOXES).first.scroll_into_view_if_needed()
            assert page.locator(WIDGET_BOXES).first.locator("img.widget-image").evaluate("img => img.naturalWidth") > 0
            page.screenshot(path=str(SHOTS / f"{path.stem}-stored.png"))
            _no_widget_errors(page)

        # 2. Run All in a fresh kernel state (fast mode), then every widget answers its control
        _command(page, "notebook:clear-all-cell-outputs")
        assert page.evaluate(CLEARED), "outputs and execution counts not cleared before Run All"
        _command(page, "notebook:run-all-cells")
        page.wait_for_function(RUN_FINISHED, timeout=RUN_ALL_TIMEOUT_MS, polling=1000)
        assert page.evaluate(ERRORS) == []
        boxes = page.locator(WIDGET_BOXES)
        boxes.first.wait_for(timeout=60_000)
        assert boxes.count() >= 1
        for k in range(boxes.count()):
            box = boxes.nth(k)
            image = box.locator("img.widget-image").first
            box.scroll_into_view_if_needed()
            image.wait_for(state="visible")
            before = image.screenshot(path=str(SHOTS / f"{path.stem}-widget{k}-before.png"))
            moved = _move_control(box)
            after = _wait_for_new_picture(image, before)
            box.screenshot(path=str(SHOTS / f"{path.stem}-widget{k}-after.png"))
            assert after != before, f"widget {k}: the picture did not change when its {moved} moved"
        page.screenshot(path=str(SHOTS / f"{path.stem}-run.png"))
        _no_widget_errors(page)
        assert not [e for e in page_errors if "widget" in e.lower()], page_errors
    finally:
        try:
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:  # the page may be gone already; the server stops every kernel at the end anyway
            pass
        page.close()


@pytest.mark.parametrize("path", STORED)
def test_stored_notebook_html_has_widget_state_and_images(path):
    """What nbviewer-like static views get: the saved state of every widget shown, and a PNG in its cell."""
    nb = nbformat.read(path, as_version=4)
    html, _ = HTMLExporter().from_notebook_node(nb)
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">\s*(.*?)\s*</script>', html, re.S)
    assert state, "no saved widget state in the HTML"
    shown = run_notebooks.shown_widgets(nb)
    assert shown and all(model_id in state.group(1) for model_id in shown)
    assert len(re.findall(r'<img[^>]*src="data:image/png;base64,', html)) >= len(shown)
