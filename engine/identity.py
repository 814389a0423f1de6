"""Who is acting: the OS account of the process's real uid, never the environment.

``USER`` and ``LOGNAME`` are whatever the caller typed; they never count. ``SUDO_USER``
counts only when sudo made us root or the configured service account (the account that
owns tenantops' state and keyring in a multi-operator deployment) *and* ``SUDO_UID``
matches that user's uid, as sudo sets both.

Tests switch identity by replacing :func:`process_operator` (a fixture monkeypatches
it), never through environment variables; :func:`os_operator` takes uid and environment
as arguments so the sudo rules are tested directly.
"""
from __future__ import annotations

import os
import pwd
from collections.abc import Mapping


def _account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (containers): still an identity
        return f"uid-{uid}"


def os_operator(uid: int | None = None, env: Mapping[str, str] | None = None,
                service_account: str = "") -> str:
    """The operator for a process with real ``uid`` and environment ``env``."""
    uid = os.getuid() if uid is None else uid
    env = os.environ if env is None else env
    real = _account(uid)
    sudo_user = env.get("SUDO_USER", "")
    if not sudo_user or sudo_user == real:
        return real
    if not (uid == 0 or (service_account and real == service_account)):
        return real  # anybody can set SUDO_USER in their own environment
    try:
        claimed_uid = pwd.getpwnam(sudo_user).pw_uid
    except KeyError:
        return real
    sudo_uid = env.get("SUDO_UID", "")
    if not sudo_uid.isdigit() or int(sudo_uid) != claimed_uid:
        return real
    return sudo_user


def process_operator(service_account: str = "") -> str:
    """The acting operator of this process (the one place the engine asks)."""
    return os_operator(service_account=service_account)
