"""A real PostgreSQL for the tests: Debian's `postgresql` package, started in a temp folder.

`PgServer.start()` runs `initdb` and `pg_ctl` from the installed server
(/usr/lib/postgresql/<version>/bin) as an unprivileged user (PostgreSQL
refuses to run as root: `nobody` when the tests run as root), listening on a
Unix socket only, with password authentication so that a wrong password is a
real refusal. `.ci/run` installs the package when it is missing.

`blog()` makes a fresh database per test with the seed's `posts` table (its
slug UNIQUE as `posts_slug_key`) and returns a DSN for the `gladtui` role.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

ADMIN = "postgres"
ROLE = "gladtui"
ROLE_PASSWORD = "Gl4d-s3cret-pw-9b1e"  # a test checks no message or log line repeats it
UNPRIVILEGED = "nobody"

# The posts table as the seed's system had it (docs/publishing.md shows the same DDL).
SEED_DDL = """
CREATE TABLE posts (
    id SERIAL PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    slug VARCHAR(255) NOT NULL,
    content TEXT,
    featured_image_url TEXT,
    status VARCHAR(20) NOT NULL DEFAULT 'published',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT posts_slug_key UNIQUE (slug)
)
"""


def server_bin() -> Path | None:
    """The newest installed server's bin folder (initdb, pg_ctl), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PgServer:
    bin: Path
    root: Path
    admin_password: str
    _databases: int = 0

    @property
    def socket_dir(self) -> Path:
        return self.root

    @classmethod
    def start(cls, bin_dir: Path) -> PgServer:
        root = Path(tempfile.mkdtemp(prefix="gt-pg-", dir="/tmp"))  # short: socket paths
        server = cls(bin=bin_dir, root=root, admin_password=secrets.token_hex(12))
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _as_owner(self, *command: str) -> None:
        prefix = ["runuser", "-u", UNPRIVILEGED, "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()} {tail}")

    def _init_and_start(self) -> None:
        password_file = self.root / "pw"
        password_file.write_text(self.admin_password + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        data = self.root / "data"
        self._as_owner(
            str(self.bin / "initdb"),
            "-D", str(data), "-U", ADMIN, "-E", "UTF8", "--locale=C", "--no-sync",
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
        )  # fmt: skip
        options = f"-k {self.root} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._as_owner(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        with self.admin() as connection:
            connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            self._as_owner(str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str, *, user: str = ROLE, password: str = ROLE_PASSWORD) -> str:
        return f"postgresql://{user}:{password}@/{database}?host={self.socket_dir}"

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            self.dsn(database, user=ADMIN, password=self.admin_password), autocommit=True
        )

    def blog(self, ddl: str | None = SEED_DDL) -> str:
        """A new database owned by `gladtui`, with `ddl` run in it; its DSN."""
        self._databases += 1
        name = f"blog{self._databases}"
        with self.admin() as connection:
            connection.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        dsn = self.dsn(name)
        if ddl:
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute(ddl)
        return dsn
