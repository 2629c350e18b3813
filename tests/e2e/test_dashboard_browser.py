"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium) against the real broker: log in, see an alert arrive live, open it,
record a decision, and find the decision on ``alerts.decisions``.

Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from unit.sinks.sink_samples import make_alert_record

from cargowatch.kafka import ensure_topics, make_consumer, make_producer
from cargowatch.settings import Settings
from schemas.codec import Codec
from schemas.model import Alert
from sinks.dashboard.users import add_user

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
    "--disable-dev-shm-usage",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``cargowatch dashboard`` as its own process on a free port; yields its URL."""
    asyncio.run(ensure_topics(settings))
    users = tmp_path / "users.json"
    add_user(users, "a.ortiz", "officer-pass", "officer", "Ana Ortiz")
    port = _free_port()
    env = {
        **os.environ,
        "CARGOWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CARGOWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "CARGOWATCH_CONSUMER_GROUP": settings.consumer_group,
        "CARGOWATCH_USERS_FILE": str(users),
        "CARGOWATCH_STATE_DIR": settings.state_dir,
    }
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "cargowatch"), "dashboard", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                    if b'"caught_up": true' in resp.read():
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "dashboard did not start:\n" + (tmp_path / "dashboard.log").read_text()
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="cw-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"dashboard-{name}.png"))


async def _produce(settings: Settings, alerts: list[Alert]) -> None:
    codec = Codec()
    producer = make_producer(settings)
    await producer.start()
    try:
        for alert in alerts:
            await producer.send_and_wait(
                settings.topics.alerts, codec.encode("Alert", alert), key=alert.manifest_id.encode()
            )
    finally:
        await producer.stop()


async def _read_decisions(settings: Settings, want: int, timeout: float = 20.0) -> list[dict]:
    codec = Codec()
    consumer = make_consumer(
        settings, settings.topics.decisions, group_id=None, isolation_level="read_committed"
    )
    await consumer.start()
    found: list[dict] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            found += [codec.decode("Decision", r.value) for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()
    return found


def test_officer_sees_an_alert_live_and_decides(
    settings: Settings, dashboard: str, browser: WebDriver
) -> None:
    wait = WebDriverWait(browser, 20)
    # an alert already on the topic before the dashboard started: rebuilt from Kafka
    asyncio.run(
        _produce(
            settings, [make_alert_record("24NL0000000000100", 1, lane="YELLOW", referral="RFI")]
        )
    )

    browser.get(dashboard + "/")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert "/login" in browser.current_url
    _shot(browser, "1-login")
    browser.find_element(By.ID, "username").send_keys("a.ortiz")
    browser.find_element(By.ID, "password").send_keys("officer-pass")
    browser.find_element(By.ID, "login").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-alert-id="24NL0000000000100:1"]'))
    )

    # a new alert arrives while the page is open: it appears without a reload
    browser.execute_script("window.__sameDocument = true;")
    live = make_alert_record("24NL0000000000200", 1, lane="RED", referral="DNL", mode="AIR")
    asyncio.run(_produce(settings, [live]))
    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-alert-id="24NL0000000000200:1"]'))
    )
    assert browser.execute_script("return window.__sameDocument === true;")
    assert "RED" in row.text and "DNL" in row.text and "CNSHA → NLRTM" in row.text
    first = browser.find_element(By.CSS_SELECTOR, "#alert-rows tr")
    assert first.get_attribute("data-alert-id") == live.alert_id  # newest on top
    _shot(browser, "2-board-live-alert")

    # filters: the RED alert leaves the list when only YELLOW is asked for
    Select(browser.find_element(By.ID, "f-lane")).select_by_value("YELLOW")
    wait.until(
        ec.invisibility_of_element_located(
            (By.CSS_SELECTOR, 'tr[data-alert-id="24NL0000000000200:1"]')
        )
    )
    Select(browser.find_element(By.ID, "f-lane")).select_by_value("")
    row = wait.until(
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, 'tr[data-alert-id="24NL0000000000200:1"] td.route')
        )
    )

    row.click()
    wait.until(ec.presence_of_element_located((By.ID, "hits")))
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "24NL0000000000200" in page and "DUAL_USE_GOODS" in page and "WATCHLIST_PARTY" in page
    assert (
        "BRIGHT STAR ELECTRONICS CO" in page and "3 of 4 name parts agree" in page
    )  # the match explained
    assert "EU 2021/821" in page  # evidence
    _shot(browser, "3-alert-page")

    browser.find_element(By.ID, "outcome-FALSE_POSITIVE").click()
    browser.find_element(By.ID, "reason").send_keys(
        "Handsets are consumer grade; consignor is not the listed entity."
    )
    browser.find_element(By.ID, "decide").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "Decision recorded"))
    history = browser.find_element(By.ID, "decisions").find_elements(By.TAG_NAME, "li")
    assert len(history) == 1 and "false positive" in history[0].text.lower()
    assert "a.ortiz" in browser.find_element(By.ID, "decisions").text
    _shot(browser, "4-decision-recorded")
    browser.refresh()  # the copy read back from alerts.decisions is the same decision, not a second one
    assert len(browser.find_element(By.ID, "decisions").find_elements(By.TAG_NAME, "li")) == 1

    decisions = asyncio.run(_read_decisions(settings, 1))
    assert len(decisions) == 1
    d = decisions[0]
    assert (
        d["alert_id"] == live.alert_id
        and d["manifest_id"] == "24NL0000000000200"
        and d["version"] == 1
    )
    assert d["outcome"] == "FALSE_POSITIVE" and d["officer"] == "a.ortiz"
    assert d["reason"].startswith("Handsets are consumer grade")
    assert d["rule_ids"] == ["DUAL_USE_GOODS", "WATCHLIST_PARTY"]
    assert d["trader_ids"] == ["DE123456789"]

    # back on the board the decision shows, and the hit rate per rule counts it
    browser.get(dashboard + "/")
    wait.until(
        ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, 'tr[data-alert-id="24NL0000000000200:1"]'), "Positive"
        )
    )
    assert "DUAL_USE_GOODS" in browser.find_element(By.ID, "figures").text
    _shot(browser, "5-board-after-decision")
