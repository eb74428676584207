"""The compose file reader follows ``extends:`` and ``include:`` as Compose does.

``extends``: Debian's docker-compose 1.29 is the oracle. Each case is a small real project;
``docker-compose -f ... config`` is run on it directly (not through the code under test),
and its per-service environment (names and fingerprints of the values) is compared with
what the reader expects of each service. The names that come from ``env_file:`` are
compared too: Compose is run again on a copy of the project with every ``environment:``
removed, so that what is left in its answer is what the env files give.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.engine.compose import ComposeProjects, ProjectModel
from console.engine.secrets import Fingerprinter
from tests.support.compose import KEY, WrappedHost, labels_for, parsed, write_project

needs_v1 = pytest.mark.skipif(shutil.which("docker-compose") is None,
                              reason="docker-compose (v1) is not installed")

EXTENDS_CASES: dict[str, dict[str, str]] = {
    # the Compose Specification's own example (services, extends, "Mappings"), with an
    # env_file added to the base and a service that extends nothing
    "same_file": {
        "docker-compose.yml": """
            services:
              common:
                image: busybox
                env_file: common.env
                environment:
                  TZ: utc
                  PORT: 80
              cli:
                extends:
                  service: common
                environment:
                  PORT: 8080
              alone:
                image: busybox
                environment:
                  - ONLY_MINE=${ALONE_TOKEN}
        """,
        "common.env": "COMMON_SECRET=c0mm0n-Zq8v3nW1xR7t\nPORT=1\n",
        ".env": "ALONE_TOKEN=al0ne-9f6c1d0e8b7a4c3f\n",
    },
    # a base in another file, in a directory of its own: its env_file resolves against
    # that directory, its interpolation uses the project's .env; the extending service
    # adds env files of its own after the base's
    "other_file": {
        "docker-compose.yml": """
            services:
              api:
                extends:
                  file: shared/base.yml
                  service: webapp
                env_file:
                  - api.env
                environment:
                  - API_ONLY=yes
                  - SHARED_NAME=from-api-environment
        """,
        "shared/base.yml": """
            services:
              webapp:
                image: busybox
                env_file: [conf/web.env]
                environment:
                  DATABASE_URL: "postgres://app:${DB_PASSWORD}@db/app"
                  SHARED_NAME: from-base
                  FROM_DOTENV:
              unused:
                image: busybox
                environment:
                  NEVER_INHERITED: x
        """,
        "shared/conf/web.env": "WEB_KEY=w3b-Hh3kL9pQ2mN7vB4x\nOVERRIDDEN=base-file\n",
        "api.env": "OVERRIDDEN=api-file\nAPI_FILE_KEY=ap1-Xk2p9Lm4Qw8r1Tz6\n",
        ".env": "DB_PASSWORD=Yb3n7Vc5Hd0Gf2Js\nFROM_DOTENV=d0tenv-value-0123456789\n",
    },
    # a chain of three across files: the second file's own `file:` is relative to its
    # directory, not to the project's
    "chain": {
        "docker-compose.yml": """
            services:
              worker:
                extends: {file: lib/middle.yml, service: middle}
                environment:
                  LEVEL: worker
              plain:
                image: busybox
        """,
        "lib/middle.yml": """
            services:
              middle:
                extends: {file: deeper/root.yml, service: root}
                env_file: middle.env
                environment:
                  LEVEL: middle
                  MIDDLE_ONLY: "${MIDDLE_VALUE}"
        """,
        "lib/deeper/root.yml": """
            services:
              root:
                image: busybox
                env_file: root.env
                environment:
                  LEVEL: root
                  ROOT_ONLY: r00t
        """,
        "lib/middle.env": "MIDDLE_FILE=m1ddle-0123456789abcdef\nBOTH=middle\n",
        "lib/deeper/root.env": "ROOT_FILE=r00t-fedcba9876543210\nBOTH=root\n",
        ".env": "MIDDLE_VALUE=middle-interpolated-value-42\n",
    },
    # extends inside a file of its own, plus an override file on top (-f twice)
    "with_override_file": {
        "docker-compose.yml": """
            services:
              base:
                image: busybox
                environment: [A=1, B=2]
              app:
                extends: base
                environment: [B=3]
        """,
        "docker-compose.override.yml": """
            services:
              app:
                environment: [C=4]
                env_file: extra.env
        """,
        "extra.env": "EXTRA=3xtra-value-abcdef012345\nA=from-extra\n",
    },
    # an override file in a directory of its own extends a file named by a variable: the
    # name is interpolated, and resolves against the project directory (the first file's),
    # as every relative path of the project's own files does
    "override_in_subdir": {
        "docker-compose.yml": """
            services:
              app:
                image: busybox
                environment:
                  KEPT: from-main
        """,
        "docker-compose.override/extra.yml": """
            services:
              app:
                extends: {file: "${BASE_FILE}", service: base}
                environment:
                  - KEPT=from-override
        """,
        "bases/base.yml": """
            services:
              base:
                image: busybox
                env_file: ../bases.env
                environment: {FROM_BASE: "b4se-${SUFFIX:-none}"}
        """,
        "bases.env": "BASES_FILE=ba5es-0123456789abcdef\n",
        ".env": "BASE_FILE=bases/base.yml\nSUFFIX=0123456789abcdef\n",
    },
}


def compose_files(files: dict[str, str]) -> list[str]:
    return [f for f in files if f.startswith("docker-compose")]


def oracle(directory: Path, files: list[str]) -> dict[str, dict[str, str]]:
    """docker-compose 1.29's ``config``: service -> its resolved environment."""
    argv = ["docker-compose"]
    for name in files:
        argv += ["-f", name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    done = subprocess.run([*argv, "config"], cwd=directory, env=env, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    config = yaml.safe_load(done.stdout)
    return {name: {str(k): "" if v is None else str(v)
                   for k, v in (spec.get("environment") or {}).items()}
            for name, spec in config["services"].items()}


def without_environment(root: Path, files: dict[str, str]) -> dict[str, str]:
    """The project's files with every ``environment:`` removed from every compose file."""
    stripped: dict[str, str] = {}
    for rel, text in files.items():
        if rel.endswith(".yml"):
            doc: Any = yaml.safe_load(textwrap.dedent(text))
            for spec in (doc.get("services") or {}).values():
                if isinstance(spec, dict):
                    spec.pop("environment", None)
            stripped[rel] = yaml.safe_dump(doc)
        else:
            stripped[rel] = text
    return stripped


async def read_without_compose(directory: Path, name: str, files: list[str]) -> ProjectModel:
    projects = ComposeProjects(Fingerprinter(KEY))
    model = await projects.project(WrappedHost(compose=False),
                                   parsed(labels_for(directory, name, "x", files)))
    assert model is not None
    assert model.source == "compose files"
    return model


@needs_v1
@pytest.mark.parametrize("case", sorted(EXTENDS_CASES))
async def test_extends_agrees_with_docker_compose_config(tmp_path: Path, case: str) -> None:
    fp = Fingerprinter(KEY)
    files = EXTENDS_CASES[case]
    directory = write_project(tmp_path, case, files)
    expected = oracle(directory, compose_files(files))
    model = await read_without_compose(directory, case, compose_files(files))
    assert model.ok and not model.problems, [str(p) for p in model.problems]
    assert set(model.services) == set(expected)
    for service, env in expected.items():
        ours = model.services[service]
        assert ours.keys == set(env), service
        assert {k: e.observation.fingerprint for k, e in ours.expected.items()} == {
            k: fp(k, v) if v else None for k, v in env.items()}, service
    stripped = write_project(tmp_path / "stripped", case, without_environment(tmp_path, files))
    from_files = oracle(stripped, compose_files(files))
    for service, env in from_files.items():
        ours = model.services[service]
        keys = set().union(*(r.keys for r in ours.env_files)) if ours.env_files else set()
        assert keys == set(env), service


@needs_v1
async def test_the_oracle_cases_fail_without_following_extends(tmp_path: Path) -> None:
    """The comparison can fail: an extending service really does get its base's names."""
    files = EXTENDS_CASES["other_file"]
    directory = write_project(tmp_path, "p", files)
    expected = oracle(directory, compose_files(files))
    assert {"WEB_KEY", "DATABASE_URL", "FROM_DOTENV"} <= set(expected["api"])
    assert "NEVER_INHERITED" not in expected["api"]


async def test_a_service_that_extends_nothing_inherits_nothing(tmp_path: Path) -> None:
    files = EXTENDS_CASES["same_file"]
    model = await read_without_compose(write_project(tmp_path, "p", files), "p",
                                       ["docker-compose.yml"])
    alone = model.services["alone"]
    assert alone.keys == {"ONLY_MINE"} and alone.env_files == ()
    assert model.services["cli"].keys == {"TZ", "PORT", "COMMON_SECRET"}
    fp = Fingerprinter(KEY)
    assert model.services["cli"].expected["PORT"].observation.fingerprint == fp("PORT", "8080")
    assert model.services["common"].expected["PORT"].observation.fingerprint == fp("PORT",
                                                                                    "80")


async def test_relative_env_file_of_an_extended_file_is_its_own(tmp_path: Path) -> None:
    files = EXTENDS_CASES["chain"]
    directory = write_project(tmp_path, "p", files)
    model = await read_without_compose(directory, "p", ["docker-compose.yml"])
    worker = model.services["worker"]
    assert [r.path for r in worker.env_files] == [
        str(directory / "lib/deeper/root.env"), str(directory / "lib/middle.env")]
    assert worker.expected["BOTH"].origin == str(directory / "lib/middle.env")
    assert worker.expected["LEVEL"].origin == str(directory / "docker-compose.yml")
    assert worker.expected["MIDDLE_ONLY"].from_env_files == (str(directory / ".env"),)
    assert set(model.watched) >= {str(directory / "lib/middle.yml"),
                                  str(directory / "lib/deeper/root.yml"),
                                  str(directory / "lib/middle.env"),
                                  str(directory / "lib/deeper/root.env")}
    assert model.services["plain"].keys == frozenset()


async def test_an_edited_extended_file_refreshes_the_model(tmp_path: Path) -> None:
    files = EXTENDS_CASES["chain"]
    directory = write_project(tmp_path, "p", files)
    projects = ComposeProjects(Fingerprinter(KEY))
    host = WrappedHost(compose=False)
    labels = parsed(labels_for(directory, "p", "worker"))
    first = await projects.project(host, labels)
    assert first is not None and "ADDED" not in first.services["worker"].keys
    root = directory / "lib/deeper/root.yml"
    root.write_text(root.read_text().replace("ROOT_ONLY: r00t", "ROOT_ONLY: r00t\n      ADDED: 1"))
    again = await projects.project(host, labels)
    assert again is not None and again is not first
    assert "ADDED" in again.services["worker"].keys


# --------------------------------------------------------------------------- refusals


CYCLES = {
    "same_file": ({"docker-compose.yml": """
        services:
          a:
            image: busybox
            extends: b
          b:
            extends: {service: a}
          fine:
            image: busybox
    """}, "p: docker-compose.yml: service a: extends loops (a -> b -> a): Compose refuses "
          "circular extends"),
    "itself": ({"docker-compose.yml": """
        services:
          a:
            image: busybox
            extends: {service: a}
    """}, "p: docker-compose.yml: service a: extends loops (a -> a): Compose refuses "
          "circular extends"),
    "across_files": ({"docker-compose.yml": """
        services:
          a:
            image: busybox
            extends: {file: other.yml, service: b}
    """, "other.yml": """
        services:
          b:
            image: busybox
            extends: {file: docker-compose.yml, service: a}
    """}, "p: docker-compose.yml: service a: extends loops (a -> other.yml:b -> a): Compose "
          "refuses circular extends"),
}


@pytest.mark.parametrize("case", sorted(CYCLES))
async def test_an_extends_loop_is_one_line_not_a_recursion_error(tmp_path: Path,
                                                                 case: str) -> None:
    files, line = CYCLES[case]
    bad = write_project(tmp_path, "p", files)
    good = write_project(tmp_path, "good", EXTENDS_CASES["same_file"])
    projects = ComposeProjects(Fingerprinter(KEY))
    models = await projects.for_containers(WrappedHost(compose=False), [
        labels_for(bad, "p", "a"), labels_for(good, "good", "cli")])
    by_project = {k.project: m for k, m in models.items()}
    assert [str(p) for p in by_project["p"].problems] == [line]
    assert not by_project["p"].ok and not by_project["p"].services
    assert by_project["good"].ok and "cli" in by_project["good"].services
    if shutil.which("docker-compose"):  # Compose refuses it as well
        done = subprocess.run(["docker-compose", "config"], cwd=bad, capture_output=True,
                              timeout=60, check=False)
        assert done.returncode != 0


MISSING = {
    "file": ({"docker-compose.yml": """
        services:
          api:
            extends: {file: nowhere/base.yml, service: web}
    """}, "p: docker-compose.yml: service api extends a service of nowhere/base.yml, which "
          "does not exist on local"),
    "service": ({"docker-compose.yml": """
        services:
          api:
            extends: {file: base.yml, service: web}
    """, "base.yml": "services:\n  other:\n    image: busybox\n"},
        "p: docker-compose.yml: service api extends web, which base.yml does not define"),
    "same_file_service": ({"docker-compose.yml": """
        services:
          api:
            extends: web
    """}, "p: docker-compose.yml: service api extends web, which docker-compose.yml does "
          "not define"),
}


@pytest.mark.parametrize("case", sorted(MISSING))
async def test_a_missing_base_is_a_located_line(tmp_path: Path, case: str) -> None:
    files, line = MISSING[case]
    model = await read_without_compose(write_project(tmp_path, "p", files), "p",
                                       ["docker-compose.yml"])
    assert [str(p) for p in model.problems] == [line]
    assert not model.ok


# --------------------------------------------------------------------------- include


async def test_include_short_syntax_is_a_sub_project_of_its_own(tmp_path: Path) -> None:
    """The specification's "include" section, short syntax: ``../commons/compose.yaml``
    is loaded with its own directory as project directory; its relative paths resolve
    there; its variables come from its own ``.env``, overridden by the including project's
    environment (compose-go ``loader/include.go``: ``environment.Clone().Merge(envFromFile)``
    keeps the including project's value). Compose v1 has no include: no oracle but the
    specification's text and compose-go's loader."""
    fp = Fingerprinter(KEY)
    root = tmp_path / "t"
    write_project(root, "commons", {
        "compose.yaml": """
            services:
              included-service:
                image: busybox
                env_file: conf/inc.env
                environment:
                  INC_TOKEN: "${INC_ONLY}"
                  BOTH: "${SHARED_VAR}"
                  FROM_PARENT: "${PARENT_ONLY}"
                  BARE_INC:
        """,
        "conf/inc.env": "INC_FILE_KEY=1nc-file-0123456789abcdef\n",
        ".env": "INC_ONLY=inc-0123456789abcdef0123\nSHARED_VAR=from-included-dotenv\n"
                "BARE_INC=bare-from-included-dotenv\n",
    })
    app = write_project(root, "app", {
        "docker-compose.yml": """
            include:
              - ../commons/compose.yaml
            services:
              webapp:
                image: busybox
                depends_on: [included-service]
                environment:
                  - LEAKED=${INC_ONLY:-not-from-the-included-dotenv}
        """,
        ".env": "SHARED_VAR=from-parent-dotenv\nPARENT_ONLY=parent-only-value-0123\n",
    })
    model = await read_without_compose(app, "app", ["docker-compose.yml"])
    assert model.ok and not model.problems, [str(p) for p in model.problems]
    inc = model.services["included-service"]
    assert inc.keys == {"INC_TOKEN", "BOTH", "FROM_PARENT", "BARE_INC", "INC_FILE_KEY"}
    assert [r.path for r in inc.env_files] == [str(root / "commons/conf/inc.env")]
    exp = inc.expected
    assert exp["INC_TOKEN"].observation.fingerprint == fp("INC_TOKEN",
                                                          "inc-0123456789abcdef0123")
    assert exp["INC_TOKEN"].from_env_files == (str(root / "commons/.env"),)
    assert exp["BOTH"].observation.fingerprint == fp("BOTH", "from-parent-dotenv")
    assert exp["BOTH"].from_env_files == (str(app / ".env"),)
    assert exp["FROM_PARENT"].observation.fingerprint == fp("FROM_PARENT",
                                                            "parent-only-value-0123")
    assert exp["BARE_INC"].observation.fingerprint == fp("BARE_INC",
                                                         "bare-from-included-dotenv")
    # the included project's .env never reaches the including one
    web = model.services["webapp"]
    assert web.keys == {"LEAKED"}
    assert web.expected["LEAKED"].observation.fingerprint == fp(
        "LEAKED", "not-from-the-included-dotenv")
    # and the parent's .env is no service's environment by itself
    assert "SHARED_VAR" not in inc.keys and "PARENT_ONLY" not in inc.keys
    assert set(model.watched) >= {str(root / "commons/compose.yaml"),
                                  str(root / "commons/.env"),
                                  str(root / "commons/conf/inc.env")}


async def test_include_long_syntax(tmp_path: Path) -> None:
    """The specification's long syntax: ``path`` a list merged in order,
    ``project_directory`` relative to the including project, ``env_file`` a list (relative
    to the including project) instead of the sub-project's ``.env``."""
    fp = Fingerprinter(KEY)
    root = tmp_path / "t"
    write_project(root, "commons", {
        "compose.yaml": """
            services:
              common:
                image: busybox
                env_file: rel.env
                environment:
                  V: "${FROM_ENV_FILES}"
                  W: "${NOT_IN_DEFAULT_DOTENV:-default}"
        """,
        ".env": "NOT_IN_DEFAULT_DOTENV=ignored-because-env_file-is-given\n",
        "base/rel.env": "REL_KEY=rel-resolved-against-project-directory\n",
    })
    app = write_project(root, "app", {
        "docker-compose.yml": """
            include:
              - path:
                  - ../commons/compose.yaml
                  - ./commons-override.yaml
                project_directory: ../commons/base
                env_file:
                  - ../another/.env
                  - ../another/dev.env
            services:
              webapp:
                image: busybox
        """,
        "commons-override.yaml": """
            services:
              common:
                environment:
                  OVERRIDE_ADDED: "yes"
        """,
    })
    write_project(root, "another", {".env": "FROM_ENV_FILES=first\n",
                                    "dev.env": "FROM_ENV_FILES=second-wins\n"})
    model = await read_without_compose(app, "app", ["docker-compose.yml"])
    assert model.ok and not model.problems, [str(p) for p in model.problems]
    common = model.services["common"]
    assert common.keys == {"V", "W", "OVERRIDE_ADDED", "REL_KEY"}
    assert [r.path for r in common.env_files] == [str(root / "commons/base/rel.env")]
    assert common.expected["V"].observation.fingerprint == fp("V", "second-wins")
    assert common.expected["V"].from_env_files == (str(root / "another/dev.env"),)
    assert common.expected["W"].observation.fingerprint == fp("W", "default")


INCLUDE_REFUSALS = {
    "conflict": ({"docker-compose.yml": """
        include: [inc.yml]
        services:
          bar:
            image: busybox
            environment: [A=local]
    """, "inc.yml": """
        services:
          bar:
            image: busybox
            environment: [A=included]
    """}, "p: docker-compose.yml: service bar of the included inc.yml is also defined by "
          "docker-compose.yml: Compose refuses the conflict"),
    "cycle": ({"docker-compose.yml": "include: [b.yml]\nservices: {a: {image: busybox}}\n",
               "b.yml": "include: [c/c.yml]\nservices: {b: {image: busybox}}\n",
               "c/c.yml": "include: [../docker-compose.yml]\n"},
              "p: c/c.yml: include loops (docker-compose.yml -> b.yml -> c/c.yml -> "
              "docker-compose.yml): Compose refuses an include cycle"),
    "cycle_of_two": ({"docker-compose.yml": "include: [b.yml]\n",
                      "b.yml": "include: [docker-compose.yml]\n"},
                     "p: b.yml: include loops (docker-compose.yml -> b.yml -> "
                     "docker-compose.yml): Compose refuses an include cycle"),
    "missing": ({"docker-compose.yml": "include:\n  - path: gone/compose.yaml\n"},
                "p: docker-compose.yml: the included gone/compose.yaml does not exist on "
                "local"),
    "missing_env_file": ({"docker-compose.yml": """
        include:
          - path: inc.yml
            env_file: nope.env
    """, "inc.yml": "services: {x: {image: busybox}}\n"},
        "p: docker-compose.yml: the env_file nope.env of the include of inc.yml does not "
        "exist on local"),
}


@pytest.mark.parametrize("case", sorted(INCLUDE_REFUSALS))
async def test_include_refusals_are_located_lines(tmp_path: Path, case: str) -> None:
    files, line = INCLUDE_REFUSALS[case]
    model = await read_without_compose(write_project(tmp_path, "p", files), "p",
                                       ["docker-compose.yml"])
    assert [str(p) for p in model.problems] == [line]
    assert not model.ok and not model.services


async def test_an_identical_redefinition_is_no_conflict(tmp_path: Path) -> None:
    """compose-go before v2.10 (``importResource``) accepts a service defined the same way
    in both files."""
    same = """
        services:
          bar:
            image: busybox
            environment: [A=same]
    """
    files = {"docker-compose.yml": "include: [inc.yml]\n" + textwrap.dedent(same),
             "inc.yml": same}
    model = await read_without_compose(write_project(tmp_path, "p", files), "p",
                                       ["docker-compose.yml"])
    assert model.ok and model.services["bar"].keys == {"A"}


async def test_a_local_service_may_extend_an_included_one(tmp_path: Path) -> None:
    """compose-go applies include before extends, so a base may come from an include."""
    files = {
        "docker-compose.yml": """
            include: [lib/inc.yml]
            services:
              api:
                extends: base
                environment: [MINE=1]
        """,
        "lib/inc.yml": """
            services:
              base:
                image: busybox
                env_file: base.env
        """,
        "lib/base.env": "BASE_KEY=1\n",
    }
    directory = write_project(tmp_path, "p", files)
    model = await read_without_compose(directory, "p", ["docker-compose.yml"])
    assert model.ok, [str(p) for p in model.problems]
    assert model.services["api"].keys == {"MINE", "BASE_KEY"}
    assert [r.path for r in model.services["api"].env_files] == [
        str(directory / "lib/base.env")]


# --------------------------------------------------------------------------- v1 differs


@needs_v1
async def test_where_docker_compose_1_29_differs_the_reader_takes_compose_go_side(
        tmp_path: Path) -> None:
    """Where docker-compose 1.29 and compose-go (today's Compose) disagree, the reader takes
    compose-go's side; v1's answer is checked so that the difference stays known. An
    env_file both the base and the extending service list: v1 concatenates the lists and
    reads it twice (its second place wins), compose-go's ``override/uncity.go`` keeps it
    once, at its first place. And where they agree although they work differently: an
    override file's change to a base does not reach the service that extends it (compose-go
    follows extends per file; v1 takes the base from the file as written)."""
    fp = Fingerprinter(KEY)
    files = {
        "docker-compose.yml": """
            services:
              base:
                image: busybox
                env_file: [a.env, b.env]
                environment: [FIRST=1]
              app:
                extends: base
                env_file: [a.env]
        """,
        "docker-compose.override.yml": """
            services:
              base:
                environment: [FROM_OVERRIDE=1]
        """,
        "a.env": "K=from-a\n",
        "b.env": "K=from-b\n",
    }
    directory = write_project(tmp_path, "p", files)
    v1 = oracle(directory, compose_files(files))
    model = await read_without_compose(directory, "p", compose_files(files))
    app = model.services["app"]
    assert v1["app"]["K"] == "from-a"
    assert app.expected["K"].observation.fingerprint == fp("K", "from-b")
    assert set(v1["app"]) == app.keys == {"K", "FIRST"}
    assert set(v1["base"]) == model.services["base"].keys == {"K", "FIRST", "FROM_OVERRIDE"}


async def test_the_shell_wins_for_a_name_only_an_included_file_uses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment Compose runs in is asked for the names of the included and extended
    files too, not only for those of the project's own files."""
    fp = Fingerprinter(KEY)
    monkeypatch.setenv("ONLY_IN_INCLUDED", "from-the-shell-0123456789abcdef")
    monkeypatch.setenv("ONLY_IN_EXTENDED", "shell-for-extended-0123456789ab")
    files = {
        "docker-compose.yml": """
            include: [sub/inc.yml]
            services:
              api:
                extends: {file: base.yml, service: base}
        """,
        "base.yml": """
            services:
              base:
                image: busybox
                environment: ["E=${ONLY_IN_EXTENDED}"]
        """,
        "sub/inc.yml": """
            services:
              inc:
                image: busybox
                environment: ["V=${ONLY_IN_INCLUDED}"]
        """,
        "sub/.env": "ONLY_IN_INCLUDED=from-the-included-dotenv\n",
    }
    model = await read_without_compose(write_project(tmp_path, "p", files), "p",
                                       ["docker-compose.yml"])
    assert model.ok and not model.problems, [str(p) for p in model.problems]
    assert model.services["inc"].expected["V"].observation.fingerprint == fp(
        "V", "from-the-shell-0123456789abcdef")
    assert model.services["api"].expected["E"].observation.fingerprint == fp(
        "E", "shell-for-extended-0123456789ab")
