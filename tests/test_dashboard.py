"""The usage page (/_emulator/) and `python -m emulator status`.

(a) plain HTTP: the page and its static files, their content types, nothing from another host;
(b) the `status` command against a running `python -m emulator`;
(c) a real headless browser (Debian's Chromium + chromedriver, driven by Selenium): load the
    page, make requests through the openai SDK, watch the numbers change, buy a pack, and keep a
    screenshot under `.artifacts/` (gitignored).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from emulator.config import Config
from emulator.harness import RunningEmulator, start_emulator
from emulator.journal import BODY_LIMIT
from emulator.testing import TokenPlan
from tests.test_cli import cli_server, run_cli

MODEL = "qwen3.6-plus"
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
URL = re.compile(r"\b(?:https?:)?//([A-Za-z0-9.\-]+)", re.IGNORECASE)
STATIC = ("dashboard.css", "dashboard.js")


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def ask(plan: TokenPlan | RunningEmulator, text: str = "hello") -> None:
    client = openai.OpenAI(**plan.openai_kwargs(max_retries=0))
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])


# ---- (a) plain HTTP -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/_emulator/", "text/html"),
        ("/_emulator/static/dashboard.css", "text/css"),
        ("/_emulator/static/dashboard.js", "text/javascript"),
    ],
)
def test_page_and_static_files_are_served(token_plan: TokenPlan, path: str, kind: str) -> None:
    status, content_type, body = fetch(token_plan.url + path)
    assert status == 200
    assert content_type.startswith(kind), content_type
    assert "charset=utf-8" in content_type.lower()
    hosts = set(URL.findall(body.decode("utf-8")))
    assert not hosts, f"{path} refers to other hosts: {hosts}"


def test_page_links_its_own_files_only(token_plan: TokenPlan) -> None:
    _, _, body = fetch(token_plan.url + "/_emulator/")
    page = body.decode()
    assert 'href="static/dashboard.css"' in page
    assert 'src="static/dashboard.js"' in page
    assert "@import" not in page and "@font-face" not in page


def test_bare_base_redirects_to_the_page(token_plan: TokenPlan) -> None:
    status, content_type, _ = fetch(token_plan.url + "/_emulator")
    assert status == 200 and content_type.startswith("text/html")


@pytest.mark.parametrize("name", ["nope.js", "..%2Fapi.py", "index.py"])
def test_unknown_static_files_are_404(token_plan: TokenPlan, name: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(f"{token_plan.url}/_emulator/static/{name}")
    assert caught.value.code == 404


def test_journal_keeps_bodies_for_the_row_details(token_plan: TokenPlan) -> None:
    ask(token_plan, "remember me")
    listed = token_plan.admin.get("/journal", limit=1, bodies=0)["entries"][0]
    assert "request_body" not in listed
    entry = token_plan.admin.get(f"/journal/{listed['request_id']}")
    assert json.loads(entry["request_body"])["messages"][0]["content"] == "remember me"
    assert json.loads(entry["response_body"])["object"] == "chat.completion"
    assert token_plan.admin.journal(limit=1)[0]["request_body"] == entry["request_body"]


def test_bodies_are_cut_and_survive_the_state_file(tmp_path: Path) -> None:
    state = str(tmp_path / "plan.sqlite")
    first = start_emulator(Config(state_file=state))
    try:
        ask(first, "x" * 40_000)
        kept = first.runtime.journal.entries[-1].request_body
    finally:
        first.stop()
    assert kept is not None and len(kept) <= BODY_LIMIT + len("…[truncated]")
    assert kept.endswith("…[truncated]")
    second = start_emulator(Config(state_file=state))
    try:
        again = second.runtime.journal.entries[-1]
    finally:
        second.stop()
    assert again.request_body == kept
    assert again.response_body and json.loads(again.response_body)["object"] == "chat.completion"


# ---- (b) the status command ---------------------------------------------------------------


def test_status_prints_the_overview_table() -> None:
    with cli_server("--clock", "2026-05-01T00:00:00Z") as server:
        port = server.url.rsplit(":", 1)[1]
        client = openai.OpenAI(base_url=server.url + "/compatible-mode/v1", api_key=server.key)
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        with urllib.request.urlopen(
            urllib.request.Request(
                server.url + "/_emulator/packs",
                data=b"{}",
                headers={"Content-Type": "application/json"},
            ),
            timeout=5,
        ):
            pass
        done = run_cli("status", "--port", port)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Clock        2026-05-01T00:00:00Z (frozen)" in out
    assert re.search(r"^SEAT\s+MEMBER\s+TIER\s+KEY\s+STATUS\s+USED\s+QUOTA\s+LEFT", out, re.M)
    assert f"sk-sp-****{server.key[-4:]}" in out
    assert server.key not in out  # masked, as the page shows it
    assert re.search(r"^PACK\s+SIZE\s+LEFT\s+EXPIRES", out, re.M)
    assert "Next reset" in out and "Seats" in out


def test_status_without_an_emulator_is_a_clear_error() -> None:
    done = run_cli("status", "--port", "1")
    assert done.returncode == 1
    assert "no emulator answering at http://127.0.0.1:1" in done.stderr
    assert not done.stdout


# ---- (c) a real headless browser ----------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's Chromium and chromedriver, installed with apt-get when missing (the project's
    own test set-up: never skipped)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if shutil.which("apt-get") is None:
        pytest.fail("the browser tests need /usr/bin/chromium and apt-get to install it")
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"])
    for step in steps:
        done = subprocess.run(
            step,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},  # no prompt, no stdin
        )
        if done.returncode != 0:
            pytest.fail(
                f"could not install Chromium ({' '.join(step)} exited {done.returncode}; "
                f"run as root, or install the Debian packages chromium and chromium-driver): "
                f"{done.stderr[-1000:]}"
            )
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("apt-get ran but /usr/bin/chromium or /usr/bin/chromedriver is missing")


@pytest.fixture(scope="module")
def browser(chromium: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(15)
    yield driver
    driver.quit()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 6.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # an element mid-redraw (stale) counts as not yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not show {what} within {timeout}s")
        time.sleep(0.1)


def cells(driver: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_page_follows_requests_and_buys_a_pack(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.by import By

    browser.get(token_plan.url + "/_emulator/")
    wait_for(lambda: cells(browser, "#seats td.used") == ["0"], "the seat with nothing used")
    wait_for(lambda: "no requests yet" in browser.find_element(By.ID, "journal").text, "empty")
    assert "no packs bought" in browser.find_element(By.ID, "packs").text
    masked = token_plan.admin.seat()["key_masked"]
    assert masked in browser.find_element(By.ID, "seats").text
    assert cells(browser, "#seats .role") == ["member"]  # the management API's role

    for text in ("one", "two", "three"):
        ask(token_plan, text)
    used = token_plan.admin.seat()["used"]
    assert used > 0
    wait_for(lambda: len(cells(browser, "#journal tr[data-id]")) == 3, "three journal rows")
    wait_for(lambda: cells(browser, "#seats td.used") != ["0"], "the seat's Credits used")
    row = browser.find_element(By.CSS_SELECTOR, "#journal tr[data-id]")
    assert MODEL in row.text and "200" in row.text and masked in row.text

    row.click()  # the row's details, with the bodies
    wait_for(lambda: browser.find_element(By.ID, "details").is_displayed(), "the details")
    wait_for(lambda: "three" in browser.find_element(By.ID, "details-request").text, "bodies")
    assert "chat.completion" in browser.find_element(By.ID, "details-response").text

    buy = browser.find_element(By.ID, "buy-pack")
    assert buy.tag_name == "button"
    buy.click()
    wait_for(lambda: cells(browser, "#packs tr[data-pack]"), "a pack")
    assert len(token_plan.admin.state()["packs"]) == 1

    before = browser.find_element(By.ID, "clock").text
    browser.find_element(By.ID, "advance-day").click()
    wait_for(lambda: browser.find_element(By.ID, "clock").text != before, "the clock moved")
    options = cells(browser, "#scenario-select option")
    assert "default" in options
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def test_page_loads_fast_with_a_full_journal(
    browser: Any, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(Config(clock="2026-05-01T00:00:00Z"))
    ask(emulator, "a long journal")
    journal = emulator.runtime.journal
    model = journal.entries[-1]
    for index in range(journal.entries.maxlen or 10_000):
        entry = copy.copy(model)
        entry.request_id = f"req-{index:05d}"
        journal.record(entry)
    assert len(journal.entries) == 10_000
    browser.get(emulator.url + "/_emulator/")
    ready = "return performance.getEntriesByName('dashboard-ready').map(m => m.startTime)[0]"
    elapsed = wait_for(lambda: browser.execute_script(ready), "its first draw", 10)
    rows = browser.execute_script("return document.querySelectorAll('#journal tr[data-id]').length")
    assert rows == 200
    print(f"\npage loaded and drew 200 of 10,000 journal rows in {elapsed:.0f} ms")
    assert elapsed < 1000
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-10k.png"))


def open_page(browser: Any, plan: TokenPlan) -> None:
    browser.get(plan.url + "/_emulator/")
    wait_for(lambda: cells(browser, "#seats td.used"), "the seats")


def text_of(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    text: str = browser.find_element(By.ID, element_id).text
    return text


def next_reset(browser: Any) -> str:
    script = (
        "const dt = [...document.querySelectorAll('#subscription dt')]"
        ".find(d => d.textContent === 'Next reset'); return dt && dt.nextElementSibling.textContent"
    )
    value: str = browser.execute_script(script)
    return value


def test_clock_plus_a_month_moves_the_clock_and_the_next_reset(
    browser: Any, token_plan: TokenPlan
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, token_plan)
    clock, reset = text_of(browser, "clock"), wait_for(lambda: next_reset(browser), "next reset")
    browser.find_element(By.ID, "advance-month").click()
    wait_for(lambda: next_reset(browser) != reset, "the next reset moved")
    assert text_of(browser, "clock")[:10] != clock[:10]
    assert next_reset(browser) > reset  # ISO-like text sorts by time


def test_reset_empties_the_journal_and_the_seat(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, token_plan)
    ask(token_plan, "one")
    ask(token_plan, "two")
    wait_for(lambda: len(cells(browser, "#journal tr[data-id]")) == 2, "two journal rows")
    wait_for(lambda: cells(browser, "#seats td.used") != ["0"], "the seat's Credits used")
    browser.find_element(By.ID, "reset").click()
    wait_for(lambda: "no requests yet" in text_of(browser, "journal"), "an empty journal")
    wait_for(lambda: cells(browser, "#seats td.used") == ["0"], "the seat back to 0")
    assert token_plan.admin.journal() == []


def test_switching_to_the_all_spent_scenario(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, token_plan)
    wait_for(lambda: text_of(browser, "scenario") == "default", "the default scenario")
    wait_for(lambda: cells(browser, "#scenario-select option"), "the scenario list")
    try:
        Select(browser.find_element(By.ID, "scenario-select")).select_by_value("all-spent")
        browser.find_element(By.ID, "switch-scenario").click()
        wait_for(lambda: text_of(browser, "scenario") == "all-spent", "the new scenario")
        wait_for(lambda: cells(browser, "#seats td.left") == ["0"], "the seat spent")
        assert cells(browser, "#seats td.used") == ["100,000"]
    finally:
        Select(browser.find_element(By.ID, "scenario-select")).select_by_value("default")
        browser.find_element(By.ID, "switch-scenario").click()
        wait_for(lambda: text_of(browser, "scenario") == "default", "default again")
    assert token_plan.admin.state()["scenario"] == "default"


@pytest.mark.token_plan(scenario="reset-next-month")
def test_status_filter_shows_only_refused_rows(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with pytest.raises(openai.RateLimitError):
        ask(token_plan, "refused")
    token_plan.admin.advance("+1m")  # past the reset: answered again
    ask(token_plan, "answered")
    open_page(browser, token_plan)
    wait_for(lambda: len(cells(browser, "#journal tr[data-id]")) == 2, "both rows")
    Select(browser.find_element(By.ID, "status-filter")).select_by_visible_text("429")
    wait_for(lambda: len(cells(browser, "#journal tr[data-id]")) == 1, "one row")
    assert cells(browser, "#journal tr[data-id] td:nth-child(6)") == ["429"]
    assert text_of(browser, "journal-count") == "1 shown"


def test_keyboard_opens_a_journal_row(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ask(token_plan, "by keyboard")
    open_page(browser, token_plan)
    wait_for(lambda: cells(browser, "#journal tr[data-id]"), "a journal row")
    on_row = "return !!document.activeElement.matches('#journal tr[data-id]')"
    for _ in range(40):
        if browser.execute_script(on_row):
            break
        ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.execute_script(on_row), "Tab never reached a journal row"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_for(lambda: "by keyboard" in text_of(browser, "details-request"), "the details")


A11Y_PROBLEMS = """
const problems = [];
const named = (el) => (el.getAttribute('aria-label') || '').trim() ||
  [...(el.getAttribute('aria-labelledby') || '').split(/\\s+/)].filter(Boolean)
    .map((id) => document.getElementById(id)?.textContent.trim()).join('');
