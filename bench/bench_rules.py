"""Benchmark (a): auth-rule matching on a 2M-line mixed log, against ``grep -cE``.

A seeded generator writes a realistic mix (nginx and uvicorn access lines, app INFO and
DEBUG lines, workers; 5 % auth events in the incidents' phrasings) to a temporary file.
Baseline, same run, same file: ``grep -ciE -f PATTERNS FILE`` where PATTERNS are the
built-in rules translated to POSIX ERE (one rule per line), in the shell's locale. Measured:
``RuleSet.classify`` over the file read in 1 MB blocks, decoding included, counting the
lines labelled. Both counts are printed and must agree (else the figure says so).

Figure: grep's time / ours. Target: at least 0.25 (a quarter of grep's speed).

    python -m bench.bench_rules [--lines N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import figure, is_quick
from console.engine.rules import BUILTIN_RULES, Rule, RuleSet

LINES = 2_000_000
QUICK_LINES = 200_000
TARGET = 0.25
BLOCK = 1 << 20


def generate(path: Path, count: int, seed: int = 1) -> None:
    """The mixed log: 95 % ordinary lines, 5 % auth events."""
    rnd = random.Random(seed)
    ips = [f"172.18.0.{i}" for i in range(2, 40)]
    paths = ["/api/v1/contacts", "/api/v1/items?page=2", "/static/app.js", "/", "/health",
             "/api/v1/me", "/api/v1/auth/login"]
    benign = [
        lambda i: (f'{rnd.choice(ips)} - - [24/Nov/2026:11:{i % 60:02d}:{i % 60:02d} +0000] '
                   f'"GET {rnd.choice(paths)} HTTP/1.1" 200 {rnd.randint(100, 9000)} "-" '
                   '"Mozilla/5.0 (X11; Linux x86_64)"'),
        lambda i: (f'INFO:     {rnd.choice(ips)}:{rnd.randint(1000, 60000)} - '
                   f'"GET {rnd.choice(paths)} HTTP/1.1" 200 OK'),
        lambda i: (f"2026-11-24 11:31:{i % 60:02d},{i % 1000:03d} INFO app.services.contacts: "
                   f"fetched {rnd.randint(1, 500)} contacts for tenant {rnd.randint(1, 99)} "
                   f"in {rnd.random() * 100:.1f}ms"),
        lambda i: (f"2026-11-24 11:31:{i % 60:02d},{i % 1000:03d} DEBUG sqlalchemy.engine: "
                   "SELECT contacts.id, contacts.name FROM contacts WHERE "
                   "contacts.tenant_id = %(tenant_id)s LIMIT 50"),
        lambda i: f"[worker-{i % 8}] processed job {i} queue=emails duration={rnd.random():.3f}s",
    ]
    events = [
        lambda i: (f"2026-11-24T11:31:00Z WARNING [AUTH] Login failed: invalid password "
                   f"for u{i}@x.io"),
        lambda i: f"2026-11-24T11:31:00Z WARNING [AUTH] Login failed: user not found: g{i}@x.io",
        lambda i: "2026-11-24T11:31:00Z WARNING [AUTH] JWT expired (sub=1, expired 5s ago)",
        lambda i: "2026-11-24T11:31:00Z WARNING [AUTH] Invalid token signature",
        lambda i: (f'{rnd.choice(ips)} - - [24/Nov/2026:11:31:00 +0000] "POST /api/v1/auth/login '
                   'HTTP/1.1" 502 157 "-" "curl/8.0"'),
        lambda i: f'{rnd.choice(ips)} "POST /api/v1/auth/login HTTP/1.0" 401 33 8.6ms',
        lambda i: (f"2026/11/24 11:31:00 [error] 29#29: *{i} connect() failed (111: Connection "
                   "refused) while connecting to upstream, client: 172.18.0.1, server: _"),
        lambda i: "RuntimeError: JWT_SECRET not configured",
        lambda i: "[AUTH] bcrypt.checkpw failed: Invalid salt. Hash starts with: $2b$12",
        lambda i: '172.18.0.9 - - [24/Nov/2026:11:31:00 +0000] "POST /login HTTP/1.1" 429 12',
    ]
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            pick = events if rnd.random() < 0.05 else benign
            out.write(rnd.choice(pick)(i) + "\n")


_ERE = [
    ("[\\t -~]", "[\t -~]"),  # a tab and printable ASCII (ERE has no \t in brackets)
    (r"(?:", "("),
    (r"(?=", "("),  # a lookahead at the end of a rule matches the same lines as a group
    (r"[^\n]", "."),
    (r"\n", ""),  # a newline in a bracket (grep reads lines; in ERE it means "\" and "n")
    (r"\d", "[0-9]"),
    (r"\S", "[^[:space:]]"),
    (r"\w", "[[:alnum:]_]"),
    ('\\"', '"'),
    ("\\'", "'"),
]


def to_ere(rule: Rule) -> str:
    """A built-in rule as POSIX ERE for ``grep -E`` (lazy quantifiers become greedy)."""
    pattern = rule.pattern
    for python, posix in _ERE:
        pattern = pattern.replace(python, posix)
    return re.sub(r"(\{\d*,?\d*\})\?", r"\1", pattern)


def time_grep(path: Path, patterns: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(["grep", "-ciE", "-f", str(patterns), str(path)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"grep failed: {proc.stderr.strip()}")
    return elapsed, int(proc.stdout.strip() or 0)


def time_rules(path: Path, ruleset: RuleSet) -> tuple[float, int]:
    start = time.perf_counter()
    matched = 0
    carry = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(BLOCK)
            if not chunk:
                break
            chunk = carry + chunk
            cut = chunk.rfind(b"\n")
            carry = chunk[cut + 1:]
            matched += len(ruleset.classify(chunk[:cut].decode("utf-8", "replace")))
        if carry:
            matched += len(ruleset.classify(carry.decode("utf-8", "replace")))
    return time.perf_counter() - start, matched


def run(lines: int | None = None) -> dict[str, Any]:
    lines = lines or (QUICK_LINES if is_quick() else LINES)
    ruleset = RuleSet.default()
    with tempfile.TemporaryDirectory(prefix="ops-bench-rules-") as tmp:
        log = Path(tmp) / "mixed.log"
        patterns = Path(tmp) / "rules.ere"
        generate(log, lines)
        patterns.write_text("\n".join(to_ere(r) for r in BUILTIN_RULES) + "\n")
        size_mb = log.stat().st_size / 1e6
        grep_s, grep_count = min((time_grep(log, patterns) for _ in range(2)),
                                 key=lambda r: r[0])
        ours_s, ours_count = min((time_rules(log, ruleset) for _ in range(2)),
                                 key=lambda r: r[0])
    ratio = grep_s / ours_s if ours_s else None
    note = (f"{lines:,} lines, {size_mb:.0f} MB, {len(ruleset.rules)} rules in Hyperscan; "
            f"matched: ours {ours_count:,}, grep {grep_count:,}"
            + ("" if ours_count == grep_count else " (COUNTS DIFFER)"))
    return {
        "lines": lines,
        "grep_s": round(grep_s, 3),
        "ours_s": round(ours_s, 3),
        "grep_count": grep_count,
        "ours_count": ours_count,
        "counts_agree": ours_count == grep_count,
        "locale": os.environ.get("LC_ALL") or os.environ.get("LANG") or "C",
        "figures": [figure("rule matching vs grep -ciE (speed ratio)", round(ratio, 3)
                           if ratio else None, "x grep", target=TARGET, op=">=",
                           baseline=round(grep_s, 3), baseline_label="grep -ciE s",
                           note=note)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=None)
    result = run(parser.parse_args().lines)
    print(f"grep -ciE: {result['grep_s']:.2f} s ({result['grep_count']:,} lines)")
    print(f"RuleSet:   {result['ours_s']:.2f} s ({result['ours_count']:,} lines)")
    fig = result["figures"][0]
    print(f"ratio: {fig['value']} x grep's speed (target >= {TARGET}) -> {fig['verdict']}")


if __name__ == "__main__":
    main()
