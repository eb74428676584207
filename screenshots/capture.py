"""Take screenshots/main.svg: the real app, headless, against the running lab.

    python -m tests.lab up
    python screenshots/capture.py [--config /srv/ops-lab/config.toml] [--size 160x48]

It waits until every configured server's containers are listed and the other panes have
had a moment to fill, then saves the screen exactly as an operator would see it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def capture(config_path: str, size: tuple[int, int], out: Path, settle: float) -> None:
    from console.config import load_config
    from console.ui.app import OpsConsoleApp

    app = OpsConsoleApp(load_config(config_path))
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 60
        while not all(part.state == "ok" and part.containers
                      for part in app.fleet.containers.snapshot().values()):
            if time.monotonic() > deadline:
                raise SystemExit("the lab's containers were not listed within 60 s")
            await pilot.pause(0.1)
        await pilot.pause(settle)
        app.save_screenshot(filename=out.name, path=str(out.parent))
        await pilot.press("q")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/srv/ops-lab/config.toml")
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--out", default=str(HERE / "main.svg"))
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds for the health/secrets/logs panes to fill")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    asyncio.run(capture(args.config, (width, height), Path(args.out), args.settle))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
