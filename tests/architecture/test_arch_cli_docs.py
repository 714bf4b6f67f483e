"""Every ``zhengwu`` command, and every option of it, is documented in docs/operations.md.

The command tree is walked from the typer app itself, so a command or option added anywhere
(``zhengwu.cli`` or ``zhengwu.commands.*``) without a matching section fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from zhengwu.cli import app

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, command) for every leaf command below ``command`` (groups have ``commands``)."""
    children = getattr(command, "commands", None)
    if children is None:
        yield path, command
        return
    for name in sorted(children):
        yield from command_paths(children[name], (*path, name))


def _pattern(path: tuple[str, ...]) -> re.Pattern[str]:
    # "zhengwu seals verify" followed by a space, a backtick or the end — never "zhengwu seals verify-x".
    words = r"\s+".join(re.escape(word) for word in ("zhengwu", *path))
    return re.compile(rf"^{words}(?=$|\s|`)")


def _candidate_lines(text: str) -> Iterator[tuple[int, str]]:
    """Headings first, then synopsis lines, stripped of markdown, with their line numbers."""
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines):
        if line.startswith("#"):
            yield number, line.lstrip("#").strip().strip("`").strip()
    for number, line in enumerate(lines):
        if line.startswith(("zhengwu ", "$ zhengwu ")):
            yield number, line.removeprefix("$ ")


def section_of(text: str, path: tuple[str, ...]) -> str | None:
    """The text from the heading or synopsis naming ``path`` up to the next heading (None: not found)."""
    pattern = _pattern(path)
    lines = text.splitlines()
    for number, candidate in _candidate_lines(text):
        if pattern.match(candidate):
            start = number
            while start > 0 and not lines[start].lstrip().startswith("#"):
                start -= 1
            end = number + 1
            while end < len(lines) and not lines[end].lstrip().startswith("#"):
                end += 1
            return "\n".join(lines[start:end])
    return None


def missing_commands(text: str, paths: Sequence[tuple[str, ...]]) -> list[str]:
    """The command paths that no heading or synopsis line of ``text`` names."""
    return [" ".join(path) for path in paths if section_of(text, path) is None]


def long_options(command: Any) -> list[str]:
    """The ``--long`` option names of a command (every spelling, including ``--no-x`` secondaries)."""
    names: list[str] = []
    for param in command.params:
        for opt in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if opt.startswith("--"):
                names.append(opt)
    return names


@pytest.fixture(scope="module")
def operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def commands() -> list[tuple[tuple[str, ...], Any]]:
    found = list(command_paths(get_command(app)))
    assert len(found) > 10, "the command tree walk found too few commands"
    return found


def test_every_command_is_documented(operations: str, commands: list[tuple[tuple[str, ...], Any]]) -> None:
    missing = missing_commands(operations, [path for path, _ in commands])
    assert missing == [], (
        "docs/operations.md must have a heading or synopsis line 'zhengwu <command>' for: "
        + ", ".join(missing)
    )


def test_every_option_is_documented(operations: str, commands: list[tuple[tuple[str, ...], Any]]) -> None:
    undocumented = []
    for path, command in commands:
        section = section_of(operations, path)
        if section is None:
            continue  # reported by test_every_command_is_documented
        privileged = getattr(command.callback, "privileged_rights", None) is not None
        for option in long_options(command):
            if privileged and option == "--operator":
                continue  # one section for all of them: test_every_privileged_command_is_in_the_table
            if not re.search(rf"{re.escape(option)}(?![\w-])", section):
                undocumented.append(f"zhengwu {' '.join(path)} {option}")
    assert undocumented == [], "options missing from their docs/operations.md section: " + ", ".join(
        undocumented
    )


def test_every_privileged_command_is_in_the_table(
    operations: str, commands: list[tuple[tuple[str, ...], Any]]
) -> None:
    """Each ``@privileged`` command is listed, with its rights, where ``--operator`` is documented."""
    start = operations.index("### Privileged commands: operator and second factor")
    section = operations[start : operations.index("\n### ", start + 1)]
    assert "--operator" in section and "ZHENGWU_OPERATOR_OTP" in section
    missing = []
    for path, command in commands:
        rights = getattr(command.callback, "privileged_rights", None)
        if rights is None:
            continue
        row = re.search(rf"^\| `zhengwu {re.escape(' '.join(path))}` \|(.*)$", section, re.MULTILINE)
        if row is None or any(f"`{r.name}`" not in row.group(1) for r in rights):
            missing.append(" ".join(path))
    assert missing == [], "privileged commands missing from the table (with their rights): " + ", ".join(
        missing
    )


#: Commands that write but were once neither privileged nor routine (issue 15): each must now be one of them.
DECIDED = {
    "calendar import",
    "backup create",
    "backup ship",
    "backup drill",
    "audit seal",
    "security ingest-waf",
}


def test_every_routine_command_is_in_the_table(
    operations: str, commands: list[tuple[tuple[str, ...], Any]]
) -> None:
    """Each ``@routine`` command is listed with its reason where the service identity is documented, and
    no command is both privileged and routine."""
    start = operations.index("### Routine commands: the service identity")
    section = operations[start : operations.index("\n### ", start + 1)]
    marked = {" ".join(path): command.callback for path, command in commands}
    routine = {path for path, callback in marked.items() if getattr(callback, "routine_reason", None)}
    listed = set(re.findall(r"^\| `zhengwu ([a-z -]+)` \|", section, re.MULTILINE))
    assert routine == listed
    both = [p for p in routine if getattr(marked[p], "privileged_rights", None) is not None]
    assert both == []
    undecided = [
        p for p in DECIDED
        if p not in routine and getattr(marked[p], "privileged_rights", None) is None
    ]  # fmt: skip
    assert undecided == [], f"neither privileged nor routine: {undecided}"


def test_the_walk_sees_nested_groups(commands: list[tuple[tuple[str, ...], Any]]) -> None:
    paths = {" ".join(path) for path, _ in commands}
    assert {"serve", "codes validate", "exchange nodes approve", "pki trust add"} <= paths


def test_an_undocumented_command_is_reported() -> None:
    text = (
        "### `zhengwu seals verify`\n\n```\nzhengwu seals verify SOURCE [--json]\n```\n"
        "Sign first with `zhengwu seals sign` (prose is not documentation).\n"
    )
    paths = [("seals", "verify"), ("seals", "sign")]
    assert missing_commands(text, paths) == ["seals sign"]
    assert missing_commands("zhengwu seals verify-all FILE", [("seals", "verify")]) == ["seals verify"]


def test_a_section_ends_at_the_next_heading() -> None:
    text = "#### `zhengwu a b`\n\n```\nzhengwu a b [--x]\n```\n#### `zhengwu a c`\n--y\n"
    section = section_of(text, ("a", "b"))
    assert section is not None and "--x" in section and "--y" not in section
