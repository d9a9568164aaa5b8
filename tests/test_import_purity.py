"""The sans-IO core must not do I/O: DESIGN.md, "Layers".

The packages message, sasl, smtp, pop3, imap and mx (and the shared core
modules they build on) may not import sockets, TLS, event loops, threads,
clocks, subprocesses or a DNS library, and may not call ``open()``. The rule
is checked on the source with :mod:`ast`, and the rule itself is tested on
small synthetic modules so that a broken checker cannot pass silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rfcmail

FORBIDDEN_MODULES = frozenset(
    {
        "socket", "ssl", "asyncio", "selectors", "threading", "_thread", "time",
        "subprocess", "multiprocessing", "dns", "http", "urllib.request",
    }
)
FORBIDDEN_CALLS = frozenset({"open", "io.open", "os.open", "os.fdopen", "os.popen", "os.system"})

SANS_IO = ("message", "sasl", "smtp", "pop3", "imap", "mx")
SHARED_CORE = ("errors.py", "limits.py", "_receivebuffer.py", "_abnf.py")

PACKAGE_DIR = Path(rfcmail.__file__).parent


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_forbidden_module(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES)


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every forbidden import or call in ``source``, as ``file:line: what``."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_forbidden_module(alias.name):
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and _is_forbidden_module(node.module):
                found.append(f"{filename}:{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{filename}:{node.lineno}: call {name}()")
            elif name in {"__import__", "importlib.import_module"} and node.args:
                target = node.args[0]
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    if _is_forbidden_module(target.value):
                        found.append(f"{filename}:{node.lineno}: dynamic import {target.value}")
    return found


def sans_io_files() -> list[Path]:
    files = [PACKAGE_DIR / name for name in SHARED_CORE]
    for name in SANS_IO:
        package = PACKAGE_DIR / name
        module = PACKAGE_DIR / f"{name}.py"
        if package.is_dir():
            files.extend(sorted(package.rglob("*.py")))
        if module.is_file():
            files.append(module)
    return files


def test_the_core_files_exist() -> None:
    for name in SHARED_CORE:
        assert (PACKAGE_DIR / name).is_file(), name


def test_sans_io_modules_do_no_io() -> None:
    found: list[str] = []
    for path in sans_io_files():
        found.extend(violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE_DIR))))
    assert found == []


# -- the rule's own tests: each forbidden form is caught, allowed forms are not --


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import ssl as _ssl",
        "import os, asyncio",
        "from threading import Lock",
        "from time import monotonic",
        "import dns.resolver",
        "from dns import resolver",
        "import subprocess",
        "from http.client import HTTPConnection",
        "def f():\n    import selectors",
        "data = open('x', 'rb').read()",
        "import io\nio.open('x')",
        "import os\nos.open('x', 0)",
        "__import__('socket')",
        "import importlib\nimportlib.import_module('asyncio.streams')",
    ],
)
def test_rule_catches(source: str) -> None:
    assert violations(source), source


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import re, enum, dataclasses",
        "from . import time_utils",
        "from .socketish import x",
        "import timeit_not_really as t",
        "import dnslib_like",
        "class Part:\n    def open(self): return self",
        "part.open()",
        "from __future__ import annotations",
    ],
)
def test_rule_allows(source: str) -> None:
    assert violations(source) == [], source
