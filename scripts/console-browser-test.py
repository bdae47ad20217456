#!/usr/bin/env python3
"""The web console as people use it: Debian's Chromium, headless, driven by Playwright (pinned
in scripts/requirements.txt), against a running nico-local (its dev OIDC issuer signs people in).

    console-browser-test.py --base http://127.0.0.1:PORT --out target/console CASE...

Cases (the Rust test module tests/tests/it/console.rs starts a runner for each and runs this):
  story          the product page's story, up to the revoked key refused on the protected route
  story_my_keys  the same story, then "My keys" shows the key revoked (needs GET /v1/keys)
  keyboard       create -> copy -> saved with the keyboard only
  pages          every page: axe-core (no serious or critical violation) and screenshots at
                 1280x800 and 390x844 into --out; the first page's transfer size; an expired
                 session signing in again back to the same page

Every case also checks the security headers of every console response, and that the browser
reported no Content Security Policy violation. Exit status 0 only when every case passed.
"""

import argparse
import os
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SIZES = [(1280, 800), (390, 844)]
KEY_NAME = "Claude Code skill"


class Failure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Browser:
    """One Chromium; each person gets a context of their own (own sessionStorage, clipboard)."""

    def __init__(self, playwright, base):
        self.base = base
        # A team of its own: runners on one DynamoDB table share their teams' bot users.
        self.team = f"console-{secrets.token_hex(4)}"
        self.problems = []
        self.console_responses = 0
        # Every key the API issued to this browser, for the test run's scan of the runner's logs.
        self.keys = []
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # No sandbox (the tests run as root); and nothing that reaches out to Google's hosts
            # on a machine whose network is closed (those connections fail, many at a time).
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )

    def person(self):
        context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        context.on("response", self.check_headers)
        page = context.new_page()
        page.on("console", self.check_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page

    def check_headers(self, response):
        path = response.url[len(self.base):] if response.url.startswith(self.base) else None
        if path is not None and path.startswith("/v1/") and response.status == 201:
            try:
                token = response.json().get("token")
            except Exception as error:
                self.problems.append(f"{path}: a 201 answer that is not a JSON object: {error}")
                return
            if token:
                self.keys.append(token)
            return
        if path is None or not (path == "/console" or path.startswith("/console/")):
            return
        self.console_responses += 1
        problem = header_problem(response.headers)
        if problem:
            self.problems.append(f"{path}: {problem}")

    def check_console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")

    def close(self):
        self.browser.close()


def header_problem(headers):
    csp = headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    if not csp.startswith("default-src 'self'"):
        return f"CSP does not start with default-src 'self': {csp!r}"
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        return f"CSP allows inline code: {csp!r}"
    if directives.get("frame-ancestors") != "frame-ancestors 'none'":
        return f"no frame-ancestors 'none': {csp!r}"
    for name in ("script-src", "style-src"):
        if directives.get(name, f"{name} 'self'") != f"{name} 'self'":
            return f"{name} is wider than 'self': {csp!r}"
    if headers.get("referrer-policy") != "no-referrer":
        return f"referrer-policy {headers.get('referrer-policy')!r}"
    if headers.get("x-content-type-options") != "nosniff":
        return f"x-content-type-options {headers.get('x-content-type-options')!r}"
    return None


def protected(base, key):
    """The example protected route's status for a request with `key`."""
    request = urllib.request.Request(f"{base}/projects/42", headers={"authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def sign_in(browser, sub, role, display):
    page = browser.person()
    page.goto(f"{browser.base}/console")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/oidc/authorize?**")
    page.get_by_label("Subject").fill(sub)
    page.get_by_label("Team").fill(browser.team)
    page.get_by_label("Role").select_option(role)
    page.get_by_label("Display name").fill(display)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{browser.base}/console/bots")
    expect(page.get_by_role("heading", name="Bot users")).to_be_visible()
    check("code=" not in page.url and "state=" not in page.url, f"the code stayed in the URL: {page.url}")
    return page


def create_bot(page, name, account, scopes):
    page.get_by_role("button", name="Create bot user").click()
    dialog = page.get_by_role("dialog", name="Create bot user")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Account id").fill(account)
    for scope in scopes:
        dialog.get_by_label(scope).check()
    dialog.get_by_role("button", name="Create bot user").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("link", name=f"Security of {name}")).to_be_visible()


def open_security(page, bot_name):
    page.get_by_role("link", name="Bot users").click()
    page.get_by_role("link", name=f"Security of {bot_name}").click()
    expect(page.get_by_role("heading", name=f"Security: {bot_name}")).to_be_visible()


def create_key(page, name, scope):
    """Creates a key through the dialog; answers the copy-once dialog and the key it shows."""
    page.get_by_role("button", name="Create API Key").click()
    dialog = page.get_by_role("dialog", name="Create API Key")
    dialog.get_by_label("Name").fill(name)
    expires = dialog.get_by_label("Expires")
    check(expires.input_value() == "30", f"default expiry {expires.input_value()!r}, expected 30 days")
    shown = dialog.locator("#key-expiry").inner_text()
    in_30_days = time.strftime("%b %-d, %Y", time.gmtime(time.time() + 30 * 86400))
    check(in_30_days in shown, f"the resulting instant {shown!r} is not 30 days ahead ({in_30_days})")
    dialog.get_by_label(scope).check()
    dialog.get_by_role("button", name="Create key").click()
    copy_once = page.get_by_role("dialog", name="Copy your new API key")
    expect(copy_once).to_be_visible()
    key = copy_once.get_by_label("API key").input_value()
    check(key.startswith("nico_"), "the dialog shows no key")
    return copy_once, key


def copy_and_confirm(page, copy_once, key):
    copy_once.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#announce")).to_have_text("Copied")
    check(page.evaluate("navigator.clipboard.readText()") == key, "the clipboard does not hold the key")
    check(f'export NICO_API_KEY="{key}"' in copy_once.inner_text(), "no export line")
    check("never commit" in copy_once.inner_text().lower(), "no warning to never commit it")
    page.keyboard.press("Escape")
    page.mouse.click(3, 3)
    expect(copy_once).to_be_visible()  # Escape and an outside click do not close it
    copy_once.get_by_role("button", name="I have saved this key").click()
    expect(copy_once).to_have_count(0)


def key_row(page, name):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


def assert_key_gone(page, key, since):
    """The key is in no DOM, storage or response after it was saved."""
    check(key not in page.content(), "the key is still in the DOM")
    storage = page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
    check(key not in storage, "the key is in the page's storage")
    for response in since:
        try:
            body = response.body().decode("utf-8", "replace")
        except Exception:  # a redirect or a body the browser already dropped
            continue
        check(key not in body, f"the key is in a later response: {response.url}")


def story(browser, out, my_keys):
    owner = sign_in(browser, "local-owner", "owner", "owner@example.com")
    create_bot(owner, "Alice's assistant", "alice", ["projects:read", "projects:write"])

    alice = sign_in(browser, "alice", "member", "alice@example.com")
    alice.get_by_role("link", name="Account").click()
    expect(alice.locator("#account-id")).to_have_text("alice")
    open_security(alice, "Alice's assistant")
    copy_once, key = create_key(alice, KEY_NAME, "projects:read")
    later = []
    alice.on("response", lambda response: later.append(response))
    copy_and_confirm(alice, copy_once, key)
    row = key_row(alice, KEY_NAME)
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("projects:read")
    alice.reload()
    expect(key_row(alice, KEY_NAME)).to_be_visible()
    assert_key_gone(alice, key, later)

    check(protected(browser.base, key) == 200, "the new key does not work on the protected route")
    key_row(alice, KEY_NAME).get_by_role("button", name="Revoke").click()
    confirm = alice.get_by_role("dialog", name=f"Revoke {KEY_NAME}?")
    text = confirm.inner_text()
    check("irreversible" in text and "authentication errors" in text and "CLI" in text, text)
    confirm.get_by_role("button", name="Revoke key").click()
    expect(key_row(alice, KEY_NAME)).to_have_count(0)
    alice.get_by_label("Show inactive").check()
    expect(key_row(alice, KEY_NAME)).to_contain_text("revoked")
    check(protected(browser.base, key) in (401, 403), "the revoked key still works")

    if my_keys:
        alice.get_by_role("link", name="My keys").click()
        expect(alice.get_by_role("heading", name="My keys")).to_be_visible()
        row = key_row(alice, KEY_NAME)
        expect(row).to_contain_text("revoked")
        expect(row).to_contain_text("Alice's assistant")
        check("Never" not in row.inner_text(), "My keys says the used key was never used")
    assert_key_gone(alice, key, later)


def tab_to(page, name, limit=40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; return (e.getAttribute('aria-label') || e.textContent || '').trim(); })()"
        )
        if focused == name:
            return
    raise Failure(f"Tab never reached {name!r}")