for (const el of document.querySelectorAll('input, select, textarea')) {
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
    el.closest('label') || named(el);
  if (!labelled) problems.push(`no label: ${el.outerHTML.slice(0, 80)}`);
}
for (const el of document.querySelectorAll('button')) {
  if (!(el.textContent.trim() || named(el) || (el.title || '').trim()))
    problems.push(`no name: ${el.outerHTML.slice(0, 80)}`);
}
const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const checked = [];
for (const el of document.querySelectorAll(
    'body, header h1, #subscription dt, #subscription dd, th, td, button, select, label')) {
  if (!el.textContent.trim() || !el.getClientRects().length) continue;
  const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  checked.push(el.tagName);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.outerHTML.slice(0, 80)}`);
}
return {problems, checked: checked.length};
"""


def test_page_basics_for_accessibility(browser: Any, token_plan: TokenPlan) -> None:
    ask(token_plan, "for the table")
    open_page(browser, token_plan)
    wait_for(lambda: cells(browser, "#journal tr[data-id]"), "a journal row")
    found = browser.execute_script(A11Y_PROBLEMS)
    assert found["checked"] > 20  # body, table cells, buttons…
    assert found["problems"] == []


# ---- (d) any screen: phone, laptop, wide ---------------------------------------------------

VIEWPORTS = {
    "phone": (390, 844),
    "small-laptop": (1280, 800),
    "laptop": (1366, 768),
    "wide": (1920, 1080),
}

# What is wider than the viewport, if anything: the page's own scroll width and the elements
# that stick out past the right edge (not those inside a scrolling box, which is the point).
OVERFLOW = """
const width = window.innerWidth;
const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
  const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; }
  return false; };
const out = [...document.body.querySelectorAll('*')]
  .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > width + 0.5 &&
    !scrolls(el))
  .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`).slice(0, 10);
