"""PyMySQL is loaded without `cryptography` (engine/mysql_driver.py) and must still do
MySQL's RSA password exchange when a server asks for it."""
from __future__ import annotations

import subprocess
import sys

PROBE = r'''
import os, sys
from tenantops.engine import mysql_driver
mysql_driver.load()
assert "cryptography" not in sys.modules, "cryptography was imported with PyMySQL"
from pymysql import _auth
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
salt = os.urandom(20)
for _ in range(2):  # the first call loads cryptography, the second is PyMySQL's own function
    sealed = _auth.sha2_rsa_encrypt(b"s3cret", salt, pem)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    assert key.decrypt(sealed, oaep) == _auth._xor_password(b"s3cret\0", salt)
print("ok")
'''


def test_the_rsa_password_exchange_loads_cryptography_when_asked() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_pymysql_still_has_the_names_the_loader_replaces() -> None:
    """A PyMySQL that renamed them would be loaded the plain way (with cryptography);
    this says so before a benchmark does."""
    from pymysql import _auth

    assert callable(_auth.sha2_rsa_encrypt) and isinstance(_auth._have_cryptography, bool)
    assert "sha2_rsa_encrypt(conn.password" in open(_auth.__file__, encoding="utf-8").read()


def test_the_multi_statement_flag_is_the_protocols() -> None:
    from pymysql.constants import CLIENT

    from tenantops.engine import mysql_driver

    assert mysql_driver.MULTI_STATEMENTS == CLIENT.MULTI_STATEMENTS


def test_only_the_loading_thread_is_refused_cryptography() -> None:
    """Another thread importing `cryptography` while PyMySQL loads (a keyring backend,
    say) gets it: the refusal is the loading thread's alone."""
    import threading

    import pytest

    from tenantops.engine.mysql_driver import _WithoutCryptography

    hide = _WithoutCryptography()
    with pytest.raises(ModuleNotFoundError):
        hide.find_spec("cryptography.hazmat.backends")
    assert hide.find_spec("cryptographyx") is None and hide.find_spec("pymysql") is None
    seen: list[object] = []
    other = threading.Thread(target=lambda: seen.append(hide.find_spec("cryptography")))
    other.start()
    other.join()
    assert seen == [None]  # left to the other finders