def keyboard(browser, out):
    page = sign_in(browser, "local-owner", "owner", "owner@example.com")
    create_bot(page, "Keyboard bot", "local-owner", ["projects:read"])
    open_security(page, "Keyboard bot")
    page.mouse.move(0, 0)
    page.locator("main").focus()
    tab_to(page, "Create API Key")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create API Key")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.type("keyboard key")
    tab_to(page, "Create key")
    page.keyboard.press("Enter")
    copy_once = page.get_by_role("dialog", name="Copy your new API key")
    expect(copy_once).to_be_visible()
    key = copy_once.get_by_label("API key").input_value()
    tab_to(page, "Copy")
    page.keyboard.press("Enter")
    expect(page.locator("#announce")).to_have_text("Copied")
    check(page.evaluate("navigator.clipboard.readText()") == key, "the clipboard does not hold the key")
    page.keyboard.press("Escape")
    expect(copy_once).to_be_visible()
    tab_to(page, "I have saved this key")
    page.keyboard.press("Enter")
    expect(copy_once).to_have_count(0)
    expect(page.get_by_role("button", name="Create API Key")).to_be_focused()
    expect(key_row(page, "keyboard key")).to_contain_text("active")
    check(key not in page.content(), "the key is still in the DOM")


def pages(browser, out):
    out.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    failures = []

    def look(page, name):
        page.wait_for_load_state("networkidle")
        expect(page.locator("[aria-busy=true]")).to_have_count(0)
        results = axe.run(page).response
        for violation in results["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:3]
                failures.append(f"{name}: {violation['id']} ({violation['impact']}): {violation['help']} {targets}")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(out / f"{name}-{width}x{height}.png"))
        page.set_viewport_size({"width": 1280, "height": 800})

    signed_out = browser.person()
    first = []
    signed_out.on("requestfinished", lambda request: first.append(request))
    signed_out.goto(f"{browser.base}/console/")
    expect(signed_out.get_by_role("button", name="Sign in")).to_be_visible()
    signed_out.wait_for_load_state("networkidle")
    sizes = [request.sizes() for request in first]
    transferred = sum(size["responseBodySize"] + size["responseHeadersSize"] for size in sizes)
    print(f"console first page: {len(first)} requests, {transferred} bytes transferred (limit 100000)")
    check(transferred <= 100_000, f"the first page transfers {transferred} bytes, more than 100 KB")
    look(signed_out, "sign-in")

    owner = sign_in(browser, "local-owner", "owner", "owner@example.com")
    create_bot(owner, "Alice's assistant", "alice", ["projects:read", "projects:write"])
    create_bot(owner, "Release bot", "local-owner", ["projects:read"])
    look(owner, "bot-users")
    # The API's refusal is shown with its message, in the dialog.
    owner.get_by_role("button", name="Create bot user").click()
    dialog = owner.get_by_role("dialog", name="Create bot user")
    dialog.get_by_label("Name").fill("No scopes")
    dialog.get_by_label("Account id").fill("bob")
    dialog.get_by_role("button", name="Create bot user").click()
    expect(dialog.get_by_role("alert")).to_contain_text("scopes")
    look(owner, "create-bot-error")
    owner.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    open_security(owner, "Alice's assistant")
    for name in [KEY_NAME, "CI deploys", "Old laptop"]:
        copy_once, _ = create_key(owner, name, "projects:read")
        copy_once.get_by_role("button", name="I have saved this key").click()
    key_row(owner, "Old laptop").get_by_role("button", name="Revoke").click()
    owner.get_by_role("button", name="Revoke key").click()
    owner.get_by_label("Show inactive").check()
    expect(key_row(owner, "Old laptop")).to_contain_text("revoked")
    look(owner, "security")
    owner.get_by_role("button", name="Create API Key").click()
    look(owner, "create-key")
    owner.keyboard.press("Escape")
    owner.get_by_role("link", name="My keys").click()
    expect(owner.get_by_role("heading", name="My keys")).to_be_visible()
    look(owner, "my-keys")
    owner.get_by_role("link", name="Audit").click()
    expect(owner.get_by_role("heading", name="Audit")).to_be_visible()
    look(owner, "audit")
    owner.get_by_role("link", name="Account").click()
    expect(owner.locator("#account-id")).to_have_text("local-owner")
    look(owner, "account")

    # An expired session asks to sign in again and comes back to the page it was on.
    owner.evaluate(
        "(() => { const s = JSON.parse(sessionStorage.getItem('nico-keys.session'));"
        " s.expiresAt = 0; sessionStorage.setItem('nico-keys.session', JSON.stringify(s)); })()"
    )
    owner.get_by_role("link", name="My keys").click()
    expect(owner.get_by_role("heading", name="Session expired")).to_be_visible()
    look(owner, "session-expired")
    owner.get_by_role("button", name="Sign in again").click()
    owner.wait_for_url("**/oidc/authorize?**")
    owner.get_by_label("Team").fill(browser.team)
    owner.get_by_role("button", name="Sign in", exact=True).click()
    owner.wait_for_url(f"{browser.base}/console/keys")
    expect(owner.get_by_role("heading", name="My keys")).to_be_visible()

    # Answers the pages never ask for carry the headers too.
    for path, status in [("/console", 308), ("/console/", 308), ("/console/missing.js", 404), ("/console/config.json", 200)]:
        answer = owner.request.get(f"{browser.base}{path}", max_redirects=0)
        check(answer.status == status, f"{path}: {answer.status}, expected {status}")
        problem = header_problem(answer.headers)
        check(problem is None, f"{path}: {problem}")
    check(not failures, "accessibility:\n  " + "\n  ".join(failures))