return {width, scroll: document.documentElement.scrollWidth, out};
"""

# The boxes that scroll sideways because their content does not fit (tables, the chart).
CLIPPED = """
return [...document.querySelectorAll('.scroll-x, .scroll')]
  .filter((el) => el.scrollWidth > el.clientWidth)
  .map((el) => el.id || el.querySelector('tbody, div').id);
"""

CHART = """
const style = (el) => parseFloat(getComputedStyle(el).fontSize);
const shown = (el) => el.getClientRects().length > 0 &&
  getComputedStyle(el).visibility !== 'hidden';
const values = [...document.querySelectorAll('#by-day .value')];
const dates = [...document.querySelectorAll('#by-day .date')];
return {values: values.filter(shown).map((el) => el.textContent),
        dates: dates.filter(shown).map((el) => el.textContent),
        sizes: [...values, ...dates].map(style)};
"""


@contextlib.contextmanager
def viewport(browser: Any, width: int, height: int) -> Iterator[None]:
    """The page laid out at exactly width x height CSS pixels (a phone as a phone: mobile)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def full_screenshot(browser: Any, name: str) -> None:
    """The whole page, not only the viewport, under .artifacts/ (to look at): the viewport made
    as tall as the page (same width, so the same layout), then a plain screenshot."""
    width, height, mobile = browser.execute_script(
        "return [innerWidth, document.documentElement.scrollHeight, innerWidth < 600]"
    )
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / name))


