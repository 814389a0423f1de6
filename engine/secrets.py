"""Passwords live in the OS keyring (service ``tenantops``) and nowhere else.

The backend must be chosen explicitly (``PYTHON_KEYRING_BACKEND`` or keyringrc.cfg) or
be a desktop/OS keyring: on a headless server keyring's default chain either fails or
picks an encrypted file backend that prompts with getpass, which breaks without a tty
and fights the console for the terminal (shared/STACK-NOTES.md). We refuse those cases
with one clear line instead.
"""
from __future__ import annotations

import fcntl
import os
import secrets as _random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from tenantops.engine.errors import SecretsError

SERVICE = "tenantops"
# Backends that never prompt on a terminal.
_NON_INTERACTIVE = (
    "keyring.backends.SecretService.Keyring",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
    "keyring.backends.libsecret.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
)
_HINT = (
    "choose one explicitly, e.g. PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring "
    "on a desktop or keyrings.alt.file.PlaintextKeyring on a locked-down host"
)


def _name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def backend() -> keyring.backend.KeyringBackend:
    """The keyring backend in use, or SecretsError when none is usable here."""
    try:
        kr = keyring.get_keyring()
    except Exception as exc:  # a misconfigured PYTHON_KEYRING_BACKEND raises anything
        raise SecretsError(f"keyring backend cannot be loaded: {exc}", hint=_HINT) from None
    if isinstance(kr, fail.Keyring):
        raise SecretsError("no usable keyring backend on this machine", hint=_HINT)
    explicit = bool(os.environ.get("PYTHON_KEYRING_BACKEND"))
    if not explicit:
        inner = kr.backends if isinstance(kr, chainer.ChainerBackend) else [kr]
        if not inner:
            raise SecretsError("no usable keyring backend on this machine", hint=_HINT)
        interactive = [b for b in inner if _name(b) not in _NON_INTERACTIVE]
        if interactive and len(interactive) == len(inner):
            raise SecretsError(f"keyring backend {_name(inner[0])} would prompt on the terminal", hint=_HINT)
    return kr


@contextmanager
def _serialised() -> Iterator[None]:
    """One keyring operation at a time across processes: file backends rewrite their
    whole file without locking, and parallel workers lost each other's entries (a
    reader saw a half-written file and got no password)."""
    path = Path(tempfile.gettempdir()) / f"tenantops-keyring-{os.getuid()}.lock"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _atomic(kr: keyring.backend.KeyringBackend) -> Iterator[keyring.backend.KeyringBackend]:
    """A file backend rewrites its file in place: a worker SIGKILLed mid-write left it
    truncated, and every stored password (servers, tenant users) was gone. Writes go to a
    copy, renamed over the file once complete; other backends are used as they are."""
    path = getattr(kr, "file_path", None)
    if not isinstance(path, str) or not os.path.exists(path):
        yield kr
        return
    scratch = f"{path}.{os.getpid()}.tmp"
    shutil.copy2(path, scratch)
    copy = type(kr)()
    copy.file_path = scratch  # type: ignore[attr-defined]  # keyrings.alt lets an instance override it
    try:
        yield copy
        with open(scratch, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)


def set_secret(key: str, value: str) -> None:
    kr = backend()
    try:
        with _serialised(), _atomic(kr) as target:
            target.set_password(SERVICE, key, value)
    except (keyring.errors.KeyringError, EOFError, OSError) as exc:
        raise SecretsError(f"cannot store secret {key!r} in the keyring: {type(exc).__name__}", hint=_HINT) from None


def get_secret(key: str, *, required: bool = True) -> str | None:
    kr = backend()
    try:
        with _serialised():
            value = kr.get_password(SERVICE, key)
    except (keyring.errors.KeyringError, EOFError, OSError) as exc:
        raise SecretsError(f"cannot read secret {key!r} from the keyring: {type(exc).__name__}", hint=_HINT) from None
    if value is None and required:
        raise SecretsError(f"no secret {key!r} in the keyring (service {SERVICE!r})",
                           hint="store it again with --password-stdin")
    return value


def delete_secret(key: str) -> None:
    kr = backend()
    try:
        with _serialised(), _atomic(kr) as target:
            target.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        pass
    except (keyring.errors.KeyringError, EOFError, OSError) as exc:
        raise SecretsError(f"cannot delete secret {key!r}: {type(exc).__name__}", hint=_HINT) from None


def new_password(nbytes: int = 24) -> str:
    """A random password; tenant users get one each, never a fixed default."""
    return _random.token_urlsafe(nbytes)


def server_key(name: str) -> str:
    return f"server:{name}"


def landlord_key(url_without_password: str) -> str:
    return f"landlord:{url_without_password}"


def tenant_user_key(server: str, database: str) -> str:
    return f"tenant-user:{server}:{database}"
