"""Write the third-party licence list of every image, and check each licence against what we accept.

python scripts/licences.py          write docs/licences/IMAGE.md for every image
python scripts/licences.py --check  exit 1 when a list is out of date or a package's licence is unknown
                                    or not accepted (tests/test_licences.py runs this)

An image holds its service, the shared library and everything they require (scripts/wheelhouse.sh);
the list is that closure, read from the installed packages' metadata by pip-licenses, at the versions
of constraints.txt. Our own packages (azaion-*) are AGPL-3.0-or-later, like the project.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "licences"
#: each image and the distribution it is built from (its pyproject names the shared library's extras)
IMAGES = {
    "api": "azaion-api",
    "ingestor": "azaion-ingestor",
    "augmentor": "azaion-augmentor",
    "console": "azaion-console",
    "trainer": "azaion-trainer",
    "inference": "azaion-inference",
}

#: Licences that may be combined with AGPL-3.0 code in one image: SPDX ids, and the names packages
#: use in their metadata for the same licences. An expression (`MIT AND BSD-3-Clause`, `Apache-2.0 WITH
#: LLVM-exception`) is accepted when every licence it names is.
ACCEPTED = {
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MIT License",
    "BSD",
    "BSD License",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "3-Clause BSD License",
    "0BSD",
    "ISC",
    "ISC License (ISCL)",
    "Apache-2.0",
    "Apache 2.0",
    "Apache Software License",
    "Apache License 2.0",
    "Apache License, Version 2.0",
    "PSF-2.0",
    "Python-2.0",
    "Python Software Foundation License",
    "MPL-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)",
    "LGPL-2.1-or-later",
    "LGPL-3.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)",
    "GNU Lesser General Public License v2 or later (LGPLv2+)",
    "GPL-3.0-or-later",
    "AGPL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "GNU Affero General Public License v3",
    "GNU Affero General Public License v3 or later (AGPLv3+)",
    "Unlicense",
    "The Unlicense (Unlicense)",
    "CC0-1.0",
    "Zlib",
    "HPND",
    "Historical Permission Notice and Disclaimer (HPND)",
    "BSL-1.0",
    "Boost Software License 1.0 (BSL-1.0)",
    "Public Domain",
    "LicenseRef-Public-Domain",
}

#: Packages whose metadata names no licence, or one outside ACCEPTED, each with what we found and why
#: it may ship. A new package that is in neither fails the check: read its licence, then add it here.
REVIEWED = {
    "nvidia-*": "NVIDIA Software License Agreement (proprietary, redistributable): the CUDA libraries torch "
    "loads at run time, shipped as system libraries in the trainer image, not linked into our code",
    "cuda-toolkit": "NVIDIA Software License Agreement (proprietary, redistributable): the metapackage that "
    "pulls in NVIDIA's CUDA libraries (nvidia-*)",
}


def closure(distribution: str) -> dict[str, str]:
    """Every installed distribution that ``distribution`` requires, transitively, extras included."""
    found: dict[str, str] = {}
    todo = [(distribution, frozenset())]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        key = canonicalize_name(dist.metadata["Name"])
        seen = found.get(key)
        if seen is not None and extras <= set(json.loads(seen)):
            continue
        found[key] = json.dumps(sorted(extras | set(json.loads(seen or "[]"))))
        for text in dist.requires or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in extras or {""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name: metadata.version(name) for name in found}


def licences(names: list[str]) -> list[dict]:
    """pip-licenses' answer for these installed packages: name, version, licence (metadata, then classifiers)."""
    done = subprocess.run(
        [sys.executable, "-m", "piplicenses", "--from=mixed", "--format=json", "--with-urls", "--packages", *names],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def reviewed(name: str) -> str | None:
    for pattern, why in REVIEWED.items():
        if re.fullmatch(pattern.replace("*", ".*"), name):
            return why
    return None


def named(licence: str) -> list[str]:
    """The licences an SPDX expression or pip-licenses' `;`-joined classifiers name (exceptions dropped)."""
    text = re.sub(r"\bWITH\s+[\w.-]+", "", licence).replace("(", " ").replace(")", " ")
    if ";" in text:  # classifiers: their names hold spaces and parentheses of their own
        return [part.strip() for part in licence.split(";")]
    if re.search(r"\b(AND|OR)\b", text):
        return [part.strip() for part in re.split(r"\b(?:AND|OR)\b", text) if part.strip()]
    return [licence.strip()]


def accepted(package: dict) -> bool:
    licence = package["License"].strip()
    return bool(licence) and licence != "UNKNOWN" and all(name in ACCEPTED for name in named(licence))


def reviewed_note(package: dict) -> str | None:
    """The review of a package whose licence is not plainly accepted."""
    return None if accepted(package) else reviewed(canonicalize_name(package["Name"]))


def verdict(package: dict) -> str | None:
    """None when the licence is accepted or reviewed; otherwise why not."""
    if canonicalize_name(package["Name"]).startswith("azaion-") or accepted(package) or reviewed_note(package):
        return None
    licence = package["License"].strip() or "UNKNOWN"
    return f"{package['Name']} {package['Version']}: licence {licence!r} is not reviewed"


def render(image: str, packages: list[dict]) -> str:
    lines = [
        f"# Third-party licences: the {image} image",
        "",
        f"Generated by `python scripts/licences.py` from the installed metadata of `{IMAGES[image]}` and",
        "everything it requires, at the versions of `constraints.txt` (a test keeps it current and fails on a",
        "licence nobody reviewed), plus dumb-init, the images' PID 1. The base image's Debian packages carry",
        "their own copyright files in `/usr/share/doc`.",
        "",
        "| package | version | licence | home page |",
        "|---|---|---|---|",
    ]
    notes = {}
    for package in sorted(packages, key=lambda p: canonicalize_name(p["Name"])):
        name = canonicalize_name(package["Name"])
        licence = package["License"].replace("|", "/").replace("\n", " ")
        if name.startswith("azaion-"):
            licence = "AGPL-3.0-or-later (this project)"
        elif note := reviewed_note(package):
            notes[note] = None
            licence += f" (reviewed {list(notes).index(note) + 1})"
        url = package.get("URL", "")
        link = f"<{url}>" if url.startswith("http") else ""
        lines.append(f"| {package['Name']} | {package['Version']} | {licence} | {link} |")
    if notes:
        lines += ["", "Reviewed by hand (the package's metadata names no licence we accept):", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def dumb_init() -> dict:
    """The images' PID 1, installed from the wheelhouse (scripts/wheelhouse.sh pins it), not a requirement."""
    version = re.search(r"dumb-init==([0-9.]+)", (REPO / "scripts" / "wheelhouse.sh").read_text()).group(1)
    return {"Name": "dumb-init", "Version": version, "License": "MIT", "URL": "https://github.com/Yelp/dumb-init"}


def main() -> int:
    check = "--check" in sys.argv
    problems, stale = [], []
    OUT.mkdir(exist_ok=True)
    for image, distribution in IMAGES.items():
        packages = [*licences(sorted(closure(distribution))), dumb_init()]
        problems += [why for package in packages if (why := verdict(package))]
        path = OUT / f"{image}.md"
        text = render(image, packages)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)} ({len(packages)} packages)")
    for problem in sorted(set(problems)):
        print(f"licences: {problem}", file=sys.stderr)
    if stale:
        print(f"licences: out of date: {', '.join(stale)}; run python scripts/licences.py", file=sys.stderr)
    return 1 if problems or stale else 0


if __name__ == "__main__":
    sys.exit(main())