def busy_plan(plan: TokenPlan) -> None:
    """Every card with rows: three seats (one suspended), two packs, answered and refused
    requests (one naming a model that does not exist)."""
    plan.admin.post("/seats", {"tier": "max", "member": "bob-with-a-rather-long-name"})
    plan.admin.post("/seats", {"tier": "standard", "member": "carol"})
    plan.admin.post("/seats/seat-3/suspend")
    plan.admin.post("/packs")
    plan.admin.post("/packs")
    for text in ("one", "two", "three"):
        ask(plan, text)
    client = openai.OpenAI(**plan.openai_kwargs(max_retries=0))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="qwen-no-such-model", messages=[{"role": "user", "content": "hi"}]
        )


@pytest.mark.parametrize("size", VIEWPORTS)
def test_page_fits_the_screen(browser: Any, token_plan: TokenPlan, size: str) -> None:
    from selenium.webdriver.common.by import By

    busy_plan(token_plan)
    width, height = VIEWPORTS[size]
    with viewport(browser, width, height):
        open_page(browser, token_plan)
        wait_for(lambda: len(cells(browser, "#journal tr[data-id]")) == 4, "four journal rows")
        wait_for(lambda: len(cells(browser, "#packs tr[data-pack]")) == 2, "two packs")
        wait_for(lambda: "qwen-no-such-model" in text_of(browser, "refused"), "the refused one")
        for days in ("7", "30"):  # the widest content the page draws
            browser.find_element(By.CSS_SELECTOR, f'input[name="days"][value="{days}"]').click()
            wait_for(
                lambda days=days: len(cells(browser, "#by-day .date")) == int(days), "the days"
            )
            found = browser.execute_script(OVERFLOW)
            assert found["scroll"] <= found["width"] == width, found
            assert found["out"] == [], found
            if width >= 1280:  # a laptop shows every table and the 30 days whole, unscrolled
                assert browser.execute_script(CLIPPED) == [], size
        chart = browser.execute_script(CHART)
        full_screenshot(browser, f"dashboard-{size}.png")
    assert len(chart["values"]) == 30 and len(chart["dates"]) == 30
    assert min(chart["sizes"]) >= 12, chart["sizes"]
    # Today's column (the last) says what the seat used; the other days say 0.
    used = token_plan.admin.seat()["used"]
    assert used > 0
    assert written(chart["values"][-1]) == pytest.approx(used, rel=0.005), chart["values"]
    assert chart["values"][:-1] == ["0"] * 29


