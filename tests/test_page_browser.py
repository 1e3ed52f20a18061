"""The risk-list page in headless Chromium: key form, ranking, band filter, account detail chart, Turkish.

Needs the Debian packages chromium and chromium-driver (`make browser`, a dependency of
`make test`, installs them); skipped with a message where they are absent. Deselect with
``-k "not browser"``. Screenshots are saved in the test's tmp_path (printed with ``-s``).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from api_support import AUTH, KEY, backfill_history, loaded_app, make_world_and_model

CHROMIUM, CHROMEDRIVER = (
    shutil.which("chromium") or "/usr/bin/chromium",
    shutil.which("chromedriver") or "/usr/bin/chromedriver",
)
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
    "--window-size=1440,1000",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="Chromium/chromedriver not installed: run `make browser` (apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free loopback port, served by uvicorn in a thread."""
    world, model = make_world_and_model(tmp_path_factory.mktemp("browser"))
    backfill_history(world, model, ["2025-03-01", "2025-04-01", "2025-05-01"])  # the served date makes four
    app = loaded_app(model_dir=model, data_dir=world)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def wait_for(driver, condition, timeout: float = 20):
    """Wait until ``condition`` holds; a row replaced by a re-render mid-check just means "look again"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def rows(driver) -> list[tuple[str, str]]:
    """The listed (account, band) pairs, read in one script call so a re-render cannot split the read."""
    return [
        tuple(r)
        for r in driver.execute_script(
            "return Array.from(document.querySelectorAll('#rows tr'), r => [r.dataset.account, r.dataset.band]);"
        )
    ]


def test_browser_risk_list_filter_and_detail(server: str, driver, tmp_path: Path) -> None:
    """It asks for the key, lists accounts in ARR-at-risk order, filters to red, opens one with its bar chart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    api = httpx.Client(base_url=server, headers=AUTH)
    driver.get(f"{server}/")
    wait_for(driver, lambda d: d.find_element(By.ID, "key").is_displayed())
    driver.find_element(By.ID, "key").send_keys(KEY)
    driver.find_element(By.ID, "key-submit").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-list") == "loaded")
    first_page = api.get("/v1/risk-list", params={"page_size": 50}).json()
    assert [a for a, _ in rows(driver)] == [a["account_id"] for a in first_page["items"]]
    driver.save_screenshot(str(tmp_path / "risk_list.png"))

    red = api.get("/v1/risk-list", params={"band": "red", "page_size": 50}).json()
    assert red["total"] > 0
    Select(driver.find_element(By.ID, "band")).select_by_value("red")
    wait_for(driver, lambda d: [a for a, _ in rows(d)] == [a["account_id"] for a in red["items"]])
    assert {band for _, band in rows(driver)} == {"red"}

    account = red["items"][0]
    wait_for(
        driver,
        lambda d: d.find_element(By.CSS_SELECTOR, f'#rows tr[data-account="{account["account_id"]}"]').click() or True,
    )
    wait_for(
        driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-detail") == account["account_id"]
    )
    bars = driver.find_elements(By.CSS_SELECTOR, "#d-chart svg rect.bar")
    flags = [f for f in account["red_flags"] + account["green_flags"] if f["value"] is not None]
    assert len(bars) == len(flags) > 0
    chart_text = driver.find_element(By.ID, "d-chart").text
    assert account["red_flags"][0]["sentence"] in chart_text
    shot = tmp_path / "account_detail.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshots: {tmp_path}")

    driver.find_element(By.ID, "back").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "list-view").is_displayed())
    # No script errors and nothing blocked by the Content-Security-Policy; the one expected failure is
    # the first visit's 401, which is how the page learns that it needs the key.
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "status of 401" not in e["message"]]
    assert not severe, severe


