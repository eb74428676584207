"""ComposeProjects on real projects: Compose's own answer (Debian's docker-compose 1.29.2)
against the direct reading of the files, the cache, and the per-project problem lines."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from console.engine.compose import ComposeProjects
from console.engine.compose.model import ProjectModel
from console.engine.compose.tool import config_hashes
from console.engine.secrets import Fingerprinter
from console.models import CommandResult
from tests.support.compose import (
    KEY,
    WrappedHost,
    labels_for,
    local_host,
    parsed,
    view,
    write_project,
)

needs_v1 = pytest.mark.skipif(shutil.which("docker-compose") is None,
                              reason="docker-compose (v1) is not installed")

ISSUE_SHAPE = {
    "docker-compose.yml": """
        services:
          api:
            image: busybox
            env_file: .env
          worker:
            image: busybox
            environment:
              - JWT_SECRET=${JWT_SECRET}
    """,
    ".env": """
        JWT_SECRET=9f6c1d0e8b7a4c3f2e1d0c9b8a7f6e5d4c3b2a19
        DATABASE_URL=postgres://crm:Zq8v3nW1xR7t@db:5432/crm
        SESSION_SECRET=Xk2p9Lm4Qw8r1Tz6Yb3n7Vc5Hd0Gf2Js
    """,
}

CASES: dict[str, dict[str, str]] = {
    "issue_shape": ISSUE_SHAPE,
    "defaults_and_escapes": {
        "docker-compose.yml": """
            services:
              app:
                image: "busybox:${TAG:-latest}"
                environment:
                  WITH_DEFAULT: "${NOT_SET_ANYWHERE:-fallback-value}"
                  DASH_DEFAULT: "${EMPTY_IN_DOTENV-dash}"
                  COLON_EMPTY: "${EMPTY_IN_DOTENV:-colon}"
                  ESCAPED: "$$HOME and $${NOT_VARS}"
                  JOINED: "prefix-${API_TOKEN}-suffix"
                  NUMBER: 5432
                  FLOAT: 1.5
                  BARE_FROM_DOTENV:
                  BARE_NOWHERE:
        """,
        ".env": """
            EMPTY_IN_DOTENV=
            API_TOKEN="tok with spaces # not a comment"
            BARE_FROM_DOTENV='single $quoted'
        """,
    },
    "env_files_and_override_order": {
        "docker-compose.yml": """
            services:
              api:
                image: busybox
                env_file:
                  - ./conf/base.env
                  - conf/override.env
                environment:
                  - FROM_ENVIRONMENT=wins
                  - SHARED=environment
                  - LISTED_BARE
        """,
        "conf/base.env": """
            # base
            export SHARED=base
            BASE_ONLY=base-only
            QUOTED="a\\tb"
            MULTI="line one
            line two"
            FROM_ENVIRONMENT=loses
        """,
        "conf/override.env": """
            SHARED=override
            OVERRIDE_ONLY=ok # trailing comment
            EMPTY=
        """,
        ".env": """
            LISTED_BARE=from-dotenv
        """,
    },
    "two_files_merged": {
        "docker-compose.yml": """
            version: "3.8"
            services:
              web:
                image: busybox
                environment:
                  A: one
                  B: two
              db:
                image: postgres
                environment:
                  - POSTGRES_PASSWORD=${DB_PASSWORD}
        """,
        "docker-compose.override.yml": """
            services:
              web:
                environment:
                  B: overridden
                  C: three
        """,
        ".env": "DB_PASSWORD=Hh3kL9pQ2mN7vB4x\n",
    },
}


def config_files(files: dict[str, str]) -> list[str]:
    return [f for f in files if f.startswith("docker-compose")]


async def resolve(tmp_path: Path, name: str, files: dict[str, str], *, compose: bool,
                  service: str = "api") -> tuple[ComposeProjects, WrappedHost, object]:
    directory = write_project(tmp_path, name, files)
    projects = ComposeProjects(Fingerprinter(KEY))
    host = WrappedHost(compose=compose)
    labels = parsed(labels_for(directory, name, service, config_files(files)))
    return projects, host, await projects.project(host, labels)


# --------------------------------------------------------------------------- differential


@needs_v1
@pytest.mark.parametrize("case", sorted(CASES))
async def test_reading_the_files_agrees_with_compose_config(tmp_path: Path, case: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("TAG", "1.36")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    monkeypatch.delenv("BARE_NOWHERE", raising=False)
    files = CASES[case]
    _, _, by_compose = await resolve(tmp_path / "a", case, files, compose=True)
    _, _, by_files = await resolve(tmp_path / "b", case, files, compose=False)
    assert by_compose.source == "docker-compose 1.29.2 config"  # type: ignore[attr-defined]
    assert by_files.source == "compose files"  # type: ignore[attr-defined]
    assert view(by_compose) == view(by_files)  # type: ignore[arg-type]
    assert by_compose.problems == by_files.problems  # type: ignore[attr-defined]
    compared = [k for s in view(by_files).values() for k, (state, fp, shaky) in s.items()
                if fp is not None and not shaky]
    assert compared, "the case compares no value"


@needs_v1
async def test_values_are_what_compose_gives_each_service(tmp_path: Path) -> None:
    """An oracle outside the code under test: fingerprints of the values written above."""
    fp = Fingerprinter(KEY)
    _, _, model = await resolve(tmp_path, "crm", ISSUE_SHAPE, compose=True)
    api = model.services["api"]  # type: ignore[attr-defined]
    worker = model.services["worker"]  # type: ignore[attr-defined]
    assert set(api.expected) == {"JWT_SECRET", "DATABASE_URL", "SESSION_SECRET"}
    assert set(worker.expected) == {"JWT_SECRET"}  # the worker only interpolates
    assert worker.declared == {"JWT_SECRET"} and worker.env_files == ()
    assert api.declared == frozenset()
    assert [r.keys for r in api.env_files] == [{"JWT_SECRET", "DATABASE_URL",
                                                "SESSION_SECRET"}]
    secret = "9f6c1d0e8b7a4c3f2e1d0c9b8a7f6e5d4c3b2a19"
    assert worker.expected["JWT_SECRET"].observation.fingerprint == fp("JWT_SECRET", secret)
    assert api.expected["JWT_SECRET"].observation.fingerprint == fp("JWT_SECRET", secret)
    assert worker.expected["JWT_SECRET"].from_env_files == (str(tmp_path / "crm" / ".env"),)
    assert api.expected["DATABASE_URL"].origin == str(tmp_path / "crm" / ".env")


@needs_v1
async def test_order_escape_and_bare_rules(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fp = Fingerprinter(KEY)
    monkeypatch.delenv("BARE_NOWHERE", raising=False)
    for compose in (True, False):
        files = CASES["env_files_and_override_order"]
        _, _, model = await resolve(tmp_path / str(compose), "p", files, compose=compose)
        exp = model.services["api"].expected  # type: ignore[attr-defined]
        assert exp["SHARED"].observation.fingerprint == fp("SHARED", "environment")
        assert exp["FROM_ENVIRONMENT"].observation.fingerprint == fp("FROM_ENVIRONMENT", "wins")
        assert exp["QUOTED"].observation.fingerprint == fp("QUOTED", "a\tb")
        assert exp["MULTI"].observation.fingerprint == fp("MULTI", "line one\nline two")
        assert exp["OVERRIDE_ONLY"].observation.fingerprint == fp("OVERRIDE_ONLY", "ok")
        assert exp["EMPTY"].observation.state == "empty"
        assert exp["LISTED_BARE"].observation.fingerprint == fp("LISTED_BARE", "from-dotenv")
        assert exp["BASE_ONLY"].origin.endswith("conf/base.env")
        refs = model.services["api"].env_files  # type: ignore[attr-defined]
        assert [r.path for r in refs] == [str(tmp_path / str(compose) / "p" / "conf" / n)
                                          for n in ("base.env", "override.env")]
        files2 = CASES["defaults_and_escapes"]
        _, _, model2 = await resolve(tmp_path / f"d{compose}", "d", files2, compose=compose,
                                     service="app")
        app = model2.services["app"].expected  # type: ignore[attr-defined]
        assert app["ESCAPED"].observation.fingerprint == fp("ESCAPED", "$HOME and ${NOT_VARS}")
        assert app["JOINED"].observation.fingerprint == fp(
            "JOINED", "prefix-tok with spaces # not a comment-suffix")
        assert app["BARE_FROM_DOTENV"].observation.fingerprint == fp("BARE_FROM_DOTENV",
                                                                     "single $quoted")
        assert app["BARE_NOWHERE"].observation.state == "bare"
        assert app["NUMBER"].observation.fingerprint == fp("NUMBER", "5432")
        assert app["WITH_DEFAULT"].observation.fingerprint == fp("WITH_DEFAULT",
                                                                 "fallback-value")
        assert app["DASH_DEFAULT"].observation.state == "empty"
        assert app["COLON_EMPTY"].observation.fingerprint == fp("COLON_EMPTY", "colon")


@needs_v1
async def test_shell_environment_wins_over_dotenv_for_interpolation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fp = Fingerprinter(KEY)
    monkeypatch.setenv("JWT_SECRET", "from-the-shell-0123456789abcdef0123")
    for compose in (True, False):
        _, _, model = await resolve(tmp_path / str(compose), "crm", ISSUE_SHAPE,
                                    compose=compose, service="worker")
        worker = model.services["worker"].expected  # type: ignore[attr-defined]
        assert worker["JWT_SECRET"].observation.fingerprint == fp(
            "JWT_SECRET", "from-the-shell-0123456789abcdef0123")


async def test_a_variable_nobody_sets_is_a_warning_and_not_compared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOWHERE_SET", raising=False)
    files = {"docker-compose.yml": """
        services:
          api:
            image: busybox
            environment:
              TOKEN: "${NOWHERE_SET}"
    """}
    for compose in (True, False) if shutil.which("docker-compose") else (False,):
        _, _, model = await resolve(tmp_path / str(compose), "p", files, compose=compose)
        assert [str(p) for p in model.problems] == [  # type: ignore[attr-defined]
            "p: variable NOWHERE_SET is not set (Compose uses an empty string)"]
        assert model.ok  # type: ignore[attr-defined]
        token = model.services["api"].expected["TOKEN"].observation  # type: ignore
        assert token.state == "empty" and token.unresolved


# --------------------------------------------------------------------------- bad input


BAD_YAML = {"docker-compose.yml": """
    services:
      api:
        image: busybox
       environment: [S3CRET=do-not-show-me
"""}


@pytest.mark.parametrize("compose", [True, False])
async def test_a_compose_file_that_does_not_parse_is_one_line_and_others_still_work(
        tmp_path: Path, compose: bool) -> None:
    if compose and shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed")
    bad = write_project(tmp_path, "bad", BAD_YAML)
    good = write_project(tmp_path, "good", ISSUE_SHAPE)
    projects = ComposeProjects(Fingerprinter(KEY))
    host = WrappedHost(compose=compose)
    models = await projects.for_containers(host, [labels_for(bad, "bad", "api"),
                                                  labels_for(good, "good", "api"),
                                                  labels_for(good, "good", "worker")])
    by_project = {k.project: m for k, m in models.items()}
    assert [str(p) for p in by_project["bad"].problems] == [
        "bad: docker-compose.yml does not parse as YAML (line 4)"]
    assert not by_project["bad"].ok and not by_project["bad"].services
    assert by_project["good"].ok and set(by_project["good"].services) == {"api", "worker"}


@pytest.mark.parametrize("compose", [True, False])
async def test_missing_env_file_and_required_variable(tmp_path: Path, compose: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if compose and shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed")
    monkeypatch.delenv("MUST_BE_SET", raising=False)
    missing = {"docker-compose.yml": """
        services:
          api:
            image: busybox
            env_file: [secrets.env]
            environment: [A=1]
    """}
    required = {"docker-compose.yml": """
        services:
          api:
            image: busybox
            environment:
              KEY: "${MUST_BE_SET:?the author's hint}"
    """}
    _, _, one = await resolve(tmp_path / "m", "m", missing, compose=compose)
    assert [str(p) for p in one.problems] == [  # type: ignore[attr-defined]
        "m: env_file secrets.env of service api does not exist"]
    assert one.services["api"].env_files[0].missing  # type: ignore[attr-defined]
    _, _, two = await resolve(tmp_path / "r", "r", required, compose=compose)
    assert [str(p) for p in two.problems] == [  # type: ignore[attr-defined]
        "r: docker-compose.yml: required variable is not set: MUST_BE_SET"]


async def test_a_config_slower_than_the_timeout_is_a_line_and_the_files_are_read(
        tmp_path: Path) -> None:
    directory = write_project(tmp_path, "slow", ISSUE_SHAPE)
    host = WrappedHost(delay=lambda argv: 30.0 if "config" in argv else 0.0)
    host.compose = True
    projects = ComposeProjects(Fingerprinter(KEY), timeout=0.5)
    model = await projects.project(host, parsed(labels_for(directory, "slow", "api")))
    assert model is not None
    if shutil.which("docker-compose") is None and shutil.which("docker") is None:
        pytest.skip("no compose to time out")
    assert [str(p) for p in model.problems] == [
        "slow: docker-compose config did not answer within 0.5 s: the compose files were "
        "read directly"]
    assert model.ok and model.source == "compose files"
    assert set(model.services["worker"].expected) == {"JWT_SECRET"}


async def test_a_project_whose_directory_is_gone(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    projects = ComposeProjects(Fingerprinter(KEY))
    model = await projects.project(WrappedHost(), parsed(labels_for(directory, "gone", "api")))
    assert model is not None and not model.ok
    assert str(model.problems[0]) == "gone: docker-compose.yml does not exist on local"


# --------------------------------------------------------------------------- cache


async def test_the_cache_holds_until_a_watched_file_changes(tmp_path: Path) -> None:
    fp = Fingerprinter(KEY)
    files = dict(CASES["env_files_and_override_order"])
    directory = write_project(tmp_path, "p", files)
    host = WrappedHost(compose=False)
    projects = ComposeProjects(fp)
    labels = parsed(labels_for(directory, "p", "api"))
    first = await projects.project(host, labels)
    host.commands.clear()
    again = await projects.project(host, labels)
    assert again is first
    assert [c[0] for c in host.commands] == ["stat"]  # one stat, nothing re-read
    assert first is not None and set(first.watched) >= {
        str(directory / "docker-compose.yml"), str(directory / ".env"),
        str(directory / "conf/base.env"), str(directory / "conf/override.env")}
    (directory / "conf/override.env").write_text("SHARED=override\nOVERRIDE_ONLY=edited\n")
    edited = await projects.project(host, labels)
    assert edited is not first and edited is not None
    assert edited.services["api"].expected["OVERRIDE_ONLY"].observation.fingerprint == \
        fp("OVERRIDE_ONLY", "edited")
    assert "EMPTY" not in edited.services["api"].expected
    (directory / ".env").write_text("LISTED_BARE=x\n")  # same size as before: mtime counts
    assert await projects.project(host, labels) is not edited
    assert projects.cached("local")[labels.key()] is not edited  # type: ignore[index]


async def test_compose_is_detected_once_per_server(tmp_path: Path) -> None:
    directory = write_project(tmp_path, "p", ISSUE_SHAPE)
    host = WrappedHost()
    projects = ComposeProjects(Fingerprinter(KEY))
    await projects.project(host, parsed(labels_for(directory, "p", "api")))
    (directory / ".env").write_text("JWT_SECRET=changed-value-0123456789abcdef01\n")
    await projects.project(host, parsed(labels_for(directory, "p", "api")))
    versions = [c for c in host.commands if "version" in c]
    assert 1 <= len(versions) <= 2  # the v2 probe (absent here) and the v1 answer, once


class TimedHost(WrappedHost):
    """Records when each command and file read ran; Compose's commands take 0.1 s."""

    def __init__(self) -> None:
        super().__init__(delay=lambda argv: 0.1 if "version" in argv or "config" in argv
                         else 0.0)
        self.spans: list[tuple[str, float, float]] = []
        self._clock = asyncio.get_running_loop().time

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        began = self._clock()
        try:
            return await super().run(argv, timeout=timeout, input=input)
        finally:
            self.spans.append((" ".join(argv), began, self._clock()))

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        began = self._clock()
        try:
            return await super().read_file(path, max_bytes=max_bytes)
        finally:
            self.spans.append((f"read {path}", began, self._clock()))

    def span(self, *words: str) -> tuple[float, float]:
        found = [(a, b) for what, a, b in self.spans if all(w in what for w in words)]
        assert found, f"no {words} among {[w for w, _, _ in self.spans]}"
        return found[0]


def overlap(one: tuple[float, float], other: tuple[float, float]) -> bool:
    return one[0] < other[1] and other[0] < one[1]


async def test_a_first_project_asks_compose_beside_reading_its_files(tmp_path: Path) -> None:
    """The first model waits for Compose once, not for each step in turn: both Compose
    versions are asked at once, alongside the files' ``stat`` (one: it also learns that
    this ``stat`` gives nanoseconds), and the files are read while Compose is still being
    detected."""
    directory = write_project(tmp_path, "p", ISSUE_SHAPE)
    host = TimedHost()
    projects = ComposeProjects(Fingerprinter(KEY))
    await projects.for_containers(host, [labels_for(directory, "p", "api")])
    v2, v1 = host.span("docker compose version"), host.span("docker-compose version")
    assert overlap(v2, v1)
    assert overlap(v2, host.span("stat -L -c %n\t%s:%i:%.9Y:%.9Z --"))
    assert sum(what.startswith("stat ") for what, _, _ in host.spans) == 1
    reads = [(a, b) for what, a, b in host.spans if what.startswith("read ")]
    assert reads and reads[0][0] < min(v1[1], v2[1])
    assert sum("version" in what for what, _, _ in host.spans) == 2  # the warm-up's, once


def config_runs(host: TimedHost) -> list[tuple[str, float, float]]:
    return [(what, a, b) for what, a, b in host.spans
            if " config" in what and "--hash" not in what]


async def plain_and_labelled(tmp_path: Path, created_by: str
                             ) -> tuple[ProjectModel, ProjectModel, TimedHost]:
    """The project's model from labels without a Compose version, and from labels naming
    ``created_by`` (timed), each by a fresh ComposeProjects."""
    directory = write_project(tmp_path, "p", ISSUE_SHAPE)
    plain = await ComposeProjects(Fingerprinter(KEY)).project(
        WrappedHost(), parsed(labels_for(directory, "p", "api")))
    host = TimedHost()
    labelled = await ComposeProjects(Fingerprinter(KEY)).project(host, parsed(labels_for(
        directory, "p", "api", **{"com.docker.compose.version": created_by})))
    assert plain is not None and labelled is not None
    return plain, labelled, host


@needs_v1
async def test_config_is_asked_of_the_compose_the_labels_name_and_detection_comes_after(
        tmp_path: Path) -> None:
    """A container made by Compose v1 says so on its labels: ``config`` is asked of
    ``docker-compose`` at once, and once; the server's Compose is detected after that
    answer, in the background; the model is the same as without the labels' hint."""
    directory = write_project(tmp_path, "p", ISSUE_SHAPE)
    plain = await ComposeProjects(Fingerprinter(KEY)).project(
        WrappedHost(), parsed(labels_for(directory, "p", "api")))
    host = TimedHost()
    projects = ComposeProjects(Fingerprinter(KEY))
    hinted = await projects.for_containers(host, [labels_for(
        directory, "p", "api", **{"com.docker.compose.version": "1.29.2"})])
    runs = config_runs(host)
    assert len(runs) == 1 and " docker-compose -p " in runs[0][0]
    tool = await projects.tool(host)  # the background detection's answer, once
    assert tool is not None and tool.argv == ("docker-compose",)
    assert all(began >= runs[0][2] for what, began, _ in host.spans if "version" in what)
    assert sum("docker-compose version" in what for what, _, _ in host.spans) == 1
    model = next(iter(hinted.values()))
    assert plain is not None and model.source == plain.source
    assert model.source.startswith("docker-compose 1.")
    assert model.services == plain.services and model.problems == plain.problems


@needs_v1
async def test_a_wrong_guess_of_compose_is_dropped_and_config_asked_again(
        tmp_path: Path) -> None:
    """Labels of Compose v2 on a server that has only v1: the early ``docker compose
    config`` is abandoned, and the model is what v1 answers, with no trace of the guess."""
    if (await local_host().run(["docker", "compose", "version"])).ok:
        pytest.skip("this machine has the v2 plugin: the guess would be right")
    plain, guessed, host = await plain_and_labelled(tmp_path, "2.24.5")
    runs = config_runs(host)
    assert [(" docker compose -p " in w, " docker-compose -p " in w) for w, _, _ in runs] \
        == [(True, False), (False, True)]
    assert runs[1][1] >= host.span("docker-compose version")[1]
    assert guessed.source == plain.source
    assert guessed.services == plain.services and guessed.problems == plain.problems


@needs_v1
async def test_compose_config_hash_per_service_moves_with_the_compose_file(tmp_path: Path
                                                                           ) -> None:
    projects, host, model = await resolve(tmp_path, "crm", ISSUE_SHAPE, compose=True)
    hashes = {n: s.config_hash for n, s in model.services.items()}  # type: ignore[attr-defined]
    if not all(hashes.values()):
        pytest.skip("docker-compose config --hash needs a Docker daemon here")
    compose_file = tmp_path / "crm" / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace(
        "  worker:\n    image: busybox", "  worker:\n    image: busybox:1.36"))
    labels = parsed(labels_for(tmp_path / "crm", "crm", "api"))
    after = await projects.project(host, labels)
    assert after is not None
    assert after.services["api"].config_hash == hashes["api"]
    assert after.services["worker"].config_hash != hashes["worker"]


