"""A real browser: a fulfillment user signs in, follows the work queue of paid orders to one, ships it
through the admin, and sees it shipped; and in a 1,400 px window no admin list or order page cuts a
table off.

Headless Chromium from the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them), driven by Selenium with the system driver, so nothing is downloaded. Run alone with
``make test PYTEST_ARGS="-m browser"``; the screenshot lands in ``var/test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.roles import Role
from orders.models import StoredEvent
from projections.admin import commands as admin_commands
from projections.models import OrderSummary
from tests.admin.conftest import PASSWORD
from tests.admin.test_order_admin import make_summaries
from tests.conftest import project_everything

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1600",
)
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
WAIT_SECONDS = 15


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    # A driver path of our own means Selenium Manager is never asked to find (or fetch) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


def test_fulfillment_ships_a_paid_order(
    browser: Any,
    live_server: Any,
    make_user: Callable[..., Any],
    make_order: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setattr(admin_commands, "READ_MODEL_WAIT_SECONDS", 5.0)
    order_id = make_order("paid", project=False)
    project_everything()
    clerk = make_user(Role.FULFILLMENT, username="fran")
    wait = WebDriverWait(browser, WAIT_SECONDS)

    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(clerk.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "dashboard")))

    # The work queue of paid orders not yet shipped leads to exactly this order.
    queue = browser.find_element(By.ID, "queue-to-ship")
    assert queue.find_element(By.CLASS_NAME, "ops-value").text == "1"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "admin-dashboard.png"))
    queue.click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, ".badge-done").text == "paid"
    assert rows[0].find_element(By.CSS_SELECTOR, ".badge-quiet").text == "unfulfilled"
    rows[0].find_element(By.CSS_SELECTOR, "th a").click()
    # Fulfillment may ship, deliver and add notes: no payment, refund or cancel buttons.
    shown = {
        a.get_attribute("data-action") for a in browser.find_elements(By.CSS_SELECTOR, "#order-actions a")
    }
    assert shown == {"ship", "note"}  # "deliver" is greyed out: nothing shipped yet
    browser.find_element(By.CSS_SELECTOR, "#order-actions a[data-action=ship]").click()

    wait.until(ec.presence_of_element_located((By.ID, "order-action-form")))
    browser.find_element(By.NAME, "carrier").send_keys("DHL")
    browser.find_element(By.NAME, "tracking_number").send_keys("JD0146000033")
    browser.find_element(By.CSS_SELECTOR, "#order-action-form input[type=submit]").click()

    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message.startswith("Ship items: done on ORD-")
    status = browser.find_element(By.CSS_SELECTOR, ".fieldBox.field-fulfillment .readonly .badge").text
    assert status == "shipped"
    assert "JD0146000033" in browser.find_element(By.ID, "order-shipments").text
    assert "ShipmentDispatched" in browser.find_element(By.ID, "order-timeline").text
    assert browser.save_screenshot(str(ARTIFACTS / "admin-ship.png"))

    shipped = StoredEvent.objects.get(stream_id=order_id, event_type="ShipmentDispatched")
    assert shipped.metadata["actor"] == f"user:{clerk.pk}"
    assert shipped.payload["tracking_number"] == "JD0146000033"


# Every table that is wider than the box it sits in (cut off, or scrolled sideways), and a page wider
# than the window.
OVERFLOWS = """
const problems = [];
const page = document.documentElement;
if (page.scrollWidth > page.clientWidth) {
  problems.push(`the page is ${page.scrollWidth}px wide in a ${page.clientWidth}px window`);
}
for (const table of document.querySelectorAll("table")) {
  if (!table.offsetParent) continue;  // not shown
  const box = table.parentElement;
  if (table.scrollWidth > box.clientWidth) {
    const name = table.id || table.closest("[id]")?.id || box.className;
    problems.push(`table ${name}: ${table.scrollWidth}px in a ${box.clientWidth}px box`);
  }
}
return problems;
"""


def test_no_admin_list_or_order_page_cuts_a_table_off_at_1400_px(
    browser: Any,
    live_server: Any,
    make_user: Callable[..., Any],
    make_order: Callable[..., Any],
) -> None:
    from django.contrib import admin
    from django.urls import reverse
    from selenium.webdriver.common.by import By

    order_id = make_order("delivered", project=False)
    make_order("paid", project=False)
    project_everything()
    boss = make_user(Role.MANAGER, username="morgan")
    # The widest row the list can show: the longest states, a large total, a long e-mail address.
    make_summaries(1, customer_id=boss.pk, status="completed", payment="partially_refunded")
    OrderSummary.objects.filter(number="ORD-900000").update(
        fulfillment_status="partially_shipped",
        total=9_999_999,
        customer_email="a.very.long.name.of.a.customer@subdomain.example-company.com",
    )
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(boss.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert browser.get_window_size()["width"] == 1400

    pages = [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]
    event = StoredEvent.objects.filter(stream_id=order_id).order_by("position").last()
    assert event is not None
    pages += [
        "/admin/",
        reverse("admin:projections_ordersummary_change", args=[order_id]),
        reverse("admin:orders_storedevent_change", args=[event.pk]),
    ]
    cut_off = {}
    for url in pages:
        browser.get(f"{live_server.url}{url}")
        assert "login" not in browser.current_url, url
        problems = browser.execute_script(OVERFLOWS)
        if url == reverse("admin:projections_ordersummary_changelist"):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(ARTIFACTS / "admin-order-list-1400.png"))
        if problems:
            cut_off[url] = problems
    assert cut_off == {}
