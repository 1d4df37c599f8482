"""A real PgBouncer in transaction mode (Debian's ``pgbouncer``) in front of the test server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.api.served import free_port
from tests.conftest import PG_ADMIN, missing

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture(scope="session")
def pgbouncer(pg_admin: psycopg.Connection) -> Iterator[int]:
    """The port of a PgBouncer (``pool_mode = transaction``) in front of the test server."""
    if not os.path.exists(PGBOUNCER):
        missing("PgBouncer", "apt-get install pgbouncer")
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="llmtrail-pgbouncer-"))
    (folder / "users.txt").write_text(f'"{info.get("user", "postgres")}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={info.get("host", "127.0.0.1")} port={info.get("port", 5432)}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = 6
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {folder}/pgbouncer.log
"""
    )
    os.chmod(folder, 0o777)
    for f in folder.iterdir():
        os.chmod(f, 0o666)
    cmd = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(
                f"postgresql://{info.get('user', 'postgres')}@127.0.0.1:{port}/postgres",
                connect_timeout=2,
                prepare_threshold=None,
            ).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (
                    (folder / "pgbouncer.log").read_text()
                    if (folder / "pgbouncer.log").exists()
                    else ""
                )
                out = proc.stdout.read().decode() if proc.stdout else ""
                proc.kill()
                pytest.fail(f"PgBouncer did not start:\n{out}\n{log}")
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled_url(pgbouncer: int, pg_database: Callable[..., str]) -> Callable[..., str]:
    """``pooled_url(empty=False)``: a fresh test database, as reached through PgBouncer."""

    def make(empty: bool = False) -> str:
        direct = pg_database(empty=empty)
        name = direct.rsplit("/", 1)[1]
        user = psycopg.conninfo.conninfo_to_dict(PG_ADMIN).get("user", "postgres")
        return f"postgresql://{user}@127.0.0.1:{pgbouncer}/{name}"

    return make