def written(value: str) -> float:
    """A chart value back to Credits: "0.72", "1.23K", "100K" (compact, three digits)."""
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(value[-1:], 1.0)
    return float(value.rstrip("KMB")) * scale


def badge_shown(browser: Any) -> bool:
    shown: bool = browser.execute_script(
        "const b = document.getElementById('clock-frozen');"
        "return b.getClientRects().length > 0 && getComputedStyle(b).display !== 'none'"
    )
    return shown


def test_frozen_badge_only_on_a_frozen_clock(browser: Any, token_plan: TokenPlan) -> None:
    assert token_plan.admin.get("/clock")["frozen"] is False  # the default: real time
    open_page(browser, token_plan)
    wait_for(lambda: text_of(browser, "clock") != "…", "the clock")
    assert not badge_shown(browser)
    token_plan.admin.post("/clock", {"freeze": True})
    wait_for(lambda: badge_shown(browser), "the frozen badge")
    assert text_of(browser, "clock-frozen") == "frozen"
    token_plan.admin.post("/clock", {"freeze": False})
    wait_for(lambda: not badge_shown(browser), "the badge gone on the real clock")


GREEN = (26, 127, 55)  # --ok, the colour of "active"


@pytest.mark.token_plan(scenario="all-spent")
def test_a_spent_seat_says_why_it_cannot_be_used(browser: Any, token_plan: TokenPlan) -> None:
    from selenium.webdriver.common.by import By

    with pytest.raises(openai.RateLimitError):
        ask(token_plan, "refused")
    seat = token_plan.admin.seat()
    assert seat["status"] == "spent"
    assert seat["why"] == (
        "seat quota and every shared pack used up: requests get 429 until "
        "2026-06-10T00:00:00Z, a pack or an upgrade"
    )
    with viewport(browser, *VIEWPORTS["phone"]):
        open_page(browser, token_plan)
        wait_for(lambda: cells(browser, "#seats td.status"), "the seat's status")
        cell = browser.find_element(By.CSS_SELECTOR, "#seats td.status")
        assert cell.text.splitlines() == ["spent", seat["why"]]
        color = browser.execute_script("return getComputedStyle(arguments[0]).color", cell)
        rgb = tuple(int(part) for part in re.findall(r"\d+", color)[:3])
        assert rgb != GREEN and rgb[0] > rgb[1], color  # red-ish, not the green of "active"
        wait_for(lambda: "429" in text_of(browser, "refused"), "the refused request")
        row = cells(browser, "#refused tr td")
        assert row[1:5] == ["429", "insufficient_quota", MODEL, "alice"], row
        full_screenshot(browser, "dashboard-all-spent-phone.png")

    # A pack restores it: the seat is usable again, on the pack's Credits.
    token_plan.admin.post("/packs")
    seat = token_plan.admin.seat()
    assert (seat["status"], seat["why"]) == (
        "active",
        "seat quota used up: drawing on shared packs",
    )
    ask(token_plan, "answered")


