"""The action registry drives bindings, key bar, help and palette: check it is sound."""
from __future__ import annotations

from collections import Counter

import pytest

from tenantops.console.actions import (BY_ID, DIALOG, FORBIDDEN_KEYS, GLOBAL, LIST, REGISTRY, ROLES, bindings_for,
                                       for_scope)
from tenantops.console.app import handler_targets


def test_ids_are_unique() -> None:
    counts = Counter(a.id for a in REGISTRY)
    assert [i for i, n in counts.items() if n > 1] == []
    assert len(BY_ID) == len(REGISTRY)


def test_roles_are_known_and_every_action_has_a_scope() -> None:
    for action in REGISTRY:
        assert action.role in ROLES, action.id
        assert action.screens, action.id
        assert action.description and action.keys, action.id


def test_no_key_clash_within_a_screen() -> None:
    targets = handler_targets()
    screens = [s for s in targets if s not in (GLOBAL, LIST)]
    for screen in screens:
        seen: dict[str, str] = {}
        # a screen's keys live alongside the global ones and those of its lists; a modal
        # dialog sees only its own
        shared = [] if screen == DIALOG else [*for_scope(GLOBAL), *for_scope(LIST)]
        for action in [*for_scope(screen), *shared]:
            for key in action.keys:
                assert key not in seen, f"{screen}: {key!r} is bound to {seen[key]} and {action.id}"
                seen[key] = action.id


def test_no_forbidden_key() -> None:
    for action in REGISTRY:
        assert not set(action.keys) & FORBIDDEN_KEYS, f"{action.id} uses a key tmux users bind: {action.key}"
    assert {"ctrl+b", "ctrl+j", "ctrl+k", "ctrl+s"} <= FORBIDDEN_KEYS


def test_vim_keys_and_filter_are_bound() -> None:
    keys = {k for a in for_scope(LIST) for k in a.keys}
    assert {"j", "k", "g", "G"} <= keys
    for screen in ("review", "jobs", "tenants"):
        assert "slash" in {k for a in for_scope(screen) for k in a.keys}, screen


def test_every_action_has_a_handler_on_every_target() -> None:
    targets = handler_targets()
    scopes = {s for a in REGISTRY for s in a.screens}
    assert scopes <= set(targets), f"scopes without a screen: {scopes - set(targets)}"
    for action in REGISTRY:
        for scope in action.screens:
            for cls in targets[scope]:
                if action.id == "app.palette":
                    assert callable(getattr(cls, "action_command_palette", None))
                    continue
                assert callable(getattr(cls, action.handler, None)), f"{cls.__name__} lacks {action.handler}"


@pytest.mark.parametrize("scope", sorted({s for a in REGISTRY for s in a.screens}))
def test_bindings_come_from_the_registry(scope: str) -> None:
    bindings = bindings_for(scope)
    assert {b.id for b in bindings} == {a.id for a in for_scope(scope)}
    for binding in bindings:
        if binding.id != "app.palette":
            assert binding.action == f"run('{binding.id}')"


def test_screens_take_their_bindings_from_the_registry() -> None:
    for scope, classes in handler_targets().items():
        for cls in classes:
            ids = {b.id for b in cls.BINDINGS if getattr(b, "id", None)}
            assert ids == {a.id for a in for_scope(scope)}, cls.__name__
