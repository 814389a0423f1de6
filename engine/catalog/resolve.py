"""Resolution: a template plus chosen modules -> the ordered units to apply (graphlib for
the order, packaging for version ranges)."""
from __future__ import annotations

import graphlib
import re

from tenantops.engine.catalog.checks import _conflict_pairs
from tenantops.engine.catalog.model import Catalog, Resolution, Unit, satisfies
from tenantops.engine.errors import ConflictError, ValidationError


def resolve(
    catalog: Catalog,
    template: str,
    modules: list[str],
    *,
    server_kind: str | None = None,
    server_version: str | None = None,
) -> Resolution:
    """The ordered units for ``template`` + ``modules``: [basic, template, modules...].

    Required modules and dependencies are added (``auto_added`` says why); modules come
    in dependency order, ties broken by slug so the same request always gives the same
    order. Raises ``ValidationError`` for unknown names, modules the template does not
    allow, cycles and incompatible versions, ``ConflictError`` for conflicting modules.
    """
    if template not in catalog.templates:
        raise ValidationError(f"unknown template {ascii(template)}",
                              hint=f"available templates: {', '.join(sorted(catalog.templates)) or 'none'}")
    tpl = catalog.templates[template]
    unknown = [m for m in modules if m not in catalog.modules]
    if unknown:
        raise ValidationError(f"unknown module{'s' if len(unknown) > 1 else ''} {', '.join(map(ascii, unknown))}",
                              hint=f"available modules: {', '.join(sorted(catalog.modules)) or 'none'}")

    requested = list(dict.fromkeys(modules))
    auto_added: dict[str, str] = {}
    selected: list[str] = list(requested)
    for slug in tpl.required_modules:
        if slug not in selected:
            selected.append(slug)
            auto_added[slug] = f"required by template {template}"
    queue = list(selected)
    while queue:
        slug = queue.pop(0)
        for dep in catalog.modules[slug].depends_on:
            if dep not in catalog.modules:
                raise ValidationError(f"module '{slug}' depends on unknown module '{dep}'")
            if dep not in selected:
                selected.append(dep)
                auto_added[dep] = f"dependency of {slug}"
                queue.append(dep)

    allowed = set(tpl.allowed_modules)
    for slug in selected:
        if slug not in allowed:
            why = f" ({auto_added[slug]})" if slug in auto_added else ""
            raise ValidationError(
                f"module '{slug}'{why} is not allowed for template '{template}'",
                hint=f"allowed: {', '.join(tpl.allowed_modules) or 'none'}",
            )

    pairs = _conflict_pairs(catalog.modules.values())
    for i, a in enumerate(selected):
        for b in selected[i + 1:]:
            if frozenset((a, b)) in pairs:
                detail = "".join(f"; '{m}' is {auto_added[m]}" for m in (a, b) if m in auto_added)
                raise ConflictError(f"module '{a}' conflicts with module '{b}'{detail}")

    sorter = graphlib.TopologicalSorter({s: set(catalog.modules[s].depends_on) for s in selected})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise ValidationError(f"module dependency cycle: {' -> '.join(cycle)}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)

    units = [catalog.basic, tpl, *(catalog.modules[s] for s in order)]
    _check_compatibility(catalog, units, server_kind, server_version)
    return Resolution(template=template, modules=order, units=units, auto_added=auto_added)


_LEADING_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")


def _check_compatibility(catalog: Catalog, units: list[Unit], server_kind: str | None,
                         server_version: str | None) -> None:
    basic = catalog.basic
    kind = (server_kind or "").lower() or None
    server: str | None = None
    if kind is not None and server_version:
        # servers report e.g. "10.11.6-MariaDB-0+deb12u1": only the numeric part counts
        match = _LEADING_VERSION.match(server_version)
        if not match:
            raise ValidationError(f"cannot read server version '{server_version}'")
        server = match.group(1)
    for unit in units:
        spec = unit.compatibility.get("basic_version")
        if spec and unit.kind != "basic" and not satisfies(spec, basic.version, catalog.verdicts):
            raise ValidationError(
                f"{unit.kind} '{unit.slug}' needs basic_version {spec}, but the basic layer is {basic.version}")
        if server is not None and kind in unit.compatibility:
            spec = unit.compatibility[kind]
            if not satisfies(spec, server):
                raise ValidationError(
                    f"{unit.kind} '{unit.slug}' needs {kind} {spec}, but the server runs {server_version}")
