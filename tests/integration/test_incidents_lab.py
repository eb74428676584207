"""The four incidents, end to end: the lab in the incident's state, the real TUI over real SSH.

Each test puts the lab into one incident (tests/lab/scenarios.py), starts ``OpsConsoleApp``
with the lab's config and presses nothing: within ``FIND_S`` the diagnosis strip must name
the incident's target and the key that fixes it. Then the operator's fix: the test opens
``d``, presses the finding's fix key and confirms, doing first by hand what a manual fix's
words say (the secret back into the file, the auth URL corrected), and the finding must
clear by itself, with no other key, within ``CLEAR_S``. Docker's own state is checked too.

``incident_lab`` resets the lab before and after each test, and checks the baseline is
back (the backend on its volume), so every other test sees it. Each time to finding is
recorded (``tests.support.timings``) and printed at the end of the run (the README's table).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from console.config import load_config
from console.engine.diagnosis import Finding
from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.diagnosis import DiagnosisScreen
from console.ui.screens.recreate import RecreateScreen
from console.ui.widgets.diagnosis_strip import DiagnosisStrip
from tests.lab import scenarios, stack
from tests.support import timings
from tests.support.live_app import screen_text, until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

FIND_S = 5.0  # scenario in place -> finding on the strip, no key pressed
CLEAR_S = 30.0  # fix confirmed -> finding gone (a recreate, health every 5 s, 2 s coalescing)
SIZE = (160, 50)


def strip_of(app: OpsConsoleApp) -> DiagnosisStrip:
    return app.query_one(DiagnosisStrip)


def strip_text(app: OpsConsoleApp) -> str:
    """What the strip shows right now, as the operator reads it."""
    strip = strip_of(app)
    return strip.render_view(strip.size.width or SIZE[0], strip._roomy()).plain


def active(app: OpsConsoleApp, finding_id: str, target: str | None = None) -> Finding | None:
    for item in strip_of(app).view.active:
        finding = item.finding
        if finding.id == finding_id and (target is None or finding.target == target):
            return finding
    return None


def shown(app: OpsConsoleApp, finding_id: str, target: str, key_label: str) -> bool:
    """The finding is active and its line on the strip names the target and the fix."""
    finding = active(app, finding_id, target)
    if finding is None:
        return False
    return any(target in line and key_label in line for line in strip_text(app).splitlines())


async def time_to_finding(pilot: Any, started: float, name: str,
                          predicate: Callable[[], bool], what: str,
                          bound: float = FIND_S) -> float:
    """Seconds from the scenario in place (the TUI starting) to the strip showing it."""
    await until(pilot, predicate, 30.0, what)  # waits on, so a miss is measured too
    took = time.monotonic() - started
    timings.record(name, took)
    print(f"\ntime-to-finding {name}: {took:.1f} s")
    assert took <= bound, f"{what}: after {took:.1f} s, not within {bound} s"
    return took


async def fix_from_d(pilot: Any, finding_id: str, target: str, key: str) -> None:
    """``d``, the finding highlighted, its fix key; the app's confirmation comes up."""
    app = pilot.app
    await pilot.press("d")
    await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen), 5, "the d screen")
    screen = app.screen
    assert isinstance(screen, DiagnosisScreen)
    options = screen.query_one("#diagnosis-list")
    index = next(i for i, row in enumerate(screen._rows)
                 if row.evidence is None and row.finding.id == finding_id
                 and row.finding.target == target)
    options.highlighted = index  # type: ignore[attr-defined]
    await pilot.pause(0.05)
    await pilot.press(key)


async def confirm_y(pilot: Any) -> None:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 15, "the confirmation")
    assert app.screen.typed_name is None  # alpha is not protected: y confirms
    await pilot.press("y")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5, "confirmed")