def test_browser_page_in_turkish(server: str, driver, tmp_path: Path) -> None:
    """?lang=tr words the page and the flags in Turkish."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server}/?lang=tr")
    if driver.find_element(By.ID, "key").is_displayed():
        driver.find_element(By.ID, "key").send_keys(KEY)
        driver.find_element(By.ID, "key-submit").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-list") == "loaded")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Risk altındaki hesaplar"
    items = httpx.get(f"{server}/v1/risk-list", params={"page_size": 50, "lang": "tr"}, headers=AUTH).json()["items"]
    flagged = next(a for a in items if a["red_flags"])
    sentence = flagged["red_flags"][0]["sentence"]
    wait_for(
        driver,
        lambda d: sentence in d.find_element(By.CSS_SELECTOR, f'#rows tr[data-account="{flagged["account_id"]}"]').text,
    )
    driver.save_screenshot(str(tmp_path / "risk_list_tr.png"))


def sign_in(driver, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(
        driver,
        lambda d: (
            d.find_element(By.ID, "key").is_displayed()
            or d.find_element(By.TAG_NAME, "body").get_attribute("data-list") == "loaded"
        ),
    )
    if driver.find_element(By.ID, "key").is_displayed():
        driver.find_element(By.ID, "key").send_keys(KEY)
        driver.find_element(By.ID, "key-submit").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-list") == "loaded")


def list_state(driver) -> dict:
    """Rows (account, name, ARR) and the query the page last loaded, in one script call."""
    return driver.execute_script(
        "return {query: document.body.dataset.query || '', rows: Array.from(document.querySelectorAll('#rows tr'),"
        " r => [r.dataset.account, r.querySelector('.name').textContent, r.dataset.arr])};"
    )


def no_sideways_scroll(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth;")


def test_browser_account_story_search_sort_and_800px(server: str, driver, tmp_path: Path) -> None:
    """An account with history shows its chart, a breakdown summing to its score, the change and the what-if;
    search finds an account by name; sorting by ARR orders the rows; at 800 px nothing scrolls sideways."""
    from selenium.webdriver.common.by import By

    api = httpx.Client(base_url=server, headers=AUTH)
    driver.set_window_size(1440, 1000)
    sign_in(driver, f"{server}/")
    listed = api.get("/v1/risk-list", params={"page_size": 50}).json()["items"]
    account = next(a for a in listed if len(api.get(f"/v1/accounts/{a['account_id']}/history").json()["items"]) >= 3)
    history = api.get(f"/v1/accounts/{account['account_id']}/history").json()["items"]
    change = api.get(f"/v1/accounts/{account['account_id']}/changes").json()["change"]
    whatif = api.get(f"/v1/accounts/{account['account_id']}/what-if").json()

    # Search by a piece of the name, typed in another case.
    part = account["name"].split()[-1].lower()
    driver.find_element(By.ID, "q").send_keys(part)
    wait_for(driver, lambda d: list_state(d)["query"].startswith(part + "|"))
    found = list_state(driver)["rows"]
    assert account["account_id"] in {r[0] for r in found}
    assert all(part in name.lower() or part in acc.lower() for acc, name, _ in found)
    driver.find_element(By.ID, "q").clear()
    driver.execute_script("document.getElementById('q').dispatchEvent(new Event('input'));")
    wait_for(driver, lambda d: list_state(d)["query"] == "||")

    # Sort by ARR: the first click puts the largest ARR on top.
    driver.find_element(By.CSS_SELECTOR, '#risk-table th[data-sort="arr"] button').click()
    wait_for(driver, lambda d: list_state(d)["query"] == "|-arr|")
    arr = [float(r[2]) for r in list_state(driver)["rows"] if r[2]]
    assert len(arr) > 10 and arr == sorted(arr, reverse=True)
    driver.set_window_size(800, 1000)
    wait_for(driver, no_sideways_scroll)
    driver.save_screenshot(str(tmp_path / "risk_list_800.png"))

    # The detail page.
    driver.set_window_size(1440, 1000)
    driver.execute_script(f"location.hash = 'account=' + encodeURIComponent({account['account_id']!r});")
    wait_for(
        driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-detail") == account["account_id"]
    )
    shown = driver.execute_script(
        "return {points: Array.from(document.querySelectorAll('#breakdown-table tr.measure'), r => Number(r.dataset.points)),"
        " dots: document.querySelectorAll('#history-chart circle.health-line').length,"
        " bands: document.querySelectorAll('#history-chart line.band-line').length,"
        " score: document.querySelector('#d-cards .card .value').textContent,"
        " total: document.getElementById('breakdown-total').textContent,"
        " change: (document.getElementById('d-change-health') || {}).textContent,"
        " whatif: document.getElementById('d-whatif-sentence').textContent,"
        " text: document.getElementById('detail-view').innerText, flags: document.getElementById('d-chart').textContent};"
    )
    assert shown["dots"] == len(history) >= 3 and shown["bands"] == 2
    assert round(sum(shown["points"]) * 10) == round(account["health_score"] * 10)
    assert float(shown["score"]) == float(shown["total"]) == account["health_score"]
    assert shown["change"] == change["health_sentence"]
    assert shown["whatif"] == whatif["sentence"]
    assert "log-odds" not in shown["text"] and "no data" not in shown["flags"]
    driver.save_screenshot(str(tmp_path / "account_story.png"))
    driver.set_window_size(800, 1000)
    wait_for(driver, no_sideways_scroll)
    driver.save_screenshot(str(tmp_path / "account_story_800.png"))
    driver.set_window_size(1440, 1000)
    print(f"screenshots: {tmp_path}")


def test_browser_account_story_in_turkish(server: str, driver, tmp_path: Path) -> None:
    """The detail page speaks Turkish: headings, the change sentence, dates and decimal commas."""
    from selenium.webdriver.common.by import By

    sign_in(driver, f"{server}/?lang=tr")
    top = httpx.get(f"{server}/v1/risk-list", headers=AUTH).json()["items"][0]
    driver.execute_script(f"location.hash = 'account=' + encodeURIComponent({top['account_id']!r});")
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-detail") == top["account_id"])
    text = driver.find_element(By.ID, "detail-view").text
    assert "Sağlık skoru nasıl oluşuyor" in text and "Skoru ne yükseltir" in text
    change = httpx.get(f"{server}/v1/accounts/{top['account_id']}/changes", headers=AUTH, params={"lang": "tr"}).json()
    assert change["change"]["health_sentence"] in text
    driver.save_screenshot(str(tmp_path / "account_story_tr.png"))
