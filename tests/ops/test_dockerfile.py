"""The Dockerfile's image has every shared library that the installed production wheels load and leave to the system.

There is no container engine here to build the image, so the test reads what decides it: the Dockerfile (base image
and apt packages) and the ELF headers of every extension module of the production dependencies (``DT_NEEDED``,
resolved against the wheel's own ``RPATH``/``RUNPATH``, where auditwheel puts the libraries it bundles, and the
module's own directory). A library
neither bundled nor in the base image must come from an apt package the image installs — LightGBM's wheel, for one,
loads the system's ``libgomp.so.1``.
"""

from __future__ import annotations

import re
import shlex
import struct
from importlib import metadata
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement

DOCKERFILE = Path(settings.BASE_DIR) / "Dockerfile"
BASE_IMAGE = "python:3.11-slim-bookworm"
# Libraries of the base image the wheels use: Debian's required packages libc6 (glibc), libgcc-s1 and zlib1g, and
# libstdc++6 (a dependency of apt, which the slim images keep). A new base image needs this list checked again.
BASE_SONAMES = frozenset(
    {
        "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
        "libresolv.so.2", "libutil.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1",
    }
)  # fmt: skip
# soname → the Debian bookworm package that installs it.
PACKAGES = {"libgomp.so.1": "libgomp1", "libpq.so.5": "libpq5"}

DT_NEEDED, DT_RPATH, DT_RUNPATH, SHT_DYNAMIC = 1, 15, 29, 6


def dockerfile_stages(text: str) -> list[tuple[str, str]]:
    """(base image, instructions) of each stage, line continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[tuple[str, list[str]]] = []
    for line in joined.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].upper() == "FROM":
            stages.append((words[1], []))
        elif stages:
            stages[-1][1].append(line)
    return [(base, "\n".join(lines)) for base, lines in stages]


def apt_packages(instructions: str) -> set[str]:
    """Packages named by ``apt-get install`` in RUN instructions (options skipped)."""
    found = set()
    for line in instructions.splitlines():
        if not line.split() or line.split()[0].upper() != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", line.split(None, 1)[1]):
            words = shlex.split(command)
            if words[:2] in (["apt-get", "install"], ["apt", "install"]):
                found |= {word for word in words[2:] if not word.startswith("-")}
    return found


def production_distributions() -> dict[str, metadata.Distribution]:
    """The installed distributions ``maestro`` needs at run time (its dependencies, transitively, with the extras it
    asks for; no ``dev`` extra)."""
    found: dict[str, metadata.Distribution] = {}

    def visit(name: str, extras: set[str]) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            return
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                visit(req.name, set(req.extras))

    visit("maestro", set())
    return found


def elf_dynamic(path: Path) -> tuple[list[str], list[str]]:
    """(needed sonames, run-path directories) of a 64-bit little-endian ELF file."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return [], []
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needed, paths = [], []
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != SHT_DYNAMIC:
            continue
        strtab = sections[link][4]
        for i in range(size // (entsize or 16)):
            tag, value = struct.unpack_from("<qQ", data, offset + i * 16)
            if tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH):
                text = data[strtab + value : data.index(b"\0", strtab + value)].decode()
                (needed if tag == DT_NEEDED else paths).append(text)
    return needed, paths


def system_libraries() -> dict[str, set[str]]:
    """soname → production distributions with an extension module that loads it from the system (not bundled)."""
    wanted: dict[str, set[str]] = {}
    for key, dist in production_distributions().items():
        for file in dist.files or []:
            if not re.search(r"\.so(\.|$)", file.name):
                continue
            path = Path(dist.locate_file(file))
            if not path.is_file():
                continue
            needed, paths = elf_dynamic(path)
            # A bundled library in a wheel's ``.libs`` directory names its siblings, which the loader finds through
            # the run path of the module that loads it.
            runpath = [d.replace("$ORIGIN", str(path.parent)) for p in paths for d in p.split(":") if d]
            dirs = [path.parent, *map(Path, runpath)]
            for soname in needed:
                if not any((d / soname).exists() for d in dirs):
                    wanted.setdefault(soname, set()).add(key)
    return wanted


def test_the_image_installs_every_library_the_wheels_load_from_the_system():
    stages = dockerfile_stages(DOCKERFILE.read_text())
    base, runtime = stages[-1]
    assert base == BASE_IMAGE, f"the runtime stage is based on {base}: check BASE_SONAMES against it, then update"
    installed = apt_packages(runtime)
    wanted = system_libraries()
    assert "libgomp.so.1" in wanted and "lightgbm" in wanted["libgomp.so.1"]
    missing = {
        soname: sorted(users)
        for soname, users in wanted.items()
        if soname not in BASE_SONAMES and PACKAGES.get(soname) not in installed
    }
    assert not missing, (
        f"shared libraries the wheels load from the system, missing from {base} and from the Dockerfile's apt-get "
        f"install ({sorted(installed)}): {missing}. Install their Debian packages (and name them in PACKAGES)."
    )


def test_the_dockerfile_reader_sees_stages_and_apt_packages():
    text = (
        "FROM python:3.11 AS build\nRUN apt-get install -y gcc\n"
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y --no-install-recommends \\\n"
        "    libpq5 libgomp1 && rm -rf /var/lib/apt/lists/*\n"
    )
    (build, build_steps), (runtime, runtime_steps) = dockerfile_stages(text)
    assert (build, apt_packages(build_steps)) == ("python:3.11", {"gcc"})
    assert (runtime, apt_packages(runtime_steps)) == ("python:3.11-slim", {"libpq5", "libgomp1"})
