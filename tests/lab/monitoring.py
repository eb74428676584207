"""The lab's monitoring engines: Debian's prometheus, blackbox_exporter and alertmanager.

Started on loopback ports with generated configs under ``<lab root>/monitoring``: blackbox
probes the endpoints of ``tests/lab/probe_targets.py`` (healthy, proxy 502, refused,
hanging, degraded body, DNS, a certificate about to expire), Prometheus scrapes them every
two seconds and fires ``ProbeFailing`` for a failing probe, and Alertmanager holds it.
No Docker and no SSH are needed, so these start in a second or two.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.layout import Layout
from tests.lab.system import LabError

PROMETHEUS_PORT = 19090
ALERTMANAGER_PORT = 19093
BLACKBOX_PORT = 19115
TARGETS_HTTP_PORT = 18090
TARGETS_HTTPS_PORT = 18443
REFUSED_PORT = 18091  # nothing ever listens here
SCRAPE_S = 2

BINARIES = {"prometheus": "prometheus", "blackbox": "prometheus-blackbox-exporter",
            "alertmanager": "prometheus-alertmanager"}

# instance -> (module, expected class): what the lab's probes are built to show.
PROBES: dict[str, tuple[str, str]] = {
    f"http://127.0.0.1:{TARGETS_HTTP_PORT}/ok": ("http_2xx", "ok"),
    f"http://127.0.0.1:{TARGETS_HTTP_PORT}/502": ("http_2xx", "proxy_bad_gateway"),
    f"http://127.0.0.1:{REFUSED_PORT}/": ("http_2xx", "refused"),
    f"http://127.0.0.1:{TARGETS_HTTP_PORT}/hang": ("http_2xx", "read_timeout"),
    f"http://127.0.0.1:{TARGETS_HTTP_PORT}/degraded": ("http_json_ok", "body_mismatch"),
    "http://no-such-host.invalid/": ("http_2xx", "dns"),
    f"https://127.0.0.1:{TARGETS_HTTPS_PORT}/ok": ("http_tls_lab", "cert_expiring"),
}

BLACKBOX_YML = """\
modules:
  http_2xx:
    prober: http
    timeout: 1500ms
    http:
      preferred_ip_protocol: ip4
  http_json_ok:
    prober: http
    timeout: 1500ms
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ['"status": *"ok"']
  http_tls_lab:
    prober: http
    timeout: 1500ms
    http:
      preferred_ip_protocol: ip4
      tls_config:
        insecure_skip_verify: true
"""

RULES_YML = """\
groups:
  - name: lab
    rules:
      - alert: ProbeFailing
        expr: probe_success == 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} probe failing"
"""

ALERTMANAGER_YML = """\
route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


def _job(module: str, instances: list[str]) -> str:
    targets = ", ".join(f'"{i}"' for i in instances)
    return f"""\
  - job_name: blackbox_{module}
    metrics_path: /probe
    params:
      module: [{module}]
    static_configs:
      - targets: [{targets}]
        labels:
          env: lab
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{BLACKBOX_PORT}
"""


def prometheus_yml(probes: dict[str, tuple[str, str]], rules: Path) -> str:
    modules: dict[str, list[str]] = {}
    for instance, (module, _klass) in probes.items():
        modules.setdefault(module, []).append(instance)
    jobs = "".join(_job(m, i) for m, i in sorted(modules.items()))
    return f"""\
global:
  scrape_interval: {SCRAPE_S}s
  scrape_timeout: {SCRAPE_S}s
  evaluation_interval: {SCRAPE_S}s
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{ALERTMANAGER_PORT}"]
scrape_configs:
  - job_name: blackbox_exporter
    static_configs:
      - targets: ["127.0.0.1:{BLACKBOX_PORT}"]
{jobs}"""


def _short_lived_cert(cert: Path, key: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1))
                   .not_valid_after(now + dt.timedelta(days=2))
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
        return json.load(answer)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