@needs_v1
async def test_live_the_config_hashes_come_after_the_model_and_fill_it(tmp_path: Path
                                                                      ) -> None:
    """``hashes_later``: the first model is returned before ``config --hash`` runs; the
    hashes then fill the cached model, and ``on_update`` names the server."""
    directory = write_project(tmp_path, "crm", ISSUE_SHAPE)
    updated: list[str] = []
    projects = ComposeProjects(Fingerprinter(KEY), hashes_later=True,
                               on_update=updated.append)
    host = TimedHost()
    labels = parsed(labels_for(directory, "crm", "api"))
    first = await projects.project(host, labels)
    assert first is not None and first.source.endswith(" config")
    assert all(s.config_hash is None for s in first.services.values())
    assert not any("--hash" in what for what, _, _ in host.spans)
    for _ in range(200):
        if updated:
            break
        await asyncio.sleep(0.1)
    if not updated and not await config_hashes(host, await projects.tool(host),
                                               labels.key()):  # type: ignore[arg-type]
        pytest.skip("docker-compose config --hash needs a Docker daemon here")
    assert updated == ["local"]
    cached = projects.cached("local")[labels.key()]  # type: ignore[index]
    assert cached.services["api"].config_hash
    assert cached.services["api"].expected == first.services["api"].expected
    assert await projects.project(host, labels) is cached  # files unchanged: the cache


