"""The managed Mosquitto broker: the MQTT path of the monitoring feeds.

Like the managed PostGIS cluster (db/cluster.py), gridgov runs its own broker from Debian's
``mosquitto`` package with a configuration it writes into ``var/mqtt/``, on a free port of
127.0.0.1 chosen at the first start and kept (``var/mqtt/port``), so a machine's own broker on
1883 is neither needed nor disturbed. When we are root the broker runs as the ``mosquitto``
system user (the package makes it), as PostgreSQL runs unprivileged.

Nothing the broker accepted is lost across its restart: messages are QoS 1, the subscriber's
session is persistent (feeds/mqtt.py), and the broker keeps sessions and queued messages in
``var/mqtt/data/`` — saved every second (``autosave_interval 1``) and on a clean stop. A
broker killed outright (SIGKILL, power loss) may lose what it accepted since its last save; a
clean restart loses nothing. Not on every change (``autosave_on_changes``): each save writes
the whole database, queued and in-flight messages included, so saving per message costs in
proportion to the queue — at 500 events/s it held the broker to under 200 accepted a second
(bench/feeds_bench.py), and a backlog would make it slower still.

It listens on 127.0.0.1 only and takes anonymous clients: any local user may publish. Put
it behind a password file and ACLs before exposing it beyond the machine.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from db.cluster import free_port
from feeds.errors import BrokerError

MOSQUITTO = "/usr/sbin/mosquitto"
RUN_USER = "mosquitto"
READY_S = 30
# QoS 1 messages a disconnected subscriber's session may hold (the default, 1,000, is a few
# seconds of a feed at 500 events/s)
MAX_QUEUED = 1_000_000
# messages sent to the subscriber and not yet acknowledged: it takes them in batches of up to
# 500 and acknowledges each batch after its commit (feeds/mqtt.py); more in hand lets it catch
# up on a backlog in big batches
MAX_INFLIGHT = 1_000
# the brokers this process started, by pid: stop() reaps its own child through its Popen
_CHILDREN: dict[int, subprocess.Popen] = {}


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """A Mosquitto broker kept under ``root`` (normally ``var/mqtt``)."""

    def __init__(self, root: Path):
        self.root = Path(root).absolute()

    # -- layout ---------------------------------------------------------------------------
    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"

    # what mosquitto opens is named through the resolved root: its user may reach the files
    # only through the link's target (see _prepare_root)
    @property
    def config_file(self) -> Path:
        return self.root.resolve() / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.root.resolve() / "mosquitto.log"

    @property
    def data_dir(self) -> Path:
        return self.root.resolve() / "data"

    @property
    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _run_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(RUN_USER)
        except KeyError:
            raise BrokerError(f"running as root, the broker runs as the {RUN_USER!r} user, which "
                              "does not exist: install the Debian package mosquitto") from None
        return RUN_USER

    def _prepare_root(self, user: str | None) -> None:
        """Create ``root`` so that the broker's user can write it (a directory it cannot reach,
        under a home of mode 700, say, is replaced by a link to /var/lib/gridgov/mqtt-<hash>)."""
        if self.root.is_symlink() or self.root.exists():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.root.mkdir()
        if user is None:
            return
        shutil.chown(self.root, user=user)
        if subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(self.root)]).returncode != 0:
            self.root.rmdir()
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            target = Path("/var/lib/gridgov") / f"mqtt-{digest}"
            target.mkdir(parents=True, exist_ok=True)
            shutil.chown(target, user=user)
            self.root.symlink_to(target, target_is_directory=True)

    def config(self, port: int) -> str:
        """The broker's configuration for ``port``."""
        return "\n".join([
            "# written by gridgov (feeds/broker.py); rewritten at every start",
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_on_changes false",
            "autosave_interval 1",  # seconds: see the module's docstring
            f"max_queued_messages {MAX_QUEUED}",
            f"max_inflight_messages {MAX_INFLIGHT}",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "",
        ])

    # -- state ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def running(self) -> bool:
        port = self.port
        return self.pid() is not None and port is not None and _port_open(port)

    def url(self) -> str | None:
        port = self.port
        return f"mqtt://127.0.0.1:{port}" if port is not None else None

    # -- start and stop -------------------------------------------------------------------
    def start(self, port: int | None = None) -> bool:
        """Start the broker (on ``port``, else the port it had, else a free one) and return
        once it accepts connections; False when it already runs."""
        if self.running():
            return False
        if not Path(MOSQUITTO).exists():
            raise BrokerError(f"{MOSQUITTO} is missing: install the Debian package mosquitto "
                              "(`make run` does)")
        user = self._run_user()
        self._prepare_root(user)
        self.data_dir.mkdir(exist_ok=True)
        port = port or self.port
        if port is None or _port_open(port):
            port = free_port()
        self.config_file.write_text(self.config(port))
        self.port_file.write_text(f"{port}\n")
        self.log_file.touch(exist_ok=True)
        if user:
            for path in (self.data_dir, self.log_file, self.config_file):
                shutil.chown(path, user=user)
        argv = [MOSQUITTO, "-c", str(self.config_file)]
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        with open(os.devnull, "wb") as null:
            # its own session: the broker outlives the command that started it
            proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        _CHILDREN[proc.pid] = proc
        deadline = time.monotonic() + READY_S
        while not _port_open(port):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise BrokerError(f"mosquitto exited at start ({proc.returncode}): "
                                  f"{err or self.log_tail()}")
            if time.monotonic() > deadline:
                raise BrokerError(f"mosquitto did not listen on port {port} within {READY_S} s")
            time.sleep(0.05)
        if proc.stderr:
            proc.stderr.close()
        return True

    def stop(self) -> bool:
        """Stop the broker cleanly (SIGTERM: it saves its sessions and queued messages first)
        and return once it has exited; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)  # runuser and mosquitto both, when we are root
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + READY_S
        child = _CHILDREN.pop(pid, None)
        while self.pid() is not None:
            if child is not None:
                child.poll()  # reap it when this process started it
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def destroy(self) -> None:
        """Stop the broker and delete its directory, sessions and queued messages (and the
        directory under /var/lib/gridgov its link points to)."""
        self.stop()
        target = self.root.resolve()
        if self.root.is_symlink():
            self.root.unlink()
        shutil.rmtree(target, ignore_errors=True)

    def log_tail(self, n_chars: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""
