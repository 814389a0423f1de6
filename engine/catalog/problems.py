"""The problem log a catalog scan fills: one line per problem, naming file and field."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ProblemLog:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        # revision id -> (unit slug, path): ids must be unique across the whole catalog
        self.revision_owner: dict[str, tuple[str, Path]] = {}
        self.broken_manifests: set[str] = set()
        self.cycle_members: set[str] = set()
        self.verdicts: dict[tuple[str, str], bool] = {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def problem(self, path: Path, field_name: str | None, message: str) -> None:
        where = self.rel(path)
        self.problems.append(f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}")

    def read_json(self, path: Path) -> Any | None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.problem(path, None, f"cannot read: {exc.strerror or exc}")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(path, None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
            return None
        except RecursionError:
            self.problem(path, None, "invalid JSON: nested too deeply")
            return None