class SlowConfigHost(TimedHost):
    """Compose's ``config`` takes 0.6 s (v1 on a busy server); ``version`` 0.1 s."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = lambda argv: 0.6 if argv[-1] == "config" else \
            0.1 if "version" in argv else 0.0


async def until_updated(updated: list[str]) -> None:
    for _ in range(100):
        if updated:
            return
        await asyncio.sleep(0.05)


def expectations(model: ProjectModel | None) -> dict[str, object]:
    assert model is not None
    return {name: service.expected for name, service in model.services.items()}


@needs_v1
async def test_live_a_plain_project_gets_its_files_model_while_compose_answers(
        tmp_path: Path) -> None:
    """``files_first``: while a slow ``config`` runs, the first model is the files' own;
    Compose's answer then replaces it in the cache, expecting the same, and ``on_update``
    names the server."""
    directory = write_project(tmp_path, "crm", ISSUE_SHAPE)
    labels = parsed(labels_for(directory, "crm", "api"))
    plain = await ComposeProjects(Fingerprinter(KEY)).project(WrappedHost(), labels)
    updated: list[str] = []
    projects = ComposeProjects(Fingerprinter(KEY), files_first=True,
                               on_update=updated.append)
    host = SlowConfigHost()
    first = await projects.project(host, labels)
    returned = asyncio.get_running_loop().time()
    assert first is not None and first.source == "compose files" and first.ok
    await until_updated(updated)
    assert updated == ["local"]
    runs = config_runs(host)
    assert len(runs) == 1 and runs[0][2] > returned  # the model came before Compose's
    cached = projects.cached("local")[labels.key()]  # type: ignore[index]
    assert cached.source.startswith("docker-compose 1.")
    assert expectations(cached) == expectations(first) == expectations(plain)
    assert await projects.project(host, labels) is cached  # files unchanged: the cache


@needs_v1
@pytest.mark.parametrize("case", ["unset_variable", "missing_env_file"])
async def test_live_a_project_the_reader_could_misjudge_waits_for_compose(
        tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set nowhere or an env_file that is not there: Compose's answer is the
    first model, as without ``files_first``, and nothing is replaced after it."""
    monkeypatch.delenv("NOWHERE_SET", raising=False)
    service = {"unset_variable": 'environment:\n      TOKEN: "${NOWHERE_SET}"',
               "missing_env_file": "env_file: absent.env"}[case]
    directory = write_project(tmp_path, "p", {"docker-compose.yml": f"""
        services:
          api:
            image: busybox
            {service}
    """})
    updated: list[str] = []
    projects = ComposeProjects(Fingerprinter(KEY), files_first=True,
                               on_update=updated.append)
    host = SlowConfigHost()
    model = await projects.project(host, parsed(labels_for(directory, "p", "api")))
    assert model is not None and model.problems
    assert len(config_runs(host)) == 1  # ended before the model was returned
    await asyncio.sleep(0.2)
    assert updated == []


