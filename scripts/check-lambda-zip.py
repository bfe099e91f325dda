#!/usr/bin/env python3
"""Checks Lambda deployment zips of the provided.al2023 runtime, as `make package` writes them.

    scripts/check-lambda-zip.py ARCH ZIP [ZIP ...]      ARCH: arm64 | x86_64

Each zip must hold a regular file `bootstrap` that is a 64-bit little-endian ELF executable for
ARCH (e_machine 0xB7 aarch64 / 0x3E x86-64) with mode 755, and the zip must be smaller than
5 MB (the project's budget; Lambda's own limit is 50 MB zipped). Prints one line per zip
(architecture, zip size in bytes, bootstrap size) and exits 1 on the first problem found per
zip, naming it. Standard library only, so it runs before any venv exists.
"""

from __future__ import annotations

import stat
import struct
import sys
import zipfile
from pathlib import Path

MACHINES = {"arm64": 0xB7, "x86_64": 0x3E}
MAX_ZIP_BYTES = 5 * 1024 * 1024
ET_EXEC, ET_DYN = 2, 3


def problems(zip_path: Path, arch: str) -> tuple[list[str], int]:
    """(what is wrong with the zip, the bootstrap's size)."""
    found: list[str] = []
    size = zip_path.stat().st_size
    if size >= MAX_ZIP_BYTES:
        found.append(f"zip is {size} bytes, not under {MAX_ZIP_BYTES}")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            try:
                info = zf.getinfo("bootstrap")
            except KeyError:
                return found + ["no bootstrap at the zip's root"], 0
            mode = info.external_attr >> 16
            if not stat.S_ISREG(mode):
                found.append(f"bootstrap is not a regular file (mode {oct(mode)})")
            if stat.S_IMODE(mode) != 0o755:
                found.append(f"bootstrap has mode {oct(stat.S_IMODE(mode))}, not 0o755")
            head = zf.open(info).read(20)
    except zipfile.BadZipFile as error:
        return found + [f"not a zip: {error}"], 0
    if head[:4] != b"\x7fELF":
        return found + ["bootstrap is not an ELF file"], info.file_size
    if head[4] != 2 or head[5] != 1:
        found.append("bootstrap is not a 64-bit little-endian ELF")
    elf_type, machine = struct.unpack("<HH", head[16:20])
    if elf_type not in (ET_EXEC, ET_DYN):
        found.append(f"bootstrap is ELF type {elf_type}, not an executable")
    if machine != MACHINES[arch]:
        names = {v: k for k, v in MACHINES.items()}
        found.append(f"bootstrap is built for {names.get(machine, hex(machine))}, not {arch}")
    return found, info.file_size


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in MACHINES:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    arch, zips = argv[0], [Path(p) for p in argv[1:]]
    failed = False
    for zip_path in zips:
        if not zip_path.is_file():
            print(f"{zip_path}: missing", file=sys.stderr)
            failed = True
            continue
        found, bootstrap_size = problems(zip_path, arch)
        if found:
            failed = True
            for problem in found:
                print(f"{zip_path}: {problem}", file=sys.stderr)
        else:
            print(f"{arch:<7} {zip_path}  zip {zip_path.stat().st_size} bytes, bootstrap {bootstrap_size} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
