"""scripts/check-lambda-zip.py: what `make package` checks in each zip (run as CI runs it)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

CHECKER = ROOT / "scripts" / "check-lambda-zip.py"
AARCH64, X86_64 = 0xB7, 0x3E


def elf(machine: int, elf_class: int = 2, elf_type: int = 3) -> bytes:
    """An ELF header (64-bit little-endian unless told) for ``machine``, padded."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9)
    return ident + struct.pack("<HH", elf_type, machine) + bytes(44)


def make_zip(path: Path, body: bytes, name: str = "bootstrap", mode: int = 0o100755, padding: int = 0) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zf.writestr(info, body)
        if padding:
            # incompressible filler, to push the zip over the size budget
            zf.writestr(zipfile.ZipInfo("filler"), os.urandom(padding))
    return path


def check(arch: str, *zips: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECKER), arch, *map(str, zips)], capture_output=True, text=True, timeout=60)


def test_a_good_zip_of_each_architecture_passes(tmp_path: Path) -> None:
    arm = make_zip(tmp_path / "arm.zip", elf(AARCH64))
    x86 = make_zip(tmp_path / "x86.zip", elf(X86_64))
    assert check("arm64", arm).returncode == 0
    result = check("x86_64", x86)
    assert result.returncode == 0, result.stderr
    assert f"zip {x86.stat().st_size} bytes" in result.stdout


@pytest.mark.parametrize(
    ("arch", "kwargs", "problem"),
    [
        ("x86_64", {"body": elf(AARCH64)}, "built for arm64, not x86_64"),
        ("arm64", {"body": elf(X86_64)}, "built for x86_64, not arm64"),
        ("x86_64", {"body": elf(X86_64), "mode": 0o100644}, "mode 0o644, not 0o755"),
        ("x86_64", {"body": elf(X86_64), "name": "on-lifecycle"}, "no bootstrap"),
        ("x86_64", {"body": b"#!/bin/sh\necho hi\n"}, "not an ELF"),
        ("x86_64", {"body": elf(X86_64, elf_class=1)}, "not a 64-bit"),
        ("x86_64", {"body": elf(X86_64, elf_type=1)}, "not an executable"),
        ("x86_64", {"body": elf(X86_64), "padding": 5 * 1024 * 1024}, "not under 5242880"),
    ],
)
def test_each_problem_fails_and_is_named(tmp_path: Path, arch: str, kwargs: dict, problem: str) -> None:
    bad = make_zip(tmp_path / "bad.zip", **kwargs)
    good = make_zip(tmp_path / "good.zip", elf({"arm64": AARCH64, "x86_64": X86_64}[arch]))
    result = check(arch, good, bad)
    assert result.returncode == 1
    assert problem in result.stderr and str(bad) in result.stderr, result.stderr
    assert str(good) in result.stdout  # the good one is still reported


def test_usage_and_a_missing_zip(tmp_path: Path) -> None:
    assert check("sparc", tmp_path / "x.zip").returncode == 2
    result = check("x86_64", tmp_path / "missing.zip")
    assert result.returncode == 1 and "missing" in result.stderr
