"""A private PostgreSQL server in a temporary folder, for the test suite and the benchmark.

Uses the Debian server binaries (``/usr/lib/postgresql/<version>/bin``); run as root, the
cluster belongs to the ``postgres`` system user (``initdb`` refuses root). Listens on
127.0.0.1 on a free port with ``trust`` authentication; nothing outside this machine sees it.

    python pgserver.py -- <command ...>   # start, run the command with TEST_DATABASE_URL set, stop
"""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def binaries():
    """Return the folder of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One throw-away cluster: ``start()``, ``url(name)``, ``stop()``."""

    def __init__(self, fast=True, root=None):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        # ``root``: a kept folder (the benchmark's data set), reused when it already holds a cluster.
        self.keep = root is not None
        if root is not None:
            os.makedirs(root, exist_ok=True)
        self.root = os.path.abspath(root) if root else tempfile.mkdtemp(prefix="console-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.fast = fast
        self.user = "postgres"

    def _run(self, *args, **kwargs):
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)

    def start(self):
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", self.user,
                      "-E", "UTF8", "--locale=C.UTF-8")
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={self.root}",
                   "-c max_connections=200", "-c shared_buffers=256MB"]
        if self.fast:
            # Tests only: no durability needed for a cluster that lives as long as the run.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.root, "log"),
                  "-o", " ".join(options), "-w", "-t", "60", "start")
        return self

    def url(self, name="postgres"):
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def execute(self, sql, database="postgres"):
        """Run one statement in autocommit mode (CREATE/DROP DATABASE)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def stop(self):
        try:
            # A kept cluster shuts down cleanly (no recovery on the next start).
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast" if self.keep else "immediate",
                      "stop")
        except subprocess.CalledProcessError:
            pass
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def main(argv):
    if "--" not in argv:
        print(__doc__)
        return 2
    command = argv[argv.index("--") + 1:]
    server = Server().start()
    try:
        server.execute("CREATE DATABASE console")
        env = dict(os.environ, TEST_DATABASE_URL=server.url("console"))
        started = time.time()
        code = subprocess.call(command, env=env)
        print(f"PostgreSQL run finished in {time.time() - started:.0f} s", flush=True)
        return code
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
