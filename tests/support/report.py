"""A ``check --json`` document, as ``report`` and the check table read it."""

from __future__ import annotations


def document(name: str = "prod") -> dict:
    return {
        "version": 1, "ok": False, "generated_at": "2026-11-24T08:00:00Z", "errors": [],
        "servers": [{
            "name": name, "ok": False,
            "connection": {"state": "up", "detail": "connected"},
            "containers": [{"name": "crm-backend-1", "project": "crm", "service": "backend",
                            "state": "exited", "health": "none", "restart_count": 3,
                            "ok": False, "image": "app:1"}],
            "health": [{"name": "login api", "url": "http://x/health", "ok": False,
                        "status": 502, "class": "proxy_bad_gateway",
                        "reason": "nginx answered 502: proxy up, backend down",
                        "latency_ms": 3.1}],
            "secrets": [{"name": "JWT_SECRET", "place": "/srv/crm/.env", "status": "missing",
                         "ok": False, "detail": "", "drift": False},
                        {"name": "JWT_SECRET", "place": "container:crm-backend-1",
                         "status": "present", "ok": True, "detail": "", "drift": True}],
            "volumes": [{"name": "crm_dbdata", "project": "crm", "status": "missing",
                         "ok": False, "used_by": ["crm-backend-1"]}],
            "auth_events": {"window_s": 900, "counts": {"failed_login": 12},
                            "recent": [{"time": "t", "source": "crm-backend-1",
                                        "rule": "failed_login", "severity": "warning",
                                        "line": "[AUTH] Login failed: \x1b[2J```"}]},
        }],
    }