@dataclass
class Monitoring:
    """Start, stop and kill the three engines and the probe targets; idempotent."""

    layout: Layout = field(default_factory=Layout)
    probes: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(PROBES))

    @property
    def root(self) -> Path:
        return self.layout.root / "monitoring"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{PROMETHEUS_PORT}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{ALERTMANAGER_PORT}"

    def missing(self) -> list[str]:
        return [binary for binary in BINARIES.values() if shutil.which(binary) is None]

    def up(self) -> None:
        missing = self.missing()
        if missing:
            raise LabError(f"not installed: {', '.join(missing)} (Debian packages prometheus, "
                           "prometheus-blackbox-exporter, prometheus-alertmanager)")
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_configs()
        self._start("targets", TARGETS_HTTP_PORT, [
            sys.executable, "-m", "tests.lab.probe_targets", str(TARGETS_HTTP_PORT),
            str(TARGETS_HTTPS_PORT), str(self.root / "tls.crt"), str(self.root / "tls.key")])
        self._start("blackbox", BLACKBOX_PORT, [
            BINARIES["blackbox"], f"--config.file={self.root / 'blackbox.yml'}",
            f"--web.listen-address=127.0.0.1:{BLACKBOX_PORT}"])
        self._start("alertmanager", ALERTMANAGER_PORT, [
            BINARIES["alertmanager"], f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}", "--cluster.listen-address="])
        self.start_prometheus()

    def start_prometheus(self) -> None:
        self._start("prometheus", PROMETHEUS_PORT, [
            BINARIES["prometheus"], f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
            ready=f"{self.prometheus_url}/-/ready")

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash, not a clean stop) and wait until its port is free."""
        pid = self._pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        (self.root / f"{name}.pid").unlink(missing_ok=True)

    def down(self) -> None:
        for name in ("prometheus", "alertmanager", "blackbox", "targets"):
            self.kill(name)

    def failing_probes(self) -> set[str]:
        """The instances whose probes are built to fail, hence to fire ``ProbeFailing``."""
        return {i for i, (_module, klass) in self.probes.items()
                if klass not in ("ok", "cert_expiring")}

    def not_ready(self) -> list[str]:
        """What the tests need that is not there yet, in words; empty once every probe has
        a ``probe_success`` series and Alertmanager holds an alert for every failing one.
        The slow probe (``/hang``) is the last to get there."""
        try:
            series = _get_json(f"{self.prometheus_url}/api/v1/query?query="
                               + urllib.parse.quote("probe_success"))["data"]["result"]
            alerts = _get_json(f"{self.alertmanager_url}/api/v2/alerts?active=true")
        except (OSError, ValueError, KeyError) as exc:
            return [f"the engines' APIs did not answer: {exc}"]
        scraped = {row["metric"].get("instance") for row in series}
        alerted = {a.get("labels", {}).get("instance") for a in alerts}
        reasons = [f"no probe_success series for {i}" for i in sorted(set(self.probes) - scraped)]
        reasons += [f"Alertmanager holds no alert for {i}"
                    for i in sorted(self.failing_probes() - alerted)]
        return reasons

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until ``not_ready()`` is empty; LabError with every reason, the scrape
        errors Prometheus reports, the engines' log tails and the disk space otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            reasons = self.not_ready()
            if not reasons:
                return
            if time.monotonic() >= deadline:
                raise LabError(f"monitoring not ready after {timeout:g} s: "
                               + "; ".join(reasons) + self._diagnostics())
            time.sleep(0.5)

    def _diagnostics(self) -> str:
        lines: list[str] = []
        with contextlib.suppress(OSError, ValueError, KeyError):
            targets = _get_json(f"{self.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
            lines += [f"target {t['labels'].get('instance')}: {t.get('health')} "
                      f"{t.get('lastError') or ''} (last scrape {t.get('lastScrapeDuration')} s)"
                      for t in targets if t.get("health") != "up" or t.get("lastError")]
        with contextlib.suppress(OSError, ValueError, KeyError):
            rules = _get_json(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"]
            lines.append(f"Prometheus holds {len(rules)} alerts: "
                         + ", ".join(f"{a['labels'].get('instance')}={a.get('state')}"
                                     for a in rules))
        for name in ("prometheus", "alertmanager", "blackbox"):
            with contextlib.suppress(OSError):
                tail = (self.root / f"{name}.log").read_text(errors="replace").splitlines()
                lines += [f"{name}.log: {line}" for line in tail[-5:]]
        usage = shutil.disk_usage(self.root)
        lines.append(f"disk: {usage.free // 2**20} MB free of {usage.total // 2**20} MB")
        return "\n" + "\n".join(lines)

    def wait_for(self, predicate: object, timeout: float = 30.0) -> None:
        """Poll ``predicate()`` (a callable) until it is true; LabError after ``timeout``."""
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise LabError(f"monitoring: condition not met within {timeout:g} s")

    # -- internals ---------------------------------------------------------------------

    def _write_configs(self) -> None:
        cert, key = self.root / "tls.crt", self.root / "tls.key"
        if not cert.exists() or cert.stat().st_mtime < time.time() - 86400:
            _short_lived_cert(cert, key)
        (self.root / "blackbox.yml").write_text(BLACKBOX_YML)
        (self.root / "rules.yml").write_text(RULES_YML)
        (self.root / "alertmanager.yml").write_text(ALERTMANAGER_YML)
        (self.root / "prometheus.yml").write_text(
            prometheus_yml(self.probes, self.root / "rules.yml"))

    def _pid(self, name: str) -> int | None:
        path = self.root / f"{name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # a stale pid file from a session that ended
        return pid

    def _start(self, name: str, port: int, argv: list[str], ready: str | None = None) -> None:
        if self._pid(name) is not None and _port_open(port):
            return
        self.kill(name)
        if _port_open(port):
            raise LabError(f"monitoring: port {port} for {name} is taken by another process")
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=Path(__file__).parents[2],
                                start_new_session=True)
        (self.root / f"{name}.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-800:]
                raise LabError(f"monitoring: {name} exited {proc.returncode}: {tail}")
            if _port_open(port) and (ready is None or _ready(ready)):
                return
            time.sleep(0.2)
        raise LabError(f"monitoring: {name} did not listen on {port} within 20 s")
