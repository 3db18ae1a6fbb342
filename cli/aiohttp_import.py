"""aiohttp imported without loading the system's CA bundle for contexts ToRouter never uses.

When aiohttp is imported, ``aiohttp.connector`` builds the two TLS contexts its ``ClientSession``
uses by default, each loading the CA bundle: ~45 ms apiece with OpenSSL 3, ~90 ms of every edge's
and router's start (measured: ``python -X importtime``, bench/README.md). ToRouter never uses them:
the router calls its upstreams with a context of its own (``router/upstreams/http1.py``), and the
edge is a server. So a service process imports aiohttp with the bundle's file hidden
(``SSL_CERT_FILE`` pointing at nothing for the length of the import): those two contexts then look
CAs up in the system's hashed CA directory, certificate by certificate when one is needed, which
holds the same CAs as the bundle where both come from the system's store (Debian's and Alpine's
``update-ca-certificates``). Every context made afterwards loads the bundle as before.

The bundle is hidden only when the trust store in effect is the system's own, in both forms: the
CA file is OpenSSL's default (``SSL_CERT_FILE`` unset, or naming that same file) and so is the
directory, which holds hashed certificates to find CAs by. A bundle or directory of the operator's
own is left alone, and aiohttp is then imported as usual.
"""

from __future__ import annotations

import importlib
import os
import re
import ssl
import sys

_HASHED = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # a certificate named by its subject's hash (c_rehash)


def import_aiohttp(system: ssl.DefaultVerifyPaths | None = None) -> None:
    """Imports aiohttp (once per process), its default TLS contexts without the bundle's file.
    ``system``: where OpenSSL's own trust store is (tests name another)."""
    if "aiohttp" in sys.modules:
        return
    paths = system or ssl.get_default_verify_paths()
    if not _system_store_in_both_forms(paths):
        importlib.import_module("aiohttp")
        return
    variable = paths.openssl_cafile_env  # SSL_CERT_FILE: read by OpenSSL as each context sets its paths
    operators = os.environ.get(variable)  # set, it names the system's bundle (checked above)
    os.environ[variable] = os.devnull
    try:
        importlib.import_module("aiohttp")
    finally:
        if operators is None:
            del os.environ[variable]
        else:
            os.environ[variable] = operators


def _system_store_in_both_forms(paths: ssl.DefaultVerifyPaths) -> bool:
    file = os.environ.get(paths.openssl_cafile_env, paths.openssl_cafile)
    directory = os.environ.get(paths.openssl_capath_env, paths.openssl_capath)
    return (
        _same(file, paths.openssl_cafile)
        and _same(directory, paths.openssl_capath)
        and _has_hashed_certificates(paths.openssl_capath)
    )


def _same(path: str, system: str) -> bool:
    return os.path.exists(system) and os.path.realpath(path) == os.path.realpath(system)


def _has_hashed_certificates(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(_HASHED.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False
