"""The `accord` command line end to end: the real console entry point in a subprocess, against the dev
server and a fresh PostgreSQL database, with a worker running in the test process.

What is checked is what an operator relies on: exit codes (0 done, 1 refused, 2 bad usage or nothing
configured, 75 unavailable; events/errors.py), a readable `error: ...` on stderr (JSON with --json), and that what a command says
it recorded is what the event store holds; a refused command records nothing.

Subprocesses run concurrently where they do not depend on each other: each one costs about a second.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from cli_support import Cli, clean_environment, cli_against
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.examples import CHARTER as CHARTER_FILE
from events.alliance import FoundAlliance, Role
from events.charter import load_charter
from events.store import EventStore

FOUNDER = "riverkeepers"


@pytest.fixture
def cli(tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    return cli_against(tmp_path, temporal_env, db_url, task_queue)


def new_alliance_id() -> str:
    return f"rivers-{uuid.uuid4().hex[:10]}"


async def event_count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM accord.events")


async def test_an_operator_runs_an_alliance_from_the_command_line(
    app: Accord, cli: Cli, store: EventStore, pool: asyncpg.Pool
) -> None:
    rivers, lakes = new_alliance_id(), new_alliance_id()

    found_text, found_json = await asyncio.gather(
        cli(
            f"alliance found accord/examples/charter.toml --id {rivers} --founder-id {FOUNDER} --founder-name 'River Keepers'"
        ),
        cli(f"alliance found accord/examples/charter.toml --id {lakes} --founder-id lakers --founder-name Lakers --json"),
    )

    assert found_text.code == 0, found_text.stderr
    assert f"founded alliance {rivers!r} (Clean Rivers Alliance); 'riverkeepers' is its first coordinator" in (
        found_text.stdout
    )
    token = re.search(r"riverkeepers's API token \(shown once, keep it safe\): (acc_\S+)", found_text.stdout)
    assert token, found_text.stdout
    identity = await app.authenticate(token.group(1))
    assert identity is not None and (identity.alliance_id, identity.member_id) == (rivers, FOUNDER)
    [founded] = await store.read_stream(f"alliance-{rivers}")
    receipt_line = f"receipt: alliance-{rivers} v1 position {founded.global_position} hash {founded.hash.hex()}"
    assert receipt_line in found_text.stdout

    assert found_json.code == 0, found_json.stderr
    lakes_founded = found_json.json()
    assert lakes_founded["alliance_id"] == lakes
    [receipt] = lakes_founded["receipts"]
    [lakes_event] = await store.read_stream(f"alliance-{lakes}")
    assert (receipt["stream_id"], receipt["stream_version"]) == (f"alliance-{lakes}", 1)
    assert (receipt["global_position"], receipt["hash"]) == (lakes_event.global_position, lakes_event.hash.hex())
    assert lakes_founded["token"]["member_id"] == "lakers"
    assert await app.authenticate(lakes_founded["token"]["token"]) is not None

    # Members: each command answers with the receipt of what it recorded.
    admitted = await cli(
        f"member admit {rivers} anglers --name 'Anglers United' --role steering --role mediator --as {FOUNDER} --json"
    )
    assert admitted.code == 0, admitted.stderr
    [receipt] = admitted.json()["receipts"]
    events = await store.read_stream(f"alliance-{rivers}")
    assert (receipt["stream_version"], receipt["hash"]) == (2, events[-1].hash.hex())
    assert events[-1].data["roles"] == ["mediator", "steering"]
    assert events[-1].metadata["actor"] == FOUNDER

    suspended = await cli(f"member suspend {rivers} anglers --reason 'dues unpaid' --as {FOUNDER}")
    assert suspended.code == 0, suspended.stderr
    assert suspended.stdout.startswith(f"suspended 'anglers'\nreceipt: alliance-{rivers} v3 ")
    reinstated = await cli(f"member reinstate {rivers} anglers --as {FOUNDER}")
    assert reinstated.code == 0, reinstated.stderr
    assert reinstated.stdout.startswith(f"reinstated 'anglers'\nreceipt: alliance-{rivers} v4 ")
    promoted = await cli(f"member roles {rivers} anglers --role coordinator --as {FOUNDER}")
    assert promoted.code == 0, promoted.stderr
    assert promoted.stdout.startswith(f"'anglers' now has roles coordinator\nreceipt: alliance-{rivers} v5 ")
    events = await store.read_stream(f"alliance-{rivers}")
    types = ["AllianceFounded", "MemberAdmitted", "MemberSuspended", "MemberReinstated", "RolesChanged"]
    assert [e.event_type for e in events] == types
    assert events[2].data.items() >= {"member_id": "anglers", "reason": "dues unpaid"}.items()

    # Reads, all at once.
    members, show, alliances, migrated, verified = await asyncio.gather(
        cli(f"member list {rivers} --json"),
        cli(f"alliance show {rivers}"),
        cli("alliance list --json"),
        cli("db migrate"),
        cli("db verify"),
    )
    assert members.code == 0, members.stderr
    assert {m["member_id"]: (m["roles"], m["status"]) for m in members.json()} == {
        FOUNDER: (["coordinator"], "active"),
        "anglers": (["coordinator"], "active"),
    }
    assert show.code == 0, show.stderr
    assert f"Clean Rivers Alliance ({rivers}), founded " in show.stdout
    assert f"by {FOUNDER}" in show.stdout
    assert "non-violence: We campaign by non-violent means only." in show.stdout
    assert "quorum 60%, fallback supermajority, objection tolerance 1" in show.stdout
    assert re.search(r"anglers\s+Anglers United\s+coordinator\s+active", show.stdout), show.stdout
    assert alliances.code == 0, alliances.stderr
    assert sorted((a["alliance_id"], a["events"]) for a in alliances.json()) == sorted([(rivers, 5), (lakes, 1)])
    assert (migrated.code, migrated.stdout.strip()) == (0, "database is up to date")
    assert (verified.code, verified.stdout.strip()) == (0, "checked 6 events in 2 streams")

    # Tokens: a member issues their own, a coordinator lists them, the member revokes it.
    issued = await cli(f"token issue {rivers} anglers --label laptop --as anglers --json")
    assert issued.code == 0, issued.stderr
    anglers_token = issued.json()
    identity = await app.authenticate(anglers_token["token"])
    assert identity is not None and identity.member_id == "anglers"
    listed = await cli(f"token list {rivers} anglers --as {FOUNDER} --json")
    assert listed.code == 0, listed.stderr
    assert [(t["token_id"], t["label"], t["issued_by"], t["revoked_at"]) for t in listed.json()] == [
        (anglers_token["token_id"], "laptop", "anglers", None)
    ]
    assert "acc_" not in listed.stdout, "secrets are never listed"
    revoked = await cli(f"token revoke {rivers} {anglers_token['token_id']} --as anglers")
    assert revoked.code == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked token {anglers_token['token_id']}"
    assert await app.authenticate(anglers_token["token"]) is None
    assert await event_count(pool) == 6, "tokens are not events"


async def test_refusals_exit_1_with_the_reason_and_record_nothing(
    app: Accord, cli: Cli, store: EventStore, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    rivers = new_alliance_id()
    charter = load_charter(CHARTER_FILE)
    await app.found_alliance(FoundAlliance(alliance_id=rivers, charter=charter, founder_id=FOUNDER, founder_name="K"))
    head, count = await store.head(f"alliance-{rivers}"), await event_count(pool)
    bad_charter = tmp_path / "bad charter.toml"
    bad_charter.write_text(CHARTER_FILE.read_text(encoding="utf-8").replace("panel_size = 3", "panel_size = 4"))
    never = new_alliance_id()

    stranger, last_coordinator, bad_file, bad_id, unknown, no_actor, unknown_token = await asyncio.gather(
        cli(f"member admit {rivers} newts --name 'Newt Society' --as strangers"),
        cli(f"member suspend {rivers} {FOUNDER} --reason 'stepping back' --as {FOUNDER} --json"),
        cli(f"alliance found {shlex.quote(str(bad_charter))} --id {never} --founder-id {FOUNDER} --founder-name K"),
        cli(f"alliance found accord/examples/charter.toml --id 'Not An Id' --founder-id {FOUNDER} --founder-name K"),
        cli(f"member list {never}"),
        cli(f"member admit {rivers} newts --name 'Newt Society'"),
        cli(f"token revoke {rivers} {uuid.uuid4()} --as {FOUNDER} --json"),
    )

    assert (stranger.code, stranger.stdout) == (1, "")
    assert stranger.stderr.strip() == f"error: 'strangers' is not a member of alliance {rivers!r}"

    assert (last_coordinator.code, last_coordinator.stdout) == (1, "")
    assert last_coordinator.error_json() == {
        "error": f"{FOUNDER!r} is the last active coordinator of {rivers!r}; make another member coordinator first",
        "kind": "conflict",
        "field": None,
    }

    assert bad_file.code == 1
    assert bad_file.stderr.strip() == (
        f"error: {bad_charter}: disputes: panel_size must be odd so that a majority always exists"
    )

    assert bad_id.code == 1
    assert bad_id.stderr.startswith("error: alliance_id: 'Not An Id' is not a valid id: use 1-63 lowercase letters")

    assert unknown.code == 1
    assert unknown.stderr.strip() == f"error: no alliance {never!r}"

    assert no_actor.code == 2, "a missing --as is bad usage"
    assert "Missing option '--as'" in no_actor.stderr

    assert unknown_token.code == 1
    assert unknown_token.error_json()["kind"] == "not_found"
    assert unknown_token.error_json()["field"] == "token_id"

    assert await store.head(f"alliance-{rivers}") == head
    assert await event_count(pool) == count
    assert (await app.alliance(rivers)).with_role(Role.COORDINATOR) == [FOUNDER]
    assert await pool.fetchval("SELECT count(*) FROM accord.api_tokens") == 1


async def test_with_nothing_configured_commands_say_what_to_set(tmp_path: Path, db_url: str) -> None:
    bare = Cli(clean_environment(tmp_path), tmp_path)
    with_database = Cli({**bare.env, "ACCORD_DATABASE_URL": db_url}, tmp_path)

    nothing, nothing_json, no_temporal = await asyncio.gather(
        bare("member list rivers"),
        bare("alliance list --json"),
        with_database("alliance show rivers"),
    )

    assert nothing.code == 2
    assert nothing.stderr.startswith("error: no database configured: set ACCORD_DATABASE_URL")
    assert "`accord dev`" in nothing.stderr
    assert nothing_json.code == 2
    assert "set ACCORD_DATABASE_URL" in nothing_json.error_json()["error"]
    assert no_temporal.code == 2
    assert no_temporal.stderr.startswith("error: no Temporal server configured: set TEMPORAL_ADDRESS")
    assert "`accord dev`" in no_temporal.stderr


async def test_an_unreachable_server_is_unavailable_without_a_traceback(tmp_path: Path, db_url: str) -> None:
    env = {**clean_environment(tmp_path), "ACCORD_DATABASE_URL": db_url, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    no_database = {**env, "ACCORD_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/accord"}

    temporal, database, as_json = await asyncio.gather(
        Cli(env, tmp_path)("alliance show rivers"),
        Cli(no_database, tmp_path)("alliance show rivers"),
        Cli(no_database, tmp_path)("alliance show rivers --json"),
    )

    assert temporal.code == 75, "EX_TEMPFAIL: try again later"
    assert temporal.stderr.startswith("error: Temporal at 127.0.0.1:1 did not answer"), temporal.stderr
    assert database.code == 75
    assert database.stderr.startswith("error: the database (PostgreSQL) did not answer (ConnectionRefusedError"), database.stderr
    assert json.loads(as_json.stderr)["outcome_unknown"] is False
    assert all("Traceback" not in ran.stderr for ran in (temporal, database, as_json))


async def test_a_bad_setting_is_named_before_anything_runs(tmp_path: Path) -> None:
    env = {**clean_environment(tmp_path), "ACCORD_WORKER_CACHE": "-5", "ACCORD_DB_POOL_SIZE": "lots"}

    worker, as_json = await asyncio.gather(Cli(env, tmp_path)("worker"), Cli(env, tmp_path)("alliance list --json"))

    assert worker.code == 2 and "Traceback" not in worker.stderr
    assert worker.stderr.startswith("error: invalid setting: "), worker.stderr
    assert "ACCORD_DB_POOL_SIZE='lots': Input should be a valid integer" in worker.stderr
    assert "ACCORD_WORKER_CACHE='-5': Input should be greater than or equal to 0" in worker.stderr
    assert as_json.code == 2 and "ACCORD_WORKER_CACHE='-5'" in as_json.error_json()["error"]


@pytest.mark.parametrize("command", ["api", "demo --json", "alliance list"])
async def test_an_unknown_log_level_is_refused_by_every_command(tmp_path: Path, command: str) -> None:
    ran = await Cli({**clean_environment(tmp_path), "ACCORD_LOG_LEVEL": "LOUD"}, tmp_path)(command)
    assert ran.code == 2 and "Traceback" not in ran.stderr
    assert "ACCORD_LOG_LEVEL='LOUD': Value error, must be one of debug, info, warning, error, critical" in ran.stderr


def test_a_log_level_is_taken_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.config import Settings

    monkeypatch.setenv("ACCORD_LOG_LEVEL", "DEBUG")
    assert Settings().log_level == "debug"


def test_help_and_parsing_load_neither_the_domain_nor_the_services(tmp_path: Path) -> None:
    """What `accord --help` and a rejected argument import: click, not pydantic, the domain or the
    Temporal client (their cost is measured by `python -m bench cli`; this keeps them out)."""
    heavy = ("pydantic", "temporalio", "asyncpg", "structlog", "fastapi", "accord.app", "events.", "workflows.")
    probe = (
        "import sys\nfrom accord.cli import main\n"
        "for argv in (['--help'], ['decision', '--help'], ['dispute', 'show']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], env=clean_environment(tmp_path), cwd=tmp_path,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "[]"


async def test_the_demo_runs_on_the_embedded_stack_and_its_json_is_all_that_reaches_stdout(tmp_path: Path) -> None:
    """The README's first command, as a new user runs it (no services configured): the servers' own
    banners and logs go to stderr, so that `accord demo --json` can be piped into a JSON reader."""
    ran = await Cli(clean_environment(tmp_path), tmp_path)("demo --json", timeout=300)
    assert ran.code == 0, ran.stderr[-2000:]
    report = json.loads(ran.stdout)
    assert report, ran.stdout
    assert "Traceback" not in ran.stderr
    # The dispute's mediator is drawn openly, both parties contributing, and the log's verification recomputes it.
    steps = "\n".join(report["steps"])
    assert "a mediator draw opens: accord commits to its secret" in steps and "Both parties contribute" in steps, steps
    assert "recomputed from the record holds, with 1 draw(s) recomputed." in steps, steps
    # A short costs ledger with one imbalance flagged: the hall (600.00) against printing (120.00) and 6 hours at 25.00.
    assert "870.00 EUR in all, shared equally by the charter. Flagged beyond the tolerance of 0.15: greenwatch (0.6897 against 0.1429)." in steps, steps


def test_the_dev_stack_keeps_its_database_password_to_its_owner(tmp_path: Path) -> None:
    """`accord dev` prints the database URL without its password, and writes the URL, which other commands
    need whole, into a dev.json that only its owner may read (even one left world-readable before)."""
    from accord.config import DevStack, Settings
    from accord.devstack import advertised, without_password

    url = "postgresql://accord:s3cret@db.example:5432/accord"
    assert without_password(url) == "postgresql://accord:***@db.example:5432/accord"
    assert without_password("postgresql://postgres@/accord?host=/tmp/x") == "postgresql://postgres@/accord?host=/tmp/x"
    assert without_password("postgresql:///accord?host=/tmp/x&password=s3cret&user=accord") == (
        "postgresql:///accord?host=/tmp/x&password=***&user=accord"
    )

    settings = Settings(data_dir=tmp_path)
    settings.dev_file.write_text("{}")
    settings.dev_file.chmod(0o644)
    stack = DevStack(pid=1, database_url=url, temporal_address="127.0.0.1:7233", api_url="http://127.0.0.1:8765")
    with advertised(settings, stack):
        assert settings.dev_file.stat().st_mode & 0o777 == 0o600
        assert DevStack.model_validate_json(settings.dev_file.read_text()).database_url == url
    assert not settings.dev_file.exists()


async def test_the_dev_stack_runs_accord_as_a_role_that_may_only_read_and_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded stack migrates as the schema's owner and hands the worker, the API and the commands
    a login role with accord_app's rights alone: it cannot switch off the triggers that keep the record
    append-only, nor rewrite an event."""
    from accord.config import Settings
    from accord.devstack import SERVICE_ROLE, dev_services

    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ACCORD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    async with dev_services(Settings(data_dir=tmp_path)) as endpoints:
        service = await asyncpg.connect(endpoints.database_url)
        try:
            assert await service.fetchval("SELECT current_user") == SERVICE_ROLE
            assert await service.fetchval("SELECT count(*) FROM accord.schema_migrations") > 0
            for statement in (
                "ALTER TABLE accord.events DISABLE TRIGGER USER",
                "UPDATE accord.events SET data = '{}'::jsonb",
                "DELETE FROM accord.events",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await service.execute(statement)
        finally:
            await service.close()
        owner = await asyncpg.connect(endpoints.migration_url)
        try:
            assert await owner.fetchval("SELECT current_user") != SERVICE_ROLE
        finally:
            await owner.close()
