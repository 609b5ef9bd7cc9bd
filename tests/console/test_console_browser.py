"""The console in real Chromium, against a real ``qp-ledger serve`` on the demo year.

One server for the module (the demo year loaded once, its read models built
by the server's own projector), one browser, a fresh browser context (no
cookies) per sign-in. Every request any page makes is recorded: only
127.0.0.1 may be reached, anything else is aborted and fails the test. On
every screen the vendored axe-core runs in the page (loaded from the app's
own static files, so the page's Content-Security-Policy stays on) and must
find no serious or critical violation. Screenshots go to the test's tmp dir.

Without Playwright or a ``chromium`` on PATH the tests skip — except under
``CI=true``, where a skip is a failure (.ci/run installs chromium).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from api.console.charts import pounds
from tests.e2e.browser import Guard, chromium
from tests.e2e.serving import QP_LEDGER, Server, clean_env, start_serve

pytestmark = pytest.mark.slow

SCHEME = "qp-2013-14"
CCG = "06F"
RECORD = f"/ccgs/{CCG}/schemes/{SCHEME}"
PAGE = f"/console/ccgs/{CCG}/{SCHEME}"
AXE = "/console/static/vendor/axe-core/axe.min.js"
#: Where a few screenshots are copied for docs/console.md (QP_LEDGER_CONSOLE_SHOTS=dir).
SHOTS_FOR_DOCS = os.environ.get("QP_LEDGER_CONSOLE_SHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve --demo`` on the demo year, once its read models have caught up."""
    folder = tmp_path_factory.mktemp("console-serve")
    done = subprocess.run(
        [QP_LEDGER, "demo"], cwd=folder, env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    running = start_serve(folder, "--demo")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            health = running.request("GET", "/health").json()["projections"]["projections"]
            if all(p["lag_positions"] == 0 for p in health.values()):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the read models did not catch up:\n{running.output()}")
        yield running
    finally:
        running.kill()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A browser per test: Playwright's event loop (and its executor thread) ends with it."""
    with chromium() as launched:
        yield launched


class Session:
    """One browser context: its page, every URL it requested, what it was refused."""

    def __init__(self, browser: Any, server: Server, shots: Path) -> None:
        self.server = server
        self.shots = shots
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.guard = Guard()
        self.context.route("**/*", self.guard)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()

    def goto(self, path: str) -> Any:
        return self.page.goto(self.server.base + path, wait_until="networkidle")

    def sign_in(self, plaintext: str) -> None:
        self.goto("/console/")
        assert self.page.url.endswith("/console/sign-in")
        self.page.get_by_label("API token").fill(plaintext)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("networkidle")

    def check(self, name: str) -> None:
        """axe-core on this screen (0 serious or critical), then a screenshot."""
        self.page.add_script_tag(url=self.server.base + AXE)
        found = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map("
            "n => n.target.join(' ') + ' ' + (n.failureSummary || '').slice(0, 160))}))"
        )
        bad = [v for v in found if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{name}: {bad}"
        self.shot(name)

    def shot(self, name: str, full_page: bool = True) -> None:
        """A screenshot in the test's tmp dir (and for the docs, when asked)."""
        shot = self.shots / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=full_page)
        if SHOTS_FOR_DOCS:
            shutil.copy(shot, Path(SHOTS_FOR_DOCS) / shot.name)

    def fits(self) -> None:
        """The page is no wider than the window: nothing to scroll sideways on a phone."""
        wide, window, past = self.page.evaluate(
            "[document.scrollingElement.scrollWidth, window.innerWidth,"
            " [...document.body.querySelectorAll('*')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id)]"
        )
        assert wide <= window + 1, f"{self.page.url}: {wide}px wide in {window}px: {past}"

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text()).strip()

    def close(self) -> None:
        self.context.close()
        assert self.guard.left == [], f"the page tried to reach other hosts: {self.guard.left}"
        assert self.guard.requested, "no request was recorded"