async def close_recreate(pilot: Any) -> None:
    """The recreate's window streams Compose's output; close it once Compose is done."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, RecreateScreen)
                and app.screen.state in ("done", "refused"), 120, "the recreate finished")
    screen = app.screen
    assert isinstance(screen, RecreateScreen)
    assert screen.state == "done", screen_text(app)
    await pilot.press("q")


async def docker_state(lab: Any, name: str) -> dict[str, Any]:
    """The container's State straight from the Docker API (not through the console)."""
    def read() -> dict[str, Any]:
        client = lab.docker()
        try:
            doc = client.api.inspect_container(name)
            return {**doc["State"], "RestartCount": doc["RestartCount"]}
        finally:
            client.close()

    return await asyncio.to_thread(read)


def login_status(lab: Any) -> int | None:
    """POST the lab's credentials to the login API through nginx; the HTTP status."""
    body = json.dumps({"email": lab.login_user, "password": lab.login_password}).encode()
    request = urllib.request.Request(f"{lab.nginx_url}/api/v1/auth/login", data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def edit_env(lab: Any, change: Callable[[dict[str, str]], None]) -> None:
    """What the operator does by hand: edit crm's .env."""
    env = stack.read_env(lab.layout, "crm")
    change(env)
    stack.write_env(lab.layout, "crm", env)


@pytest.fixture
def incident_lab(lab_clean: Any) -> Any:
    """``lab_clean``, and after the test the baseline proven back: crm-backend-1 running on
    its volume (a scenario that deleted it must not leave the next test without one)."""
    yield lab_clean
    lab_clean.reset()
    client = lab_clean.docker()
    try:
        doc = client.api.inspect_container("crm-backend-1")
        client.volumes.get("crm_dbdata")
    finally:
        client.close()
    assert doc["State"]["Running"]
    assert any(m.get("Name") == "crm_dbdata" for m in doc["Mounts"]), doc["Mounts"]


def make_app(lab: Any) -> OpsConsoleApp:
    return OpsConsoleApp(load_config(lab.config_path))


def needs_compose_recreate(lab: Any) -> None:
    """``R`` runs the server's Compose in the project directory. Only a container Compose
    itself created (it carries Compose's config-hash label) is replaced under its own name;
    until the lab brings crm up with Compose, a recreate here would leave a second backend
    beside crm-backend-1, so the fix half of the test cannot run."""
    client = lab.docker()
    try:
        labels = client.api.inspect_container("crm-backend-1")["Config"]["Labels"] or {}
    finally:
        client.close()
    if "com.docker.compose.config-hash" not in labels:
        pytest.skip("the lab's crm project is not brought up by docker-compose: R would not "
                    "recreate crm-backend-1 in place")


# --------------------------------------------------------------------------- 000


async def test_000_backend_stopped_behind_nginx_is_a_restart(incident_lab: Any) -> None:
    incident_lab.scenario("backend-down")
    assert login_status(incident_lab) == 502
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await time_to_finding(pilot, started, "000", lambda: shown(
            app, "backend_down_behind_proxy", "crm-backend-1", "[r restart]"),
            "the strip names crm-backend-1 and r")
        finding = active(app, "backend_down_behind_proxy", "crm-backend-1")
        assert finding is not None and strip_of(app).view.active[0].finding is finding
        assert finding.fix.action == "restart" and finding.fix.target == "crm-backend-1"
        assert "502" in finding.summary and "crm-nginx-1" in finding.summary

        await fix_from_d(pilot, "backend_down_behind_proxy", "crm-backend-1", "r")
        await confirm_y(pilot)
        took = await until(pilot, lambda: active(app, "backend_down_behind_proxy") is None,
                           CLEAR_S, "the finding cleared after the restart")
        print(f"000 cleared {took:.1f} s after the confirmation")
        assert (await docker_state(incident_lab, "crm-backend-1"))["Running"]
        await until(pilot, lambda: login_status(incident_lab) != 502, CLEAR_S,
                    "nginx reaches the backend again")
        assert not strip_of(app).view.active, strip_text(app)
        assert any(t.finding.id == "backend_down_behind_proxy"
                   for t in strip_of(app).view.cleared)


# --------------------------------------------------------------------------- 002


async def incident_002(pilot: Any, lab: Any, started: float) -> None:
    """No key pressed: the crash loop named, fixed by hand, never r."""
    app = pilot.app
    await time_to_finding(pilot, started, "002", lambda: shown(
        app, "crash_loop_missing_secret", "crm-backend-1", "[d: by hand]"),
        "the strip names crm-backend-1's crash loop, fixed by hand")
    finding = active(app, "crash_loop_missing_secret", "crm-backend-1")
    assert finding is not None and strip_of(app).view.active[0].finding is finding
    assert finding.fix.key != "r" and finding.fix.action != "restart"
    assert "[r restart]" not in strip_text(app)
    assert "JWT_SECRET" in finding.summary and "crash-looping" in finding.summary
    assert f"Set JWT_SECRET in {lab.env_files['alpha']}" in finding.fix.why
    # One cause, one finding: the 502 and the failing probes are its evidence.
    assert len(strip_of(app).view.active) == 1, strip_text(app)


async def test_002_crash_loop_on_a_missing_secret_is_never_a_restart(incident_lab: Any) -> None:
    done = incident_lab.scenario("jwt-crash-loop")
    assert done["restarts"] >= 2
    assert (await docker_state(incident_lab, "crm-backend-1"))["ExitCode"] == 1
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_002(pilot, incident_lab, started)
        # Seconds later, still the same: the loop goes on and r is still not offered.
        await pilot.pause(3)
        finding = active(app, "crash_loop_missing_secret", "crm-backend-1")
        assert finding is not None and finding.fix.key != "r"
        assert (await docker_state(incident_lab, "crm-backend-1"))["RestartCount"] >= 2


async def test_002_secret_set_by_hand_then_R_clears_it(incident_lab: Any) -> None:
    needs_compose_recreate(incident_lab)
    incident_lab.scenario("jwt-crash-loop")
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_002(pilot, incident_lab, started)
        # By hand, as the words say: the secret back into the file. The finding now
        # offers R (a restart would keep the environment without it).
        edit_env(incident_lab, lambda env: env.update(
            JWT_SECRET=stack.baseline_secrets(incident_lab.layout)["JWT_SECRET"]))
        await until(pilot, lambda: shown(app, "crash_loop_missing_secret", "crm-backend-1",
                                         "[R recreate]"), 45, "the finding offers R")
        await fix_from_d(pilot, "crash_loop_missing_secret", "crm-backend-1", "R")
        await confirm_y(pilot)
        await close_recreate(pilot)
        took = await until(pilot, lambda: active(app, "crash_loop_missing_secret") is None,
                           CLEAR_S, "the finding cleared after the recreate")
        print(f"002 cleared {took:.1f} s after the recreate")
        assert (await docker_state(incident_lab, "crm-backend-1"))["Running"]
        await until(pilot, lambda: login_status(incident_lab) == 200, CLEAR_S,
                    "logins work again")


# --------------------------------------------------------------------------- 003


async def incident_003(pilot: Any, started: float) -> None:
    """No key pressed: the deleted volume first (by hand), the stale container with R."""
    app = pilot.app
    await time_to_finding(pilot, started, "003", lambda: shown(
        app, "volume_missing", "crm_dbdata", "[d: by hand]") and shown(
        app, "secret_stale_in_container", "crm-backend-1", "[R recreate]"),
        "the strip names the missing volume and the stale container")
    top = strip_of(app).view.active[0].finding
    assert top.id == "volume_missing" and top.target == "crm_dbdata"
    assert "restore it from a backup" in top.fix.why
    stale = active(app, "secret_stale_in_container", "crm-backend-1")
    assert stale is not None and "JWT_SECRET" in stale.summary


async def test_003_stale_secret_and_deleted_volume(incident_lab: Any) -> None:
    incident_lab.scenario("lockout")
    client = incident_lab.docker()
    try:
        assert "crm_dbdata" not in {v.name for v in client.volumes.list()}
    finally:
        client.close()
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_003(pilot, started)


async def test_003_R_recreates_the_container_and_its_volume(incident_lab: Any) -> None:
    needs_compose_recreate(incident_lab)
    incident_lab.scenario("lockout")
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_003(pilot, started)
        await fix_from_d(pilot, "secret_stale_in_container", "crm-backend-1", "R")
        await confirm_y(pilot)
        await close_recreate(pilot)
        took = await until(pilot, lambda: active(app, "secret_stale_in_container") is None
                           and active(app, "volume_missing") is None, CLEAR_S,
                           "the stale secret and the missing volume cleared")
        print(f"003 cleared {took:.1f} s after the recreate")
        # What is left is true: alpha's new JWT_SECRET differs from bravo's. While the new
        # container starts, nginx answers 502 for a health round or two, and says so.
        await until(pilot, lambda: {t.finding.id for t in strip_of(app).view.active}
                    <= {"secret_drift"}, CLEAR_S, "only the JWT_SECRET drift left")


# --------------------------------------------------------------------------- 004


TARGET_004 = "auth service (127.0.0.1:8100)"


async def incident_004(pilot: Any, started: float) -> None:
    """No key pressed: the auth service named, the refusal told apart, one finding."""
    app = pilot.app
    await time_to_finding(pilot, started, "004", lambda: shown(
        app, "dependency_unreachable", TARGET_004, "[d: by hand]"),
        "the strip names the auth service and the refused connection")
    finding = active(app, "dependency_unreachable", TARGET_004)
    assert finding is not None and strip_of(app).view.active[0].finding is finding
    assert "connection refused" in finding.summary
    assert "Nothing listens at" in finding.fix.why and "recreate it (R)" in finding.fix.why
    # The backend logs the refusal while it answers the console's /health probe, so the line
    # can reach the strip before the probe's 503 does: the probe joins the same finding.
    def probe_joined() -> bool:
        joined = active(app, "dependency_unreachable", TARGET_004)
        return joined is not None and {e.pane for e in joined.evidence} >= {"logs", "health"}

    await until(pilot, probe_joined, FIND_S, "the /health probe joined the finding")
    ids = {t.finding.id for t in strip_of(app).view.active}
    assert ids == {"dependency_unreachable"}, strip_text(app)


async def test_004_auth_service_refused_is_named_and_told_apart(incident_lab: Any) -> None:
    incident_lab.scenario("auth-refused")
    assert login_status(incident_lab) == 500
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_004(pilot, started)
        # The backend turns unhealthy (its healthcheck sees the auth service fail): still
        # one finding, not a second one for the healthcheck.
        def unhealthy_joined() -> bool:
            finding = active(app, "dependency_unreachable", TARGET_004)
            return finding is not None and any("unhealthy" in e.text for e in finding.evidence)

        await until(pilot, unhealthy_joined, 30, "the unhealthy backend joined the finding")
        assert {t.finding.id for t in strip_of(app).view.active} == {"dependency_unreachable"}


async def test_004_address_corrected_by_hand_then_R_clears_it(incident_lab: Any) -> None:
    needs_compose_recreate(incident_lab)
    incident_lab.scenario("auth-refused")
    app = make_app(incident_lab)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await incident_004(pilot, started)
        # By hand: the right address in the .env; then R on the backend's row.
        edit_env(incident_lab, lambda env: env.update(AUTH_SERVICE_URL=scenarios.AUTH_URL_GOOD))
        pane = app.pane("containers")
        pane.focus()
        assert pane.select_container_row("alpha", "crm-backend-1")
        await pilot.press("R")
        await confirm_y(pilot)
        await close_recreate(pilot)
        took = await until(pilot, lambda: active(app, "dependency_unreachable") is None,
                           CLEAR_S, "the dependency finding cleared after the recreate")
        print(f"004 cleared {took:.1f} s after the recreate")
        await until(pilot, lambda: login_status(incident_lab) == 200, CLEAR_S,
                    "logins work again")
