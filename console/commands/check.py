"""``ops-console check``: every probe once, no TUI; a table or JSON; exit 0, 1 or 2.

Meant as a post-deploy gate and for cron (a deploy with no verification step lets a start-up
crash go unnoticed): the exit
code says whether anything is wrong, the table says what. The diagnosis's findings come
first (what is broken, since when, which key fixes it); one of warning or worse makes the
exit code 1 even when every pane row alone looks fine (a login flood, an expiring
certificate).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.commands.fleet_json import render_fleet_lines
from console.commands.snapshot import UnknownServer, collect, filter_config
from console.config import Config
from console.engine.diagnosis import held_text
from console.textsafe import printable

__all__ = ["findings_block", "render_table", "run_check"]


def run_check(config: Config, args: argparse.Namespace) -> int:
    try:
        config = filter_config(config, args.server)
    except UnknownServer as exc:
        print(f"ops-console: {exc}", file=sys.stderr)
        return 2
    document = collect(config, window_s=args.window)
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(document))
    return 0 if document["ok"] else 1


def _mark(ok: bool) -> str:
    return "ok  " if ok else "FAIL"


def render_table(doc: dict[str, Any]) -> str:
    """Plain text, one block per server; only problems are spelled out in full."""
    out: list[str] = [f"ops-console check  {doc['generated_at']}  "
                      f"{'ALL GOOD' if doc['ok'] else 'PROBLEMS FOUND'}", ""]
    out += findings_block(doc.get("findings", []))
    for error in doc.get("errors", []):
        out.append(f"! {printable(error)}")
    for server in doc["servers"]:
        out += _server_block(server)
    out += render_fleet_lines(doc, printable)
    return "\n".join(out) + "\n"


def findings_block(findings: list[dict[str, Any]]) -> list[str]:
    """The diagnosis first: what is broken, since when, what shows it, what fixes it."""
    if not findings:
        return ["findings: none", ""]
    out = [f"findings ({len(findings)}, most severe first)"]
    for f in findings:
        held = held_text(f)
        out.append(f"  {f['severity'].upper():<8} {printable(f['server'])}: "
                   f"{printable(f['summary'], 300)}{f'  [{held}]' if held else ''}")
        fix = f["fix"]
        if fix["action"] == "manual":
            out.append(f"           fix by hand: {printable(fix['why'], 400)}")
        else:
            out.append(f"           fix: {fix['action'].replace('_', '-')} "
                       f"{printable(fix['target'])} (key {fix['key']} in the console): "
                       f"{printable(fix['why'], 300)}")
        out += [f"           - {e['pane']}: {printable(e['text'], 200)}" for e in f["evidence"]]
    return out + [""]


def _server_block(server: dict[str, Any]) -> list[str]:
    conn = server["connection"]
    detail = f" ({printable(conn['detail'])})" if conn["detail"] else ""
    out = [f"== {printable(server['name'])}  [{_mark(server['ok'])}]  connection "
           f"{conn['state']}{detail}"]
    for error in server.get("errors", []):
        out.append(f"   ! {printable(error)}")
    out.append("   containers")
    for c in server["containers"]:
        out.append(f"     {_mark(c['ok'])} {printable(c['name']):<28} {c['state']:<10} "
                   f"{c['health']:<10} restarts {c['restart_count']}")
    out.append("   health")
    for h in server["health"]:
        code = h["status"] if h["status"] is not None else "-"
        latency = f"{h['latency_ms']:.0f} ms" if h["latency_ms"] is not None else "-"
        out.append(f"     {_mark(h['ok'])} {printable(h['name']):<28} {code!s:<4} "
                   f"{latency:>8}  {h['class']}: {printable(h['reason'])}")
    bad = [s for s in server["secrets"] if not s["ok"] or s.get("drift")]
    out.append(f"   secrets  {len(server['secrets']) - len(bad)} fine, {len(bad)} problems")
    for s in bad:
        drift = "  DRIFT" if s.get("drift") else ""
        out.append(f"     FAIL {printable(s['name']):<28} {printable(s['place']):<30} "
                   f"{s['status']}{drift}")
    for v in server.get("volumes", []):
        if not v.get("ok", True):
            out.append(f"     FAIL volume {printable(v['name'])} {v['status']}")
    events = server["auth_events"]
    counts = ", ".join(f"{k} {n}" for k, n in sorted(events["counts"].items())) or "none"
    out.append(f"   auth events (last {events['window_s'] // 60} min): {counts}")
    out.append("")
    return out