@pytest.mark.parametrize(
    ("move", "status", "why"),
    [
        ("/seats/seat-1/suspend", "suspended", "suspended by an admin: requests get 403"),
        ("/seats/seat-1/reclaim", "unassigned", "no member holds it: assign it to issue a key"),
    ],
)
def test_every_unusable_seat_says_why(
    token_plan: TokenPlan, move: str, status: str, why: str
) -> None:
    token_plan.admin.post(move)
    seat = token_plan.admin.seat()
    assert (seat["status"], seat["why"]) == (status, why)


@pytest.mark.token_plan(scenario="reset-next-month")
def test_a_spent_seat_without_packs_says_so(token_plan: TokenPlan) -> None:
    with pytest.raises(openai.RateLimitError):
        ask(token_plan)
    seat = token_plan.admin.seat()
    assert (seat["status"], seat["why"]) == (
        "spent",
        "seat quota used up, no live shared pack: requests get 429 until "
        "2026-05-10T00:00:00Z, a pack or an upgrade",
    )
    token_plan.admin.advance("+1m")  # the reset: served again
    assert (token_plan.admin.seat()["status"], token_plan.admin.seat()["why"]) == ("active", "")
    ask(token_plan)


@pytest.mark.token_plan(clock="2026-05-01T00:00:00Z")
def test_an_expired_subscription_says_why(token_plan: TokenPlan) -> None:
    end = token_plan.admin.state()["subscription"]["end"]
    token_plan.admin.set_clock(end)
    seat = token_plan.admin.seat()
    assert seat["status"] == "expired"
    assert seat["why"] == f"the subscription ended {end}: requests get 401"
    with pytest.raises(openai.AuthenticationError):
        ask(token_plan)


def test_status_shows_a_spent_seat_as_the_page_does() -> None:
    with cli_server("--scenario", "all-spent") as server:
        port = server.url.rsplit(":", 1)[1]
        client = openai.OpenAI(
            base_url=server.url + "/compatible-mode/v1", api_key=server.key, max_retries=0
        )
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        done = run_cli("status", "--port", port)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    row = next(line for line in out.splitlines() if line.startswith("seat-1 "))
    assert row.split()[1:5] == ["alice", "pro", f"sk-sp-****{server.key[-4:]}", "spent"], row
    assert (
        "  seat-1 spent: seat quota and every shared pack used up: requests get 429 until "
        "2026-06-10T00:00:00Z, a pack or an upgrade"
    ) in out.splitlines()
    assert "active" not in out
    assert re.search(rf"^\S+\s+429\s+insufficient_quota\s+{re.escape(MODEL)}\s", out, re.M), out