@pytest.fixture
def session(browser: Any, server: Server, tmp_path: Path) -> Iterator[Any]:
    opened: list[Session] = []

    def open_session() -> Session:
        opened.append(Session(browser, server, tmp_path))
        return opened[-1]

    yield open_session
    for s in opened:
        s.close()


def api(server: Server, path: str, token: str) -> Any:
    answer = server.request("GET", path, token=token)
    assert answer.status == 200, answer.body
    return answer.json()


def test_board_sees_the_national_overview_whose_total_is_the_reporting_apis(
    server: Server, session: Any
) -> None:
    board = server.token("board")
    s = session()
    s.sign_in(board)
    assert s.page.url.endswith("/console/overview")
    nation = api(server, f"/reports/summaries?scheme={SCHEME}&group_by=nation", board)[0]
    assert s.text("#payable") == pounds(nation["payable_pence"])
    assert s.text("#pot") == pounds(nation["maximum_pence"])
    rows = s.page.locator("#decisions tbody tr")
    assert rows.count() == nation["ccgs"] == 211
    shown = sum(
        int(v) for v in s.page.locator("#decisions td[data-pence]").evaluate_all(
            "cells => cells.map(c => c.dataset.pence)"
        )
    )  # fmt: skip
    assert shown == nation["payable_pence"]
    s.check("overview")
    # Sorting and filtering are links and a form: plain navigation.
    s.page.get_by_role("link", name="Payable").click()
    s.page.wait_for_load_state("networkidle")
    assert "sort=payable_pence" in s.page.url
    s.page.get_by_label("CCG name or code").fill("bedford")
    s.page.get_by_role("button", name="Filter").click()
    s.page.wait_for_load_state("networkidle")
    assert s.text("#shown-count") == "1"
    s.check("overview-filtered")
    # On a phone (390 x 844 CSS pixels) the overview and a decision fit the screen's width.
    s.page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/console/overview", "phone-overview"), (PAGE, "phone-decision")):
        s.goto(path)
        s.fits()
        s.shot(name, full_page=False)  # what the phone's screen shows first
    s.page.set_viewport_size({"width": 1280, "height": 900})
    # Signing out ends the session: the overview asks for a token again.
    s.page.get_by_role("button", name="Sign out").click()
    s.page.wait_for_load_state("networkidle")
    s.goto("/console/overview")
    assert "/console/sign-in" in s.page.url
    s.check("sign-in")


@pytest.mark.parametrize(("role", "org"), [("ccg", CCG), ("area-team", "E39000015")])
def test_a_ccg_or_its_area_team_signs_in_to_its_decision_and_not_another_areas(
    server: Server, session: Any, role: str, org: str
) -> None:
    s = session()
    s.sign_in(server.token(role, org))
    if role == "area-team":  # an area team starts from the list of its CCGs
        assert s.text("h1") == "Your CCGs"
        s.check("area-team-home")
        s.page.get_by_role("link", name=f"{CCG} ").click()
        s.page.wait_for_load_state("networkidle")
    assert s.page.url.endswith(f"{PAGE}")
    assert "Why this amount" in s.page.content()
    s.check(f"decision-{role}")
    answer = s.goto(f"/console/ccgs/00C/{SCHEME}")
    assert answer.status == 403
    assert f"acts for {org}, not for CCG 00C" in s.text("main")
    s.check(f"forbidden-{role}")
    assert s.goto("/console/overview").status == 403


def test_a_reporter_cannot_reach_a_ccg_decision(server: Server, session: Any) -> None:
    s = session()
    s.sign_in(server.token("reporter"))
    answer = s.goto(PAGE)
    assert answer.status == 403
    assert "A reporter token may not read CCG decisions" in s.text("main")
    assert "Why this amount" not in s.page.content()


