"""Dockerfile and docker-compose.yml, checked by parsing (there is no Docker engine in CI).

They must agree with each other and with ``api.config.DEFAULT_PORT``: the port
``qp-ledger serve`` uses, the one the image exposes and compose publishes, and
the one both health checks probe.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from api.config import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def serve_port(argv: list[str]) -> int:
    assert argv[:2] == ["qp-ledger", "serve"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    return int(argv[argv.index("--port") + 1])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_dockerfile_installs_the_postgres_extra_and_serves_on_the_port() -> None:
    steps = dockerfile()
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11")
    installs = [args for kind, args in steps if kind == "RUN" and "pip install" in args]
    assert any('".[postgres]"' in args or "'.[postgres]'" in args for args in installs)
    copied = {shlex.split(args)[0] for kind, args in steps if kind == "COPY"}
    assert {"ledger", "api", "pyproject.toml"} <= copied
    (expose,) = [args for kind, args in steps if kind == "EXPOSE"]
    assert int(expose) == DEFAULT_PORT
    (cmd,) = [args for kind, args in steps if kind == "CMD"]
    assert not [args for kind, args in steps if kind == "ENTRYPOINT"]
    assert serve_port(exec_form(cmd)) == DEFAULT_PORT
    (health,) = [args for kind, args in steps if kind == "HEALTHCHECK"]
    assert f"127.0.0.1:{DEFAULT_PORT}/health" in health
    assert any(kind == "USER" and args != "root" for kind, args in steps)


def test_compose_runs_postgres_15_with_a_health_check(compose) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    test = postgres["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "pg_isready" in test[1]


def test_compose_api_talks_to_the_postgres_service(compose) -> None:
    api = compose["services"]["api"]
    postgres = compose["services"]["postgres"]["environment"]
    url = make_url(
        re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", api["environment"]["QP_LEDGER_DATABASE_URL"])
    )
    assert url.drivername == "postgresql+psycopg2"
    assert url.host == "postgres"
    assert url.port in (None, 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.database == postgres["POSTGRES_DB"]
    assert url.password == re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", postgres["POSTGRES_PASSWORD"])
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_api_serves_and_publishes_the_port(compose) -> None:
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert serve_port(api["command"]) == DEFAULT_PORT
    assert f"{DEFAULT_PORT}:{DEFAULT_PORT}" in [str(p) for p in api["ports"]]
    health = " ".join(api["healthcheck"]["test"])
    assert f"127.0.0.1:{DEFAULT_PORT}/health" in health


def test_the_image_leaves_out_what_it_does_not_need() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "*.db"} <= set(ignored)
    for kept in ("ledger", "api", "pyproject.toml", "README.md"):
        assert kept not in ignored


def test_serve_defaults_to_the_same_port() -> None:
    from ledger.cli.admin import serve

    port = next(p for p in serve.params if p.name == "port")
    assert port.default == DEFAULT_PORT


def test_compose_runs_a_projector_on_the_same_database(compose) -> None:
    from ledger.cli.main import main

    projector, api = compose["services"]["projector"], compose["services"]["api"]
    assert projector["command"][:2] == ["qp-ledger", "project"]
    # Every CLI word in the service's command and health check is a real command.
    assert "project" in main.commands
    health = projector["healthcheck"]["test"]
    assert health[1:3] == ["qp-ledger", "projections"]
    assert health[3] in main.commands["projections"].commands  # type: ignore[attr-defined]
    assert (
        projector["environment"]["QP_LEDGER_DATABASE_URL"]
        == api["environment"]["QP_LEDGER_DATABASE_URL"]
    )
    assert projector["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The projector shuts down cleanly on SIGTERM (docker's default stop signal).
    assert projector.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_keeps_the_signing_key_on_a_volume(compose) -> None:
    from ledger.integrity.signing import SIGNING_KEY_FILE

    api = compose["services"]["api"]
    key_file = api["environment"][SIGNING_KEY_FILE]
    mounts = {v.split(":", 1)[1]: v.split(":", 1)[0] for v in api["volumes"]}
    holding = [target for target in mounts if key_file.startswith(target.rstrip("/") + "/")]
    assert holding, f"{key_file} is not on a mounted volume: a restart would make a new key"
    assert mounts[holding[0]] in compose["volumes"]


def test_the_image_creates_the_signing_key_directory_for_its_user(compose) -> None:
    """A named volume takes its owner from the image's directory: it must exist, owned by USER."""
    from ledger.integrity.signing import SIGNING_KEY_FILE

    steps = dockerfile()
    (user,) = [args for kind, args in steps if kind == "USER"]
    key_dir = str(Path(compose["services"]["api"]["environment"][SIGNING_KEY_FILE]).parent)
    user_index = steps.index(("USER", user))
    runs_as_root = " && ".join(args for kind, args in steps[:user_index] if kind == "RUN")
    assert f"mkdir -p {key_dir}" in runs_as_root or f"mkdir -p {Path(key_dir).parent}" in (
        runs_as_root
    ), f"the image never creates {key_dir}"
    chowned = re.findall(r"chown -R (\S+) (\S+)", runs_as_root)
    assert any(
        owner.split(":")[0] == user and (key_dir + "/").startswith(path.rstrip("/") + "/")
        for owner, path in chowned
    ), f"{key_dir} is not owned by {user}"
    assert f"chmod 700 {key_dir}" in runs_as_root


def test_the_projector_health_check_needs_a_live_projector_that_keeps_up(compose) -> None:
    from ledger.cli.main import main

    projector = compose["services"]["projector"]
    command, health = projector["command"], projector["healthcheck"]["test"][1:]
    # Both parse as real command lines of the CLI (unknown options would be usage errors).
    main.make_context("qp-ledger", list(command[1:]), resilient_parsing=False)
    main.commands["projections"].make_context(  # type: ignore[attr-defined]
        "projections", list(health[2:]), resilient_parsing=False
    )

    def value(argv: list[str], option: str) -> str:
        return argv[argv.index(option) + 1]

    assert value(command, "--heartbeat-file") == value(health, "--heartbeat-file")
    # The projector beats every 0.5 s: allow a few missed beats, not minutes of silence.
    assert 1 <= float(value(health, "--max-age")) <= 60
    assert float(value(health, "--max-lag-seconds")) > 0
