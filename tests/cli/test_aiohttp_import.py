"""aiohttp imported by a service process without loading the CA bundle (cli/aiohttp_import.py).

Each case runs in a fresh interpreter (aiohttp is imported once per process) against a trust store
of the test's own, named as OpenSSL's system store: a bundle file holding the test's CA and a
directory holding it under its subject's hash (``openssl rehash``), or holding nothing. The child
reports what aiohttp's default contexts loaded, what became of ``SSL_CERT_FILE``, and whether
aiohttp's client, with its default verification, reaches a TLS server whose certificate the CA
signed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support.tls import certificates

CHILD = """
import asyncio, json, os, ssl, sys
bundle, directory, url = sys.argv[1:4]
system = ssl.DefaultVerifyPaths(bundle, directory, "SSL_CERT_FILE", bundle, "SSL_CERT_DIR", directory)
from torouter.cli.aiohttp_import import import_aiohttp
import_aiohttp(system)
import aiohttp
from aiohttp import connector

async def reach() -> str:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return str(response.status)
    except aiohttp.ClientConnectorCertificateError:
        return "certificate refused"

print(json.dumps({
    "loaded": connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
    "SSL_CERT_FILE": os.environ.get("SSL_CERT_FILE"),
    "reached": asyncio.run(reach()),
    "later": ssl.create_default_context().cert_store_stats()["x509_ca"],
}))
"""


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """The test CA's certificate file, and the URL of a server it signed for."""
    ca_file, context = certificates(tmp_path)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):  # a client that refused the certificate
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield ca_file, f"https://127.0.0.1:{port}/"
    server.close()
    await server.wait_closed()


def store(tmp_path: Path, ca_file: Path, *, hashed: bool) -> tuple[Path, Path]:
    """A trust store in both forms: the bundle, and the directory (with the CA under its hash)."""
    bundle = tmp_path / "bundle.pem"
    shutil.copy(ca_file, bundle)
    directory = tmp_path / "certs"
    directory.mkdir()
    if hashed:
        shutil.copy(ca_file, directory / "test-ca.pem")
        subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
        assert any(name.endswith(".0") for name in os.listdir(directory))
    return bundle, directory


async def child(bundle: Path, directory: Path, url: str, **environ: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(environ)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(bundle), str(directory), url,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_the_system_store_s_bundle_is_hidden_while_aiohttp_is_imported(
    tmp_path: Path, tls_server: tuple[Path, str]
) -> None:
    ca_file, url = tls_server
    bundle, directory = store(tmp_path, ca_file, hashed=True)
    # OpenSSL reads the store from the environment here (the test's own stands for the system's)
    seen = await child(bundle, directory, url, SSL_CERT_FILE=str(bundle), SSL_CERT_DIR=str(directory))
    assert seen["loaded"] == 0  # aiohttp's contexts loaded no bundle...
    assert seen["reached"] == "200"  # ...and still verify, finding the CA in the directory
    assert seen["SSL_CERT_FILE"] == str(bundle)  # the operator's setting, as it was
    assert seen["later"] == 1  # contexts made afterwards load the bundle


@pytest.mark.parametrize("case", ["no hashed certificates", "the operator's own bundle"])
async def test_aiohttp_is_imported_as_usual_when_the_store_is_not_the_system_s_in_both_forms(
    tmp_path: Path, tls_server: tuple[Path, str], case: str
) -> None:
    ca_file, url = tls_server
    bundle, directory = store(tmp_path, ca_file, hashed=case != "no hashed certificates")
    named = bundle
    if case == "the operator's own bundle":
        named = tmp_path / "own.pem"  # a bundle of the operator's, not the system's
        shutil.copy(ca_file, named)
    seen = await child(bundle, directory, url, SSL_CERT_FILE=str(named), SSL_CERT_DIR=str(directory))
    assert seen == {"loaded": 1, "SSL_CERT_FILE": str(named), "reached": "200", "later": 1}


async def test_a_store_that_does_not_hold_the_ca_refuses_the_server(
    tmp_path: Path, tls_server: tuple[Path, str]
) -> None:
    """The contexts aiohttp made while the bundle was hidden still verify: a CA found nowhere is
    refused (the test's server is not trusted by a store without its CA)."""
    _, url = tls_server
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _ = certificates(other)
    bundle, directory = store(tmp_path, other_ca, hashed=True)
    seen = await child(bundle, directory, url, SSL_CERT_FILE=str(bundle), SSL_CERT_DIR=str(directory))
    assert seen["loaded"] == 0 and seen["reached"] == "certificate refused"