class WholeSecondsStat(WrappedHost):
    """A ``stat`` without nanoseconds (as BusyBox's may be): ``%.9Y`` gives ``%Y``.
    ``specs``: the formats asked for, as asked."""

    def __init__(self, **kwargs: bool) -> None:
        super().__init__(**kwargs)
        self.specs: list[str] = []

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        if argv and argv[0] == "stat":
            self.specs.append(argv[3])
            argv = [a.replace("%.9", "%") for a in argv]
        return await super().run(argv, timeout=timeout, input=input)


async def test_a_stat_without_nanoseconds_is_learnt_from_its_first_answer(
        tmp_path: Path) -> None:
    directory = write_project(tmp_path, "p", ISSUE_SHAPE)
    host = WholeSecondsStat(compose=False)
    projects = ComposeProjects(Fingerprinter(KEY))
    labels = parsed(labels_for(directory, "p", "api"))
    first = await projects.project(host, labels)
    assert host.specs == ["%n\t%s:%i:%.9Y:%.9Z", "%n\t%s:%i:%Y:%Z"]
    host.commands.clear()
    host.specs.clear()
    assert await projects.project(host, labels) is first
    assert host.specs == ["%n\t%s:%i:%Y:%Z"]
    assert [c[0] for c in host.commands] == ["stat"]


async def test_the_file_reader_follows_include_and_extends(tmp_path: Path) -> None:
    files = {
        "docker-compose.yml": """
            include:
              - other.yml
            services:
              base:
                image: busybox
                environment:
                  JWT_SECRET: from-the-base-0123456789abcdef
              api:
                image: busybox
                extends:
                  service: base
        """,
        "other.yml": """
            services:
              worker:
                image: busybox
        """,
    }
    _, _, model = await resolve(tmp_path, "p", files, compose=False)
    assert model.problems == ()  # type: ignore[attr-defined]
    assert set(model.services) == {"base", "api", "worker"}  # type: ignore[attr-defined]
    assert model.services["api"].keys == {"JWT_SECRET"}  # type: ignore[attr-defined]
    assert model.services["worker"].keys == frozenset()  # type: ignore[attr-defined]