def test_replaying_06F_shows_the_decision_apis_pounds_at_three_positions(
    server: Server, session: Any
) -> None:
    auditor = server.token("auditor")
    history = api(server, f"{RECORD}/history?limit=500", auditor)["events"]
    positions = [history[i]["position"] for i in (len(history) // 4, len(history) // 2, -3)]
    s = session()
    s.sign_in(auditor)
    s.goto(PAGE)
    for i, position in enumerate(positions):
        if i == 0:  # by the number box, as a user would
            s.page.get_by_label("Log position (number)").fill(str(position))
            s.page.get_by_role("button", name="Replay", exact=True).click()
            s.page.wait_for_load_state("networkidle")
        else:  # by a shared link
            s.goto(f"{PAGE}?position={position}")
        assert s.page.url.endswith(f"?position={position}")
        assert s.page.locator("#payable").count() == 1, s.page.content()[:3000]
        document = api(server, f"{RECORD}/decision?position={position}", auditor)
        assert s.text("#payable") == pounds(document["payable_pence"])
        assert s.text("#as-of-position") == str(position)
        assert s.text("#share-link").endswith(f"?position={position}")
    s.check("replay")
    # By recorded time: the picker's instant resolves to a log position (shown, and shared).
    # The picker takes whole seconds: the second after an event, so the instant is at
    # or after it (the demo can record a CCG's first events within one second, and
    # the event's own second, truncated, may come before all of them).
    recorded = datetime.fromisoformat(history[len(history) // 3]["recorded_at"])
    picked = f"{recorded.replace(microsecond=0) + timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}"
    s.page.get_by_label("Recorded time (UTC)").fill(picked)
    s.page.get_by_role("button", name="Replay at this time").click()
    s.page.wait_for_load_state("networkidle")
    as_of = parse_qs(urlsplit(s.page.url).query)["as_of"][0]
    assert as_of.startswith(picked[:16])  # Chromium drops ":00" seconds
    document = api(server, f"{RECORD}/decision?{urlencode({'as_of': as_of})}", auditor)
    assert s.text("#payable") == pounds(document["payable_pence"])
    assert s.text("#as-of-position") == str(document["position"])
    assert f"as_of={as_of[:13]}" in s.text("#share-link")
    # The timeline's event marks lead to the event: who, when, why, log position.
    s.page.locator("svg.timeline a").last.click()  # the top one where marks overlap
    s.page.wait_for_load_state("networkidle")
    assert "/events/" in s.page.url and "Who" in s.text("main")
    s.check("event")
    s.goto(f"{PAGE}/diff?from_position={positions[0]}&to_position={positions[1]}")
    before = api(server, f"{RECORD}/decision?position={positions[0]}", auditor)
    assert s.text("#from-payable") == pounds(before["payable_pence"])
    s.check("diff")


def tampering(change: str) -> Any:
    """A route handler (Playwright passes the route alone to a one-argument handler)."""
    return lambda route: _tampered(route, change)


def _tampered(route: Any, change: str) -> None:
    """Serve the real bundle with one byte changed (``leaf`` or ``checkpoint``)."""
    bundle = json.loads(route.fetch().text())
    if change == "leaf":
        leaf = bytearray(base64.b64decode(bundle["events"][0]["leaf"]["leaf"]))
        leaf[-1] ^= 0x01
        bundle["events"][0]["leaf"]["leaf"] = base64.b64encode(bytes(leaf)).decode()
    else:
        note = bundle["checkpoint"]["checkpoint"]
        lines = note.split("\n")
        lines[1] = str(int(lines[1]) + 1)  # claim one more event than was signed
        bundle["checkpoint"]["checkpoint"] = "\n".join(lines)
    route.fulfill(status=200, content_type="application/json", body=json.dumps(bundle))


def test_an_issued_decision_verifies_in_the_browser_and_a_tampered_one_does_not(
    server: Server, session: Any
) -> None:
    s = session()
    s.sign_in(server.token("board"))
    s.goto(f"{PAGE}/determinations")
    s.page.get_by_label("Reason", exact=True).fill("Year-end decision")
    s.page.get_by_role("button", name="Issue decision").click()
    s.page.wait_for_load_state("networkidle")
    assert "Issued 06F" in s.text("main")
    s.check("determinations")
    s.page.locator("#issued tbody th a").last.click()
    result = s.page.locator("#verify-result")
    s.page.wait_for_selector("#verify-result[data-verified]")
    assert result.get_attribute("data-verified") == "true", result.inner_text()
    key = api(server, "/log/key", server.token("auditor"))
    assert re.match(r"Verified against checkpoint \d+, key ", result.inner_text())
    assert f"{key['origin']}+{key['key_id']}" in result.inner_text()
    s.check("issued-verified")
    s.page.emulate_media(media="print")
    s.shot("letter-print")
    s.page.emulate_media(media="screen")

    for change, reason in (("leaf", "inclusion proof fails"), ("checkpoint", "signature")):
        s.page.route("**/bundle.json", tampering(change))
        s.page.reload(wait_until="networkidle")
        s.page.wait_for_selector("#verify-result[data-verified]")
        assert result.get_attribute("data-verified") == "false"
        assert "Verification FAILED" in result.inner_text() and reason in result.inner_text()
        assert "Verified against" not in result.inner_text()
        s.page.unroute("**/bundle.json")
    s.check("issued-tampered")


def test_an_appeal_is_lodged_evidenced_determined_and_reissued_from_the_page(
    server: Server, session: Any, tmp_path: Path
) -> None:
    board, ccg = server.token("board"), server.token("ccg", CCG)
    first = server.request(
        "POST", f"{RECORD}/issued-decisions", token=board, body={"force": True}
    ).json()["issue_id"]
    s = session()
    s.sign_in(ccg)
    s.goto(f"{PAGE}/determinations")
    s.page.get_by_label("Issued decision", exact=True).select_option(first)
    s.page.get_by_label("Grounds").fill("Our admissions were miscounted.")
    s.page.get_by_role("button", name="Lodge appeal").click()
    s.page.wait_for_load_state("networkidle")
    assert "Lodged" in s.text("main")
    letter = tmp_path / "trust-letter.txt"
    letter.write_bytes(b"The trust confirms 1600 admissions per 100,000.\n")
    s.page.get_by_label("What it shows").fill("The trust's letter")
    s.page.locator("#evidence-file").set_input_files(str(letter))
    s.page.wait_for_function("document.getElementById('evidence-sha256').value.length === 64")
    s.page.get_by_role("button", name="Add evidence").click()
    s.page.wait_for_load_state("networkidle")
    import hashlib

    assert hashlib.sha256(letter.read_bytes()).hexdigest() in s.text("main")
    s.check("appeal-lodged")

    b = session()
    b.sign_in(board)
    b.goto(f"{PAGE}/determinations")
    b.page.get_by_label("Upheld", exact=True).check()
    b.page.get_by_label("Determination (the Board's reasons)").fill("The count was wrong.")
    remedy = {
        "type": "measure_submitted",
        "measure": "avoidable-emergency-admissions",
        "criterion": "admissions-rate",
        "period": "2013-14",
        "value": 1.0,
    }
    b.page.locator("#determine-remedy").fill(json.dumps(remedy))
    b.page.get_by_role("button", name="Record determination").click()
    b.page.wait_for_load_state("networkidle")
    assert "determined: upheld" in b.text("main")
    b.page.get_by_label("Revised decision after upheld appeal (optional)").select_option(index=1)
    b.page.get_by_role("button", name="Issue decision").click()
    b.page.wait_for_load_state("networkidle")
    b.check("appeal-determined")
    chain = api(server, f"{RECORD}/determinations", board)
    appeal = chain["appeals"][-1]
    assert appeal["status"] == "upheld" and appeal["revised_by"] == chain["issued"][-1]["issue_id"]
    assert chain["issued"][-1]["appeal_id"] == appeal["appeal_id"]
