"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium through
chromium-driver, against the real build/jobq on loopback.

Run by ctest as: /usr/bin/python3 dashboard_test.py --jobq build/jobq --screenshots DIR
(Debian's python3-selenium belongs to /usr/bin/python3). Each view's screenshot is written
to DIR. Every wait is on a condition with a deadline.
"""

import argparse
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from jobq_server import WAIT_S, Server, wait_until  # test/support/jobq_server.py

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

ARGS = None
STATES = ["queued", "processing", "done", "failed", "cancelled"]
# What a hostile job would carry: markup and script that must be shown, never run.
HOSTILE_IMG = "<img src=x onerror=window.__jobq_pwned=1>"
HOSTILE_SCRIPT = "</script><script>window.__jobq_pwned=1</script>"
HOSTILE = HOSTILE_IMG + HOSTILE_SCRIPT


def new_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class DashboardCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(ARGS.jobq, *cls.server_args)
        cls.addClassCleanup(cls.server.close)
        cls.browser = new_browser()
        cls.addClassCleanup(cls.browser.quit)

    def open(self, view):
        """Goes to the view and waits until it is drawn: `main` says which hash it shows."""
        self.browser.get(f"{self.server.base}/ui/#{view}")
        wait_until(lambda: self.browser.execute_script(
            "const main = document.getElementById('main');"
            "return main !== null && main.dataset.view === location.hash"), f"the view {view} to be drawn")

    def find(self, css):
        return WebDriverWait(self.browser, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        WebDriverWait(self.browser, WAIT_S).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def text_of(self, css):
        try:
            return self.browser.find_element(By.CSS_SELECTOR, css).text
        except Exception:  # not there yet, or replaced as the view redrew
            return None

    def screenshot(self, name):
        if ARGS.screenshots:
            os.makedirs(ARGS.screenshots, exist_ok=True)
            self.browser.save_screenshot(os.path.join(ARGS.screenshots, f"{name}.png"))

    def console_errors(self):
        return [entry for entry in self.browser.get_log("browser") if entry["level"] == "SEVERE"]

    def assert_no_console_errors(self):
        errors = self.console_errors()
        self.assertEqual(errors, [], "the browser's console has errors")


def number(text):
    """A count as the page shows it (with the browser's thousands separators); None for
    anything else ("—", not there yet)."""
    digits = "".join(c for c in (text or "") if c not in ",.\u202f\u00a0 ")
    return int(digits) if digits.isdigit() else None


class Dashboard(DashboardCase):
    """Every view on a server without a token, with jobs in every state."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.server
        # done: built-in noop jobs; queued: external jobs nobody leased; processing: leased;
        # failed: failed for good; cancelled: cancelled while queued.
        for _ in range(3):
            s.submit(type="noop")
        s.submit(type="ext", queue="held")
        s.submit(type="ext", queue="held")
        s.submit(type="ext", queue="running")
        s.lease(worker="busy-worker", queues=["running"])
        s.submit(type="ext", queue="broken")
        broken_id, token = s.lease(queues=["broken"])
        s.api("POST", f"/jobs/{broken_id}/fail", {"token": token, "error": "boom: disk on fire", "retryable": False})
        cancelled = s.submit(type="ext", queue="later", delay_ms=3_600_000)
        s.api("POST", f"/jobs/{cancelled}/cancel")
        wait_until(lambda: s.api("GET", "/stats")["jobs"]["done"] == 3, "the noop jobs to be done")
        s.api("PUT", "/schedules/nightly", {"cron": "0 3 * * *", "timezone": "Europe/Berlin",
                                            "job": {"type": "noop", "payload": {"report": True}}})

    def test_1_overview_counts_equal_stats(self):
        self.open("/")
        stats = self.server.api("GET", "/stats")
        for state in STATES:
            css = f'[data-count="{state}"] .value'
            self.assertEqual(number(self.text_of(css)), stats["jobs"][state], state)
        self.assertTrue(all(stats["jobs"][state] > 0 for state in STATES), stats["jobs"])
        self.find("#overview-queues")
        self.find("#throughput")
        # The stream is live: a job submitted now shows without a reload.
        queued = stats["jobs"]["queued"]
        self.server.submit(type="ext", queue="held")
        wait_until(lambda: number(self.text_of('[data-count="queued"] .value')) == queued + 1,
                   "the overview to show a new job from the event stream")
        self.assertEqual(self.text_of("#live"), "live")
        self.screenshot("overview")
        self.assert_no_console_errors()

    def test_2_job_list_filters_and_pages_through_250_jobs(self):
        ids = self.server.api("POST", "/jobs/batch",
                              {"jobs": [{"type": "noop", "payload": {"n": i}, "queue": "paging"} for i in range(250)]})["ids"]
        wait_until(lambda: self.server.api("GET", "/queues/paging")["counts"]["done"] == 250, "250 jobs done")
        self.open("/jobs")
        self.find("#filter-queue").send_keys("paging")
        Select(self.find("#filter-state")).select_by_value("done")
        self.click("#apply-filters")
        seen = []
        pages = 0
        while True:
            wait_until(lambda: "queue=paging" in self.browser.current_url and self.browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr"),
                       "a page of the filtered list")
            rows = self.browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")
            page_ids = [int(r.get_attribute("data-job")) for r in rows]
            for r in rows:
                self.assertIn("paging", r.text)
                self.assertIn("done", r.text)
            seen += page_ids
            pages += 1
            if pages == 1:
                self.screenshot("jobs")
            next_links = self.browser.find_elements(By.CSS_SELECTOR, "#next-page")
            if not next_links:
                break
            first_of_page = page_ids[0]
            next_links[0].click()
            wait_until(lambda: self.browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")
                       and self.browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")[0].get_attribute("data-job") != str(first_of_page),
                       "the next page")
        self.assertEqual(pages, 5)
        self.assertEqual(seen, sorted(ids))
        self.assert_no_console_errors()

    def test_3_failed_job_shows_its_errors_and_is_retried_to_done(self):
        self.open("/jobs?state=failed")
        failed = self.browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")
        self.assertEqual(len(failed), 1)
        failed[0].find_element(By.CSS_SELECTOR, "a").click()
        attempts = self.find("#attempts-table")
        self.assertIn("boom: disk on fire", attempts.text)
        self.assertIn("failed", attempts.text)
        self.screenshot("job")
        job_id = int(self.browser.current_url.rsplit("/", 1)[1])
        self.click('button[data-action="retry"]')
        wait_until(lambda: self.server.job(job_id)["state"] == "queued", "the job to be queued again")
        leased, token = self.server.lease(queues=["broken"])
        self.assertEqual(leased, job_id)
        self.server.api("POST", f"/jobs/{job_id}/ack", {"token": token, "result": {"fixed": True}})
        wait_until(lambda: (self.text_of("h1") or "").endswith("done"), "the job view to show done")
        self.assertIn('"fixed": true', self.text_of("#result"))
        self.assertIn("succeeded", self.text_of("#attempts-table"))
        self.assert_no_console_errors()

    def test_4_pausing_a_queue_in_the_ui(self):
        self.open("/queues")
        row = '#queues-table tr[data-queue="held"]'
        self.find(row)
        self.assertFalse(self.server.api("GET", "/queues/held")["paused"])
        self.screenshot("queues")
        self.click(f'{row} button[data-action="pause"]')
        wait_until(lambda: self.server.api("GET", "/queues/held")["paused"], "GET /queues/held to say paused")
        wait_until(lambda: self.text_of(f"{row} .queue-status") == "paused", "the row to say paused")
        self.click(f'{row} button[data-action="resume"]')
        wait_until(lambda: not self.server.api("GET", "/queues/held")["paused"], "the queue to be resumed")
        # A purge asks first; cancelling the question deletes nothing.
        purge_row = '#queues-table tr[data-queue="later"]'
        wait_until(lambda: self.text_of(f"{purge_row} .queue-status") == "running", "the queues view again")
        Select(self.find(f"{purge_row} select")).select_by_value("cancelled")
        self.click(f'{purge_row} button[data-action="purge"]')
        self.find("#confirm[open]")
        self.click("#confirm-cancel")
        wait_until(lambda: not self.browser.find_elements(By.CSS_SELECTOR, "#confirm[open]"), "the question to close")
        self.assertEqual(self.server.api("GET", "/queues/later")["counts"]["cancelled"], 1)
        self.click(f'{purge_row} button[data-action="purge"]')
        self.click("#confirm-ok")
        wait_until(lambda: self.server.call("GET", "/queues/later")[0] == 404, "the purged queue to be gone")
        self.assert_no_console_errors()

    def test_5_schedules_and_workers(self):
        self.open("/schedules")
        row = '#schedules-table tr[data-schedule="nightly"]'
        self.find(row)
        self.assertIn("Europe/Berlin", self.text_of(row))
        self.screenshot("schedules")
        self.click(f'{row} button[data-action="pause"]')
        wait_until(lambda: self.server.api("GET", "/schedules/nightly")["paused"], "the schedule to be paused")
        self.open("/workers")
        self.find('#workers-table tr[data-worker="busy-worker"]')
        self.assertEqual(self.text_of('#workers-table tr[data-worker="busy-worker"] td.num'), "1")
        self.screenshot("workers")
        self.assert_no_console_errors()

    def test_6_hostile_job_data_is_shown_as_text(self):
        s = self.server
        job_id = s.submit(type="ext", queue=HOSTILE, payload={"html": HOSTILE})
        leased, token = s.lease(worker=HOSTILE, queues=[HOSTILE])
        self.assertEqual(leased, job_id)
        s.api("POST", f"/jobs/{job_id}/fail", {"token": token, "error": HOSTILE, "retry_in_ms": 0})
        wait_until(lambda: s.job(job_id)["state"] == "queued", "the job to be queued again")
        _, token = s.lease(worker=HOSTILE, queues=[HOSTILE])
        s.api("POST", f"/jobs/{job_id}/ack", {"token": token, "result": {"html": HOSTILE}})
        views = {f"/jobs/{job_id}": ["#payload", "#result", "#attempts-table", "#job-fields"],
                 "/": ["#overview-queues"], "/queues": ["#queues-table"],
                 f"/jobs?queue={HOSTILE}": ["#jobs-table"], "/workers": ["#workers-table"]}
        for view, parts in views.items():
            self.open(view)
            for css in parts:
                wait_until(lambda: HOSTILE_IMG in (self.text_of(css) or ""), f"{css} of {view} to show the markup as text")
            if view == "/workers":
                self.assertIn(HOSTILE_SCRIPT, self.text_of("#workers-table"))
            self.assertIsNone(self.browser.execute_script("return window.__jobq_pwned"), f"script ran in {view}")
            # Shown as text is what keeps it inert; the CSP would refuse inline script too.
            self.assertIn("script-src 'self'", s.call("GET", "/ui/")[2]["Content-Security-Policy"])
            self.assertEqual(self.browser.find_elements(By.CSS_SELECTOR, "main img"), [], f"an img element in {view}")
        self.assertIn(HOSTILE_SCRIPT, self.text_of("#overview-queues") or self.text_of("#workers-table"))
        self.assert_no_console_errors()

    def test_7_narrow_screen(self):
        self.browser.set_window_size(390, 844)
        try:
            self.open("/")
            self.find('[data-count="queued"] .value')
            wait_until(lambda: self.text_of("#live") == "live", "the stream")
            width = self.browser.execute_script("return document.documentElement.scrollWidth")
            self.assertLessEqual(width, 390, "the overview scrolls sideways on a phone's width")
            self.screenshot("overview-phone")
        finally:
            self.browser.set_window_size(1280, 1000)
        self.assert_no_console_errors()


    def test_8_dark_scheme(self):
        self.browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                     {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        try:
            self.browser.refresh()
            self.open("/")
            background = self.browser.execute_script("return getComputedStyle(document.body).backgroundColor")
            channels = [int(c) for c in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
            self.assertLess(sum(channels), 150, f"the page is not dark: {background}")
            self.screenshot("overview-dark")
        finally:
            self.browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.assert_no_console_errors()

    def test_9_keyboard_only(self):
        self.open("/")
        self.browser.execute_script("document.activeElement && document.activeElement.blur()")
        for _ in range(12):  # the skip link, the brand, then the views
            ActionChains(self.browser).send_keys(Keys.TAB).perform()
            if self.browser.switch_to.active_element.get_attribute("data-view") == "queues":
                break
        focused = self.browser.switch_to.active_element
        self.assertEqual(focused.get_attribute("data-view"), "queues", "Tab never reached the Queues link")
        focused.send_keys(Keys.ENTER)
        self.find("#queues-table")
        # The first pause button is reachable by Tab from the view, and Enter presses it.
        self.browser.find_element(By.CSS_SELECTOR, '#queues-table button[data-action="pause"]').send_keys(Keys.ENTER)
        wait_until(lambda: any(q["paused"] for q in self.server.api("GET", "/queues")["queues"]), "a queue paused by Enter")
        for queue in self.server.api("GET", "/queues")["queues"]:
            if queue["paused"]:
                self.server.api("POST", f"/queues/{urllib.parse.quote(queue['name'], safe='')}/resume")
        self.assert_no_console_errors()


class DashboardWithToken(DashboardCase):
    """A server with an API token and a worker token: the page asks, and refuses wrong ones."""

    server_args = ("--api-token", "secret-api-token", "--worker-token", "secret-worker-token")

    def sign_in(self, token):
        field = self.find("#token")
        field.clear()
        field.send_keys(token)
        self.click(".login button[type=submit]")

    def test_asks_for_the_token_and_refuses_wrong_ones(self):
        self.open("/")
        self.find("#token")
        self.screenshot("login")
        self.sign_in("wrong")
        wait_until(lambda: "refused" in (self.text_of(".login .notice") or ""), "the wrong token to be refused")
        self.sign_in("secret-worker-token")
        wait_until(lambda: "worker token" in (self.text_of(".login .notice") or ""), "the worker token to be refused")
        self.sign_in("secret-api-token")
        wait_until(lambda: self.text_of('[data-count="queued"] .value') == "0", "the overview once signed in")
        wait_until(lambda: self.text_of("#live") == "live", "the event stream with the token")
        stored = self.browser.execute_script("return sessionStorage.getItem('jobq.token')")
        self.assertEqual(stored, "secret-api-token")
        self.assertEqual(self.browser.execute_script("return localStorage.length"), 0)
        self.assertEqual(self.browser.execute_script("return document.cookie"), "")
        self.assertNotIn("secret", self.browser.current_url)
        # Only the refused logins are errors in the console (the browser logs each 401/403).
        for entry in self.console_errors():
            self.assertRegex(entry["message"], r"\b40[13]\b", entry)
        self.open("/queues")
        self.assertEqual(self.console_errors(), [])


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobq", required=True)
    parser.add_argument("--screenshots")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
