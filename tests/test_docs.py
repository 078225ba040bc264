"""The documentation: the site builds strictly, the generated references are current, every command the
docs show exists, the README stays short and points only at files of the repository."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

from scripts import load

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
REFERENCE = load("docs_reference")  # the command lines and their parsers, defined once
PROGRAMS = REFERENCE.PROGRAMS
COMMAND = re.compile(r"python3? -m (" + "|".join(PROGRAMS) + r")\b(.*)")
#: the docs' shorthand in running text: `trainer release promote VERSION` (checked when the second word
#: is one of the program's subcommands)
SHORT = re.compile(r"^(" + "|".join(PROGRAMS[:-1]) + r") ([a-z][a-z-]*\b.*)")
FENCE = re.compile(r"^(```|~~~)")


def pages() -> list[Path]:
    """The hand-written pages and the README (the generated CLI page is argparse's own output)."""
    generated = {DOCS / "reference" / "cli.md"}
    return [REPO / "README.md", *(p for p in sorted(DOCS.rglob("*.md")) if p not in generated)]


def shown_commands(page: Path):
    """(line number, program, arguments) of every `python -m PROGRAM ...` in a code block or a code span
    (a span may wrap over lines of its paragraph; a block's line may continue with a backslash)."""
    lines = page.read_text().splitlines()
    in_block, pending, paragraph = False, None, []

    def spans():
        text = " ".join(line.strip() for _, line in paragraph)
        for snippet in re.findall(r"`([^`]+)`", text):
            for found in COMMAND.finditer(snippet):
                yield paragraph[0][0], found.group(1), found.group(2)
            for found in SHORT.finditer(snippet):
                yield paragraph[0][0], found.group(1), "SHORTHAND " + found.group(2)

    for number, line in enumerate(lines, 1):
        if FENCE.match(line.strip()) or (not in_block and not line.strip()):
            yield from spans() if paragraph else ()
            paragraph = []
            if line.strip():
                in_block = not in_block
            continue
        if not in_block:
            paragraph.append((number, line))
            continue
        text = line.split(" # ", 1)[0].rstrip()
        start = pending[0] if pending else number
        if pending is not None:  # the rest of a line that ended with a backslash
            text = pending[1] + " " + text.strip()
        if text.endswith("\\"):
            pending = (start, text[:-1])
            continue
        pending = None
        for found in COMMAND.finditer(text):
            yield start, found.group(1), found.group(2)
    yield from spans() if paragraph else ()


def words(arguments: str) -> list[str]:
    """The arguments as a shell would split them, with the docs' placeholders ([--x], a|b, ...) opened up."""
    arguments = re.split(r"[;&]|\|\||\s\|\s|\s#\s", arguments)[0]
    try:
        split = shlex.split(arguments)
    except ValueError:
        split = arguments.split()
    return [w.strip("[]().,") for w in split if w.strip("[]().,")]


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def problems_of(program: str, arguments: list[str], parsers: dict) -> list[str]:
    parser, path, problems = parsers[program], [program], []
    if arguments[:1] == ["SHORTHAND"]:
        arguments = arguments[1:]
        if not arguments or subparser(parser, arguments[0]) is None:
            return []  # prose that starts with a program's name ("api server"), not a command
    accepted = options_of(parser)
    for word in arguments:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", flag) and flag not in accepted:
                problems.append(f"`{' '.join(path)}` has no {flag}")
            continue
        nested = subparser(parser, word)
        if nested is not None:
            parser, path = nested, [*path, word]
            accepted |= options_of(parser)  # options given before the subcommand stay valid
    return problems


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli.html").exists()
    assert "aerial 4K" in (tmp_path / "site" / "benchmarks.html").read_text()  # bench/RESULTS.md, included


def test_the_generated_reference_pages_are_current():
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "docs_reference.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_command_the_docs_show_exists():
    parsers = REFERENCE.parsers()
    seen, problems = 0, []
    for page in pages():
        for number, program, arguments in shown_commands(page):
            seen += 1
            found = problems_of(program, words(arguments), parsers)
            problems += [f"{page.relative_to(REPO)}:{number}: {problem}" for problem in found]
    assert seen > 100, f"only {seen} commands found in the docs: is the collector broken?"
    assert not problems, "\n".join(problems)


def test_the_collector_catches_a_flag_that_does_not_exist(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Run `python -m trainer export --run R\n--colour red`, then `trainer release promote 3 --fast`.\n\n"
        "```bash\npython -m inference run \\\n  --sauce x.mp4\n```\n"
    )
    parsers = REFERENCE.parsers()
    found = [problems_of(program, words(arguments), parsers) for _, program, arguments in shown_commands(page)]
    assert found == [
        ["`trainer export` has no --colour"],
        ["`trainer release promote` has no --fast"],
        ["`inference run` has no --sauce"],
    ]


def test_the_readme_is_short_and_points_only_inside_the_repository():
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 15 * 1024
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), f"README links to {target}, which is not in the repository"


def test_no_page_refers_to_files_outside_the_repository():
    for page in pages():
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, f"{page.relative_to(REPO)} points outside"
