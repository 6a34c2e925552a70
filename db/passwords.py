"""The managed cluster's passwords: generated once, kept where only the invoking user reads them.

The file (``var/pg-passwords.json`` for the cluster in ``var/pg``) holds one password per role,
``{"postgres": "...", "gridgov": "..."}``, with mode 0600 and owned by whoever ran
``gridgov db start``. It sits beside the cluster's directory, not in it: when we are root the
cluster's directory belongs to the server's unprivileged user, and that user never needs the
passwords (the server keeps only their SCRAM verifiers).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

# 32 random bytes, URL-safe base64: nothing in a password needs escaping in a URL.
_PASSWORD_BYTES = 32


def new_password() -> str:
    """A fresh random password, safe to put in a URL as it is."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def load_passwords(path: Path) -> dict[str, str] | None:
    """The passwords kept in ``path`` by role name, or None when there is no such file.

    A file others could read is made private again (0600) before it is read.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        path.chmod(0o600)
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
        raise ValueError(f"{path} is not a password file written by gridgov (expected {{role: password}})")
    return data


def save_passwords(path: Path, passwords: dict[str, str]) -> None:
    """Write ``passwords`` to ``path`` with mode 0600, atomically (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # created 0600 whatever the umask: the password is never readable by others, not even briefly
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(passwords, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
