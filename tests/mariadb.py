"""A private MariaDB server for tests and benchmarks.

Started as an ordinary background process with a private data dir (on /dev/shm when it
exists, which makes DDL several times faster) and a free loopback port; the flags are the
ones shared/STACK-NOTES.md found to work. Nothing here touches /etc/mysql.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql


def mariadbd_path() -> str | None:
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MariaDB:
    base: Path
    port: int
    process: subprocess.Popen | None = None
    admin_user: str = "ops"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def socket(self) -> str:
        return str(self.base / "mysqld.sock")

    @property
    def url(self) -> str:
        """Server URL without password, as ``servers add`` takes it."""
        return f"mysql+pymysql://{self.admin_user}@127.0.0.1:{self.port}"

    def root(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=self.socket, user="root", database=database, autocommit=True)

    def execute(self, *statements: str, database: str | None = None) -> list[tuple]:
        conn = self.root(database)
        try:
            rows: list[tuple] = []
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()

    def start(self) -> "MariaDB":
        if mariadbd_path() is None:
            raise RuntimeError("mariadbd is not installed")
        data, tmp = self.base / "data", self.base / "tmp"
        data.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._launch()
        user = self.admin_user
        self.execute(
            f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{self.admin_password}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'127.0.0.1' WITH GRANT OPTION",
        )
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop the server abruptly (fault tests)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start again on the same data dir and port (after stop or kill)."""
        self._launch()

    def _launch(self) -> None:
        data, tmp = self.base / "data", self.base / "tmp"
        self.process = subprocess.Popen(
            [mariadbd_path(), "--no-defaults", f"--datadir={data}", f"--tmpdir={tmp}", "--user=root",
             "--skip-name-resolve", "--skip-log-bin", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.socket}",
             f"--pid-file={self.base / 'mysqld.pid'}",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
             "--innodb-file-per-table=0", "--table-definition-cache=20000",
             "--table-open-cache=20000", "--max-connections=500",
             f"--log-error={self.base / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.base / 'error.log').read_text()[-2000:]}")
            try:
                self.execute("SELECT 1")
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def start_mariadb(prefix: str = "tenantops-mariadb-") -> MariaDB:
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    return MariaDB(base=base, port=free_port()).start()
