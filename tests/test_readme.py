"""README.md works as written: its commands exist with the options it shows, quick ones run.

Commands are the lines of the README's fenced ```bash / ```sh / ```console blocks (a leading
"$ " is dropped, backslash continuations are joined, `&&`, `;` and `|` separate commands).
Every `snndeploy ...` and `python cli.py ...` command must name a real (sub)command and only
options that command has. The quick ones run for real and must exit 0: those with --help or
--version, `snndeploy targets ...`, and any line ending in the comment `# quick`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from snndeploy.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(?:bash|sh|shell|console)[ \t]*\n(.*?)^```", re.S | re.M)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
QUICK_FLAGS = ("--help", "-h", "--version")
QUICK_COMMANDS = ("targets",)
RUN_CLI = "import sys; from snndeploy.cli import main; main(sys.argv[1:])"


def readme_lines() -> list[str]:
    """Every command line of the README's shell blocks, comments kept (for `# quick`)."""
    if not README.exists():
        return []
    lines = []
    for block in BLOCK.findall(README.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            line = line[2:] if line.startswith("$ ") else line
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def split_commands(line: str) -> list[list[str]]:
    """Tokens of each command on a line (comment removed, split at &&, ; and |)."""
    tokens = shlex.split(line, comments=True)
    commands, current = [], []
    for token in tokens:
        if token in ("&&", ";", "|", "||"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [command for command in commands + [current] if command]


def cli_arguments(tokens: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """(environment, arguments after the program) when the command runs snndeploy, else None.

    `python cli.py` (from a checkout) behaves as `snndeploy`, so both run the same CLI here.
    """
    env = {}
    while tokens and ENV_ASSIGNMENT.match(tokens[0]):
        name, value = tokens[0].split("=", 1)
        env[name] = value
        tokens = tokens[1:]
    if tokens[:1] == ["snndeploy"]:
        return env, tokens[1:]
    if len(tokens) >= 2 and tokens[0] in ("python", "python3") and tokens[1] == "cli.py":
        return env, tokens[2:]
    return None


def cli_commands() -> list[tuple[str, dict[str, str], list[str]]]:
    found = []
    for line in readme_lines():
        for tokens in split_commands(line):
            parsed = cli_arguments(tokens)
            if parsed is not None:
                found.append((line, *parsed))
    return found


def is_quick(line: str, arguments: list[str]) -> bool:
    marked = re.search(r"#\s*quick\s*$", line) is not None
    flagged = any(flag in arguments for flag in QUICK_FLAGS)
    return marked or flagged or (bool(arguments) and arguments[0] in QUICK_COMMANDS)


def resolve(arguments: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command the arguments name and the options it accepts (group options included)."""
    command: click.Command = app
    names = [opt for param in app.params for opt in param.opts + param.secondary_opts]
    names += ["--help", "-h", "--version"]
    for token in arguments:
        if token.startswith("-") or not isinstance(command, click.Group):
            continue
        sub = command.get_command(click.Context(command), token)
        assert sub is not None, f"README uses `{token}`, which is not a command of {command.name}"
        command = sub
        names += [opt for param in sub.params for opt in param.opts + param.secondary_opts]
    return command, names


def test_readme_exists_with_shell_commands():
    assert README.exists(), "README.md is missing"
    assert cli_commands(), "README.md shows no snndeploy command in a ```bash block"


@pytest.mark.parametrize("line, env, arguments", cli_commands(), ids=lambda value: str(value)[:60])
def test_readme_command_and_options_exist(line, env, arguments):
    _, known = resolve(arguments)
    for token in arguments:
        option = token.split("=", 1)[0]
        if option.startswith("-") and option != "-":
            assert option in known, f"README line `{line}` uses unknown option {option}"


QUICK = [entry for entry in cli_commands() if is_quick(entry[0], entry[2])]


@pytest.mark.parametrize("line, env, arguments", QUICK, ids=lambda value: str(value)[:60])
def test_quick_readme_commands_run(line, env, arguments):
    completed = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *arguments], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120,
    )
    assert completed.returncode == 0, f"`{line}` failed:\n{completed.stdout}\n{completed.stderr}"


def test_quick_selection_and_parsing_rules():
    # The extraction rules themselves, on a made-up README fragment.
    assert split_commands("pip install -e . && snndeploy demo --fast  # quick") == [
        ["pip", "install", "-e", "."], ["snndeploy", "demo", "--fast"]]
    assert cli_arguments(["OMP_NUM_THREADS=1", "snndeploy", "demo"]) == (
        {"OMP_NUM_THREADS": "1"}, ["demo"])
    assert cli_arguments(["python", "cli.py", "--help"]) == ({}, ["--help"])
    assert cli_arguments(["pip", "install", "snndeploy"]) is None
    assert is_quick("snndeploy demo --help", ["demo", "--help"])
    assert is_quick("snndeploy targets", ["targets"])
    assert is_quick("snndeploy map m.safetensors  # quick", ["map", "m.safetensors"])
    assert not is_quick("snndeploy demo", ["demo"])
