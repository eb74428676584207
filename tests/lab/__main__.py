"""``python -m tests.lab up|down|status|scenario NAME|reset``: the lab by hand.

Progress goes to stderr; ``status --json`` and scenario results go to stdout as JSON.
Exit code 0 on success (for ``status``: the healthy baseline), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from docker.errors import DockerException

from tests.lab import control, scenarios
from tests.lab.system import LabError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install/start what is missing; healthy baseline")
    sub.add_parser("down", help="stop sshd, remove containers (keeps dockerd, images, volumes)")
    stat = sub.add_parser("status", help="what runs now")
    stat.add_argument("--json", action="store_true")
    sub.add_parser("reset", help="back to the healthy baseline")
    scen = sub.add_parser("scenario", help="put the lab into an incident state")
    scen.add_argument("name", choices=[*scenarios.SCENARIOS, "reset"])
    scen.add_argument("--server", default="alpha", choices=["alpha", "bravo"],
                      help="log-flood, migration-fail: which backend")
    scen.add_argument("--lines", type=int, default=5000, help="log-flood: how many lines")
    scen.add_argument("--rate", type=float, default=0.0,
                      help="log-flood: lines per second (0: as fast as possible)")
    scen.add_argument("--tag", default=None, help="log-flood: tag in every line")
    scen.add_argument("--no-wait", action="store_true",
                      help="log-flood: return before the lines are written")
    return parser


def _print_status(report: dict) -> None:
    print(f"root     {report['root']}")
    print(f"config   {report['config']}")
    docker = report["dockerd"]
    print(f"dockerd  {'answers' if docker['answers'] else 'NOT answering'} (pid {docker['pid']})")
    for name, info in report["sshd"].items():
        state = "answers" if info["answers"] else "DOWN"
        print(f"sshd     {name:<6} 127.0.0.1:{info['port']} {state} (pid {info['pid']})")
    for image, present in report.get("images", {}).items():
        print(f"image    {image:<20} {'present' if present else 'ABSENT'}")
    for row in report.get("containers", []):
        print(f"container {row['name']:<16} {row['state']:<8} {row['health']}")
    if "env_baseline" in report:
        print(f"env      {'baseline' if report['env_baseline'] else 'CHANGED (scenario?)'}")
    print("ok" if report["ok"] else "NOT ok")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            control.up()
        elif args.command == "down":
            control.down()
        elif args.command == "reset":
            control.reset()
        elif args.command == "status":
            report = control.status()
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                _print_status(report)
            return 0 if report["ok"] else 1
        elif args.command == "scenario":
            options = {}
            if args.name == "log-flood":
                options = {"lines": args.lines, "rate": args.rate, "tag": args.tag,
                           "server": args.server, "wait": not args.no_wait}
            elif args.name == "migration-fail":
                options = {"server": args.server}
            print(json.dumps(control.scenario(args.name, **options), indent=2))
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except (DockerException, OSError, subprocess.SubprocessError) as exc:
        print(f"lab: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
