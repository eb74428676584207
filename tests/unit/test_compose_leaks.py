"""No value read through Compose or its files ever leaves as text: models, problems, staleness
reasons, reprs, logs and exceptions are searched for a marker planted in every place."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from console.engine.compose import ComposeProjects, stale_findings
from console.engine.compose.files import load_compose
from console.engine.compose.tool import ComposeAnswer
from console.engine.secrets import Fingerprinter, classify_value
from tests.support.compose import KEY, WrappedHost, labels_for, parsed, write_project

MARKER = "LEAKMARK7f3a9c"

PROJECTS = {
    "values": {
        "docker-compose.yml": f"""
            services:
              api:
                image: busybox
                env_file: [.env, conf/app.env]
                environment:
                  LITERAL_SECRET: "{MARKER}-literal"
                  JOINED: "${{JWT_SECRET}}-{MARKER}"
                  DEFAULTED: "${{NOT_SET_HERE:-{MARKER}-default}}"
        """,
        ".env": f"JWT_SECRET={MARKER}-dotenv\nBROKEN LINE {MARKER}\n",
        "conf/app.env": f'API_KEY="{MARKER}-envfile"\nREF=${{UNKNOWN_{MARKER}}}\n',
    },
    "yaml": {"docker-compose.yml": f"services:\n  api:\n   image: x\n  environment: [{MARKER}\n"},
    "interpolation": {"docker-compose.yml": f"""
        services:
          api:
            image: busybox
            environment:
              A: "${{X/{MARKER}/b}}"
    """},
    "required": {"docker-compose.yml": f"""
        services:
          api:
            image: busybox
            environment:
              A: "${{MUST_EXIST:?{MARKER} hint}}"
    """},
    "shape": {"docker-compose.yml": f"services:\n  api:\n    environment: {MARKER}\n"},
    "extends": {
        "docker-compose.yml": """
            include: [sub/inc.yml]
            services:
              api:
                extends: {file: base.yml, service: base}
                environment: [OWN=${SUB_ONLY:-x}]
        """,
        "base.yml": f"""
            services:
              base:
                image: busybox
                env_file: base.env
                environment:
                  BASE_SECRET: "{MARKER}-base"
        """,
        "base.env": f"BASE_FILE={MARKER}-base-file\n",
        "sub/inc.yml": """
            services:
              inc:
                image: busybox
                environment: ["INC=${SUB_ONLY}"]
        """,
        "sub/.env": f"SUB_ONLY={MARKER}-sub-dotenv\n",
    },
    "conflict": {
        "docker-compose.yml": f"""
            include: [inc.yml]
            services:
              api:
                image: busybox
                environment: [A={MARKER}-local]
        """,
        "inc.yml": f"services:\n  api:\n    environment: [A={MARKER}-included]\n",
    },
    "extends_error": {"docker-compose.yml": f"""
        services:
          api:
            extends: {{file: "${{NOPE:?{MARKER} hint}}", service: b}}
    """},
}


@pytest.mark.parametrize("compose", [True, False])
async def test_no_marker_anywhere(tmp_path: Path, compose: bool,
                                  caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if compose and shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed")
    monkeypatch.delenv("MUST_EXIST", raising=False)
    caplog.set_level(logging.DEBUG)
    fp = Fingerprinter(KEY)
    projects = ComposeProjects(fp)
    host = WrappedHost(compose=compose)
    said: list[str] = []
    for name, files in PROJECTS.items():
        directory = write_project(tmp_path, name, files)
        labels = parsed(labels_for(directory, name, "api"))
        model = await projects.project(host, labels)
        assert model is not None
        said += [repr(model), str(model.problems), *(str(p) for p in model.problems)]
        if model.services:
            observed = {"LITERAL_SECRET": classify_value("LITERAL_SECRET", "other", fp)}
            said += [repr(f) for f in stale_findings(model, labels, "api-1", observed)]
    said += [r.getMessage() for r in caplog.records]
    said += [repr(projects)]
    text = "\n".join(said)
    assert MARKER not in text
    assert "values" in text and "yaml" in text  # the problems were said, by name
    assert "does not parse as YAML" in text and "required variable is not set" in text
    if not compose:  # the new paths ran: a conflict refused, an extends file's error said
        assert "Compose refuses the conflict" in text
        assert "extends_error: docker-compose.yml: required variable is not set: NOPE" in text


def test_transient_holders_show_counts_only(tmp_path: Path) -> None:
    files = load_compose("p", "/srv/p", [("/srv/p/c.yml", (
        f"services:\n  a:\n    environment:\n      S: {MARKER}\n").encode())], lambda _n: None)
    assert MARKER not in repr(files) and MARKER not in str(files)
    answer = ComposeAnswer("ok", {"a": {"S": MARKER}})
    assert MARKER not in repr(answer)
    answer.discard()
    files.discard()
    assert not answer.values and not files.services
