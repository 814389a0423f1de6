"""One parser per verb: each verb's --help offers only its own flags, every argument says
what it is, every command shows an example, and a missing required argument is a usage
error (exit 2, one line) before the store is even opened."""
from __future__ import annotations

import argparse
import subprocess
import shutil

import pytest

from cli import run
from tenantops.engine.vocab import JOB_STATUSES
from tenantops.console.cli import build_parser


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from leaves(child, path + (name,))


def groups(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield path, action
            for name, child in action.choices.items():
                yield from groups(child, path + (name,))


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


LEAVES = list(leaves(build_parser()))
GROUPS = [(path, action) for path, action in groups(build_parser()) if path]


def test_the_tree_has_every_verb_of_the_contract() -> None:
    paths = {" ".join(p) for p, _ in LEAVES}
    for expected in ["applications submit", "applications reject", "jobs list", "jobs retry", "backups restore",
                     "custom apply", "operators add", "servers add", "drift", "provision", "completion"]:
        assert expected in paths


@pytest.mark.parametrize("path,verbs", GROUPS, ids=[" ".join(p) for p, _ in GROUPS])
def test_each_verb_help_shows_only_its_own_flags(path: tuple[str, ...], verbs: argparse._SubParsersAction) -> None:
    own = {name: flags(child) for name, child in verbs.choices.items()}
    for name, mine in own.items():
        shown = run(*path, name, "--help")
        assert shown.code == 0
        for sibling, theirs in own.items():
            for flag in theirs - mine:
                assert f"{flag} " not in shown.out and not shown.out.rstrip().endswith(flag), \
                    f"`tenantops {' '.join(path)} {name} --help` offers {flag} of {sibling}"
        for flag in mine:
            assert flag in shown.out


def test_a_flag_of_a_sibling_verb_is_a_usage_error() -> None:
    r = run("applications", "list", "--reason", "x")
    assert r.code == 2
    assert r.err.count("\n") == 1 and "--reason" in r.err


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_argument_has_help_and_every_command_an_example(path: tuple[str, ...],
                                                              parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        assert action.help, f"`tenantops {' '.join(path)}`: {action.option_strings or action.dest} has no help"
    page = run(*path, "--help").out
    assert "example" in page and f"tenantops {' '.join(path)}" in page.split("example", 1)[1]
    assert "--confirm CONFIRM" not in page and "--home HOME" not in page


@pytest.mark.parametrize("argv", [
    ["applications", "submit", "--org", "X", "--slug", "x-org", "--email", "x@x.example.org"],  # no --template
    ["applications", "reject", "x-org"],                    # no --reason
    ["applications", "show"],
    ["jobs"],                                               # no verb
    ["jobs", "show"],
    ["jobs", "show", "seven"],
    ["operators", "add", "bob"],                            # no --role
    ["operators", "add", "bob", "--role", "god"],
    ["servers", "add", "db9"],                              # no URL
    ["rollback", "x-org"],                                  # no --batch
    ["provision"],
    ["provision", "x-org", "--all-approved"],
    ["sync"],
    ["snapshot"],
    ["drift"],
    ["repair"],
    ["custom", "apply", "x-org", "m", "--at", "2026-12-01T00:00:00Z", "--in-window"],
    ["backups", "restore", "x-org"],
])
def test_missing_or_malformed_arguments_are_usage_errors(argv: list[str]) -> None:
    before = run("jobs", "list", "--json").json()
    r = run(*argv)
    assert r.code == 2, r
    assert r.out == "" and r.err.count("\n") == 1 and r.err.startswith("tenantops: usage error:")
    assert "Traceback" not in r.err
    assert run("jobs", "list", "--json").json() == before


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_offers_verbs_flags_and_choices() -> None:
    script = run("completion", "bash")
    assert script.code == 0

    def complete(line: str) -> set[str]:
        words = line.split(" ")
        program = (script.out + "\nCOMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
                   f"COMP_CWORD={len(words) - 1}\n_tenantops\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
        return set(done.stdout.split())

    assert {"applications", "jobs", "drift", "completion"} <= complete("tenantops ")
    assert complete("tenantops applications ") == {"submit", "list", "show", "approve", "reject"}
    assert complete("tenantops applications reject --") >= {"--reason", "--json"}
    assert "--org" not in complete("tenantops applications reject --")
    assert complete("tenantops jobs list --status ") == set(JOB_STATUSES) >= {"queued", "failed", "needs_confirmation"}
    assert complete("tenantops --home /tmp/x jobs li") == {"list"}
    zsh = run("completion", "zsh")
    assert zsh.code == 0 and zsh.out.startswith("#compdef tenantops")
