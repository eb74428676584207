"""``R``'s screen on a server that also has a migration configured (the lab's alpha has one).

Textual runs the ``on_mount`` of every class up the MRO: RecreateScreen's parent, the
migration screen, must not plan and confirm a migration as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from console.engine.actions.recreate import RecreatePlan
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.recreate import RecreateScreen
from tests.support.actions import action_config, fleet_for
from tests.support.ui import Harness, until

pytestmark = pytest.mark.timeout(60)
SIZE = (120, 40)


async def test_recreate_confirms_the_recreate_not_the_migration(tmp_path: Path) -> None:
    config = action_config(tmp_path)
    fleet = fleet_for(config)
    assert fleet.actions.plan("alpha") is not None  # a migration is configured here
    plan = RecreatePlan(server="alpha", command=("docker-compose", "up", "-d"), container=None,
                        timeout=60.0, protected=False, project="crm", service="backend",
                        working_dir="/srv/crm", replaces="crm-backend-1",
                        compose="docker-compose",
                        compose_argv=("docker-compose", "up", "-d", "--no-deps",
                                      "--force-recreate", "backend"))

    async def recreate_plan(server: str, container: str) -> RecreatePlan:
        return plan

    fleet.actions.recreate_plan = recreate_plan
    app = Harness(fleet, lambda fleet: RecreateScreen(fleet, "alpha", "crm-backend-1"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title = str(app.screen.query_one("#title", Static).render())
        assert "Recreate service backend on alpha" in title
        assert len([s for s in app.screen_stack if isinstance(s, ConfirmScreen)]) == 1
        assert getattr(app, "_exception", None) is None
