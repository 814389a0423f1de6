"""The README's second command is exactly what CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```sh\n")[1:]]
    assert len(blocks) >= 2
    run_cmd, test_cmd = blocks[0], blocks[1]
    assert "tenantops --demo" in run_cmd
    ci = ROOT.joinpath(".ci/run").read_text().splitlines()
    assert test_cmd in [line.strip() for line in ci]
