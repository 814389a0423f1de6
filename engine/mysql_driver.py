"""Loading PyMySQL, the driver of every MariaDB/MySQL connection, without `cryptography`.

PyMySQL imports `cryptography` with itself (~12 ms of a ~19 ms import here) for one use
only: encrypting a password with the server's RSA key, which MySQL's sha256_password and
caching_sha2_password ask for on a connection without TLS. MariaDB never does. A CLI
command that provisions one tenant pays that import on every run, so PyMySQL is loaded
with `cryptography` hidden and imports it the first time a server asks for the RSA
exchange. tests/test_mysql_driver.py holds PyMySQL to the names used here: if a release
renames them, loading falls back to the plain import.
"""
from __future__ import annotations

import importlib
import sys
import threading
from importlib.machinery import ModuleSpec
from typing import Any

_loaded = False
# The protocol's capability flag for several statements in one query (CLIENT_MULTI_STATEMENTS,
# pymysql.constants.CLIENT.MULTI_STATEMENTS: tests/test_mysql_driver.py holds them equal)
MULTI_STATEMENTS = 1 << 16


class _WithoutCryptography:
    """A finder that refuses `cryptography` to the thread importing PyMySQL only: another
    thread importing it meanwhile (a keyring backend) gets it as usual."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] == "cryptography" and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is loaded when a server asks for it", name=name)
        return None


def load() -> None:
    """Import PyMySQL (once per process) before a MySQL-family engine is made."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    if "pymysql" in sys.modules or "cryptography" in sys.modules:
        return  # already paid for
    hide = _WithoutCryptography()
    sys.meta_path.insert(0, hide)
    try:
        import pymysql  # type: ignore[import-untyped]  # noqa: F401
        from pymysql import _auth as auth
    finally:
        sys.meta_path.remove(hide)
    plain = getattr(auth, "sha2_rsa_encrypt", None)
    if plain is None or not hasattr(auth, "_have_cryptography"):
        importlib.reload(auth)  # not the PyMySQL this was written for: its own import
        return

    def sha2_rsa_encrypt(password: bytes, salt: bytes, public_key: bytes) -> Any:
        try:
            from cryptography.hazmat.backends import default_backend
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
        except ImportError:
            return plain(password, salt, public_key)  # PyMySQL's own "cryptography is required"
        auth.default_backend, auth.hashes, auth.serialization, auth.padding = (
            default_backend, hashes, serialization, padding)
        auth._have_cryptography = True
        auth.sha2_rsa_encrypt = plain
        return plain(password, salt, public_key)

    auth.sha2_rsa_encrypt = sha2_rsa_encrypt
