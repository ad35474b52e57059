#!/usr/bin/env python3
"""The customer portal in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium against a fresh `helpdesk serve`.

Usage: portal_browser.py HELPDESK_BINARY [SCREENSHOT_DIR]

It signs in with the code from DATA_DIR/outbox, sees its own tickets, checks that a colleague
with `own` access cannot see them (and gets the 404 page by URL), that a colleague with
`company` access sees them, answers and is then Cc'd, opens a ticket, checks that a message
holding `<script>` stays inert (the DOM shows it as text, nothing ran, the console is clean),
uploads a picture on the profile page (an SVG is refused), and signs out. Screenshots of the main pages go to SCREENSHOT_DIR (default
target/portal-screenshots).
"""

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

ADMIN_KEY = "portal-browser-admin-key-0123456789"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Bounds every wait: nothing here loops for ever.
PATIENCE_S = 20


def fail(message):
    print(f"portal browser test: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(probe, what):
    deadline = time.time() + PATIENCE_S
    while time.time() < deadline:
        try:
            found = probe()
        except StaleElementReferenceException:
            # A form post navigated away between finding an element and reading
            # it (the old page's elements go stale): look again on the new page.
            found = None
        if found:
            return found
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


class Helpdesk:
    """A fresh `helpdesk serve` on a free loopback port, with its data dir."""

    def __init__(self, binary):
        self.data = Path(tempfile.mkdtemp(prefix="helpdesk-portal-"))
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        env = dict(os.environ, HELPDESK_API_KEYS=f"{ADMIN_KEY}:admin", SUPPORT_ADDRESS="Acme Support <help@acme.test>")
        self.log = open(self.data.parent / f"{self.data.name}.log", "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data), "--public-url", self.url],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for(self.healthy, "helpdesk serve")

    def healthy(self):
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def api(self, method, path, body=None, etag=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {ADMIN_KEY}")
        request.add_header("Content-Type", "application/json")
        if etag:
            request.add_header("If-Match", etag)
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
            return json.loads(text) if text else None

    def mail_in(self, sender, subject, text):
        """A message dropped into the inbox, as a customer's mail arrives locally."""
        name = f"{int(time.time() * 1000)}-{abs(hash(subject))}.eml"
        raw = (f"From: {sender}\r\nTo: help@acme.test\r\nSubject: {subject}\r\n"
               f"Message-ID: <{name}@mail.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n")
        inbox = self.data / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / name).write_text(raw)

    def code_for(self, address, seen):
        """The sign-in code of the newest outbox mail to `address` not in `seen`."""
        def newest():
            outbox = self.data / "outbox"
            for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
                if path in seen:
                    continue
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address in str(message["To"]) and "sign-in code" in str(message["Subject"]):
                    seen.add(path)
                    match = re.search(r"code is (\d{4} \d{4})", message.get_content())
                    return match and match.group(1).replace(" ", "")
            return None
        return wait_for(newest, f"the sign-in code for {address}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(PATIENCE_S)
    return driver


class Customer:
    """One browser session of one customer."""

    def __init__(self, desk, address, shots):
        self.desk, self.address, self.shots = desk, address, shots
        self.driver = browser()

    def shot(self, name):
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def sign_in(self, seen, shoot=False):
        d = self.driver
        d.get(f"{self.desk.url}/portal")
        check(d.find_element(By.CSS_SELECTOR, "label[for=email]").text == "Email address", "the email field is labelled")
        if shoot:
            self.shot("1-sign-in")
        d.find_element(By.ID, "email").send_keys(self.address)
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(lambda: "/portal/code" in d.current_url, "the code page")
        code = self.desk.code_for(self.address, seen)
        if shoot:
            self.shot("2-code")
        d.find_element(By.ID, "code").send_keys(code)
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "h1") and "Your tickets" in d.find_element(By.CSS_SELECTOR, "h1").text, "the tickets page")

    def ticket_links(self):
        return [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "li.ticket a")]

    def console_errors(self):
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]

    def quit(self):
        self.driver.quit()