CASES = {
    "story": lambda browser, out: story(browser, out, my_keys=False),
    "story_my_keys": lambda browser, out: story(browser, out, my_keys=True),
    "keyboard": keyboard,
    "pages": pages,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the runner, http://127.0.0.1:PORT")
    parser.add_argument("--out", type=Path, default=Path("target/console"), help="screenshots go here")
    parser.add_argument("--keys-file", type=Path, help="append every key the API issued to the browser here, a line each")
    parser.add_argument("cases", nargs="+", choices=sorted(CASES))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    passed = failed = 0
    with sync_playwright() as playwright:
        for case in args.cases:
            browser = Browser(playwright, args.base.rstrip("/"))
            started = time.monotonic()
            try:
                CASES[case](browser, args.out)
                check(browser.console_responses > 0, "no console response was seen")
                check(not browser.problems, "\n  ".join(["browser:"] + browser.problems))
                passed += 1
                print(f"console {case}: ok ({time.monotonic() - started:.1f}s, {browser.console_responses} console responses checked)")
            except Exception:
                failed += 1
                print(f"console {case}: FAILED ({time.monotonic() - started:.1f}s)")
                traceback.print_exc()
            finally:
                if args.keys_file:
                    with args.keys_file.open("a") as keys:
                        keys.writelines(f"{key}\n" for key in browser.keys)
                browser.close()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