def png(width, height):
    """A PNG picture (a colour gradient), written without any imaging library."""
    import struct
    import zlib
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x % 256, 90, (x + y) % 256))
                    for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main():
    if len(sys.argv) < 2:
        fail("usage: portal_browser.py HELPDESK_BINARY [SCREENSHOT_DIR]")
    shots = Path(sys.argv[2] if len(sys.argv) > 2 else "target/portal-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    desk = Helpdesk(sys.argv[1])
    people = []
    try:
        company = desk.api("POST", "/companies", {"name": "North"})
        for address, access in [("ann@north.test", "own"), ("bob@north.test", "company"), ("cy@north.test", "own")]:
            desk.api("POST", "/customers", {"email": address, "first_name": address.split("@")[0].title(),
                                            "company_id": company["id"], "portal_access": access})
        desk.mail_in("Ann <ann@north.test>", "Printer on fire", "It is burning <script>window.__pwned = 1; console.error('pwned')</script> please help")
        desk.mail_in("Ann <ann@north.test>", "Invoice question", "Where is my invoice?")
        ann_tickets = wait_for(lambda: len(desk.api("GET", "/customers/ann@north.test/tickets")["items"]) == 2
                               and desk.api("GET", "/customers/ann@north.test/tickets")["items"], "Ann's tickets")
        fire = next(t["id"] for t in ann_tickets if t["subject"] == "Printer on fire")
        desk.api("POST", f"/tickets/{fire}/messages", {"text": "We are sending a technician."})
        desk.api("POST", f"/tickets/{fire}/messages", {"text": "Internal: VIP customer", "internal": True})
        seen = set()

        # 1, 2: Ann signs in with the mailed code and sees her tickets.
        ann = Customer(desk, "ann@north.test", shots)
        people.append(ann)
        ann.sign_in(seen, shoot=True)
        check(sorted(ann.ticket_links()) == ["Invoice question", "Printer on fire"], f"Ann's list: {ann.ticket_links()}")
        ann.shot("3-tickets")

        # 5, 6: the ticket; the <script> she wrote is text, nothing ran, no internal note.
        ann.driver.find_element(By.LINK_TEXT, "Printer on fire").click()
        wait_for(lambda: f"/portal/t/{fire}" in ann.driver.current_url, "the ticket page")
        texts = [e.text for e in ann.driver.find_elements(By.CSS_SELECTOR, ".message .text")]
        check(any("<script>window.__pwned = 1;" in t for t in texts), f"the script shows as text: {texts}")
        check(ann.driver.execute_script("return window.__pwned === undefined"), "the script did not run")
        check(not ann.driver.find_elements(By.CSS_SELECTOR, ".message script"), "no script element in the DOM")
        check(all("VIP" not in t for t in texts), "no internal note")
        check(any("technician" in t for t in texts), "the agent's reply is there")
        check(ann.console_errors() == [], f"the console is clean: {ann.console_errors()}")
        ann.shot("4-ticket")

        # Ann's profile: her initials, then her picture (uploaded, cropped square, shown);
        # an SVG is refused with a message she can read.
        ann.driver.find_element(By.LINK_TEXT, "Profile").click()
        wait_for(lambda: ann.driver.find_elements(By.CSS_SELECTOR, ".avatar.none"), "the profile page")
        check(ann.driver.find_element(By.CSS_SELECTOR, ".avatar.none").text == "A", "her initial")
        folder = Path(tempfile.mkdtemp(prefix="helpdesk-portal-pictures-"))
        (folder / "ann.png").write_bytes(png(240, 160))
        (folder / "ann.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
        ann.driver.find_element(By.ID, "picture").send_keys(str(folder / "ann.svg"))
        ann.driver.find_element(By.CSS_SELECTOR, "form[action='/portal/form/avatar'] button").click()
        wait_for(lambda: ann.driver.find_elements(By.CSS_SELECTOR, "p.error"), "the refusal")
        check("SVG" in ann.driver.find_element(By.CSS_SELECTOR, "p.error").text, "the refusal names SVG")
        # The refusal page comes with its status (415), which the console reports; nothing else.
        refused = ann.console_errors()
        check(all("415" in e["message"] for e in refused), f"only the refusal's status: {refused}")
        ann.driver.find_element(By.ID, "picture").send_keys(str(folder / "ann.png"))
        ann.driver.find_element(By.CSS_SELECTOR, "form[action='/portal/form/avatar'] button").click()
        wait_for(lambda: ann.driver.find_elements(By.CSS_SELECTOR, "img.avatar")
                 and ann.driver.execute_script("return document.querySelector('img.avatar').naturalWidth") == 128,
                 "her picture, loaded")
        errors = ann.console_errors()
        check(errors == [], f"the console is clean: {errors}")
        check(desk.api("GET", "/customers/ann@north.test")["avatar_image"] is not None, "agents see it too")
        ann.shot("7-profile")
        shutil.rmtree(folder, ignore_errors=True)

        # 3: Cy (own access) cannot see it, by list or by URL.
        cy = Customer(desk, "cy@north.test", shots)
        people.append(cy)
        cy.sign_in(seen)
        check(cy.ticket_links() == [], f"Cy sees nothing: {cy.ticket_links()}")
        check(not cy.driver.find_elements(By.LINK_TEXT, "My company's"), "no company tab for own access")
        cy.driver.get(f"{desk.url}/portal/t/{fire}")
        check(cy.driver.find_element(By.CSS_SELECTOR, "h1").text == "Not found", "Cy gets the 404 page")
        cy.shot("6-not-found")

        # 4: Bob (company access) sees it on the company tab, answers, and is Cc'd.
        bob = Customer(desk, "bob@north.test", shots)
        people.append(bob)
        bob.sign_in(seen)
        check(bob.ticket_links() == [], "Bob has no tickets of his own yet")
        bob.driver.find_element(By.LINK_TEXT, "My company's").click()
        wait_for(lambda: "scope=company" in bob.driver.current_url, "the company tab")
        check(sorted(bob.ticket_links()) == ["Invoice question", "Printer on fire"], f"Bob's company tab: {bob.ticket_links()}")
        bob.driver.find_element(By.LINK_TEXT, "Printer on fire").click()
        wait_for(lambda: bob.driver.find_elements(By.ID, "text"), "the answer box")
        bob.driver.find_element(By.ID, "text").send_keys("Ours is burning too.")
        bob.driver.find_element(By.CSS_SELECTOR, "form[action$='/reply'] button").click()
        wait_for(lambda: any("burning too" in e.text for e in bob.driver.find_elements(By.CSS_SELECTOR, ".message .text")), "Bob's answer")
        bob.shot("5-reply")
        bob.driver.get(f"{desk.url}/portal")
        check(bob.ticket_links() == ["Printer on fire"], f"Bob is Cc'd: {bob.ticket_links()}")
        check(not bob.driver.find_elements(By.CSS_SELECTOR, "form[action$='/solve']"), "only the requester solves")

        # 7: Ann signs out; the portal asks her to sign in again.
        ann.driver.get(f"{desk.url}/portal")
        ann.driver.find_element(By.CSS_SELECTOR, "form[action='/portal/form/sign-out'] button").click()
        wait_for(lambda: ann.driver.find_elements(By.ID, "email"), "the sign-in page")
        ann.driver.get(f"{desk.url}/portal/t/{fire}")
        check(ann.driver.find_elements(By.ID, "email"), "signed out: back to sign-in")
        print(f"portal browser test: ok (screenshots in {shots})")
    finally:
        for person in people:
            person.quit()
        desk.stop()


if __name__ == "__main__":
    main()
