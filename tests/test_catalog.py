"""Catalog: the shipped content, the checker (every problem, one line each) and resolve()."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from tenantops.engine.catalog import (
    Catalog,
    check_catalog,
    custom_unit,
    load_catalog,
    resolve,
    shipped_catalog_root,
)
from tenantops.engine.errors import CatalogError, ConflictError, ValidationError

NEPAL_COMPLIANCE = ["financial_reports", "donation_records", "member_registrations",
                    "election_expenditures", "audit_trails"]


def copy_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_root(), root, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return root


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_module(root: Path, slug: str, *, depends_on: list[str], revision: str, table: str) -> None:
    folder = root / "modules" / slug
    (folder / "versions").mkdir(parents=True)
    (folder / "module.json").write_text(json.dumps({
        "slug": slug, "name": slug.title(), "version": "1.0.0", "description": "test module",
        "depends_on": depends_on, "conflicts": [],
    }), encoding="utf-8")
    (folder / "versions" / f"{revision}.py").write_text(f'''"""{slug} table."""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = None
branch_labels = ("{slug}",)
depends_on = ("basic_0004",)


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
''', encoding="utf-8")


# --- the shipped catalog --------------------------------------------------------------


def test_shipped_catalog_has_no_problems() -> None:
    assert check_catalog() == []
    catalog = load_catalog()
    assert catalog.basic.slug == "basic" and catalog.basic.kind == "basic"
    assert set(catalog.templates) == {"political_party_nepal", "non_profit_organization", "community_group",
                                      "educational_institution"}
    assert {"membership_management", "financial_tracking", "election_campaign", "social_media",
            "event_management"} <= set(catalog.modules)
    for unit in catalog.units():
        assert unit.revisions and unit.head == unit.revisions[-1]
        assert unit.revision_files[unit.revisions[0]].branch_labels == (unit.slug,)
        assert unit.versions_dir.is_dir() and unit.manifest_path.is_file()
    # every unit owns its tables: no table name appears twice
    all_tables = [t for unit in catalog.units() for t in unit.tables]
    assert len(all_tables) == len(set(all_tables))
    # at least one conflict pair is declared, so conflicts get exercised
    assert any(m.conflicts for m in catalog.modules.values())


def test_basic_layer_content() -> None:
    basic = load_catalog().basic
    assert {"tenant_users", "roles", "permissions", "role_permissions", "user_roles", "settings",
            "audit_logs"} <= basic.tables
    assert len(basic.revisions) >= 3
    assert basic.revision_files[basic.revisions[0]].depends_on == ()


def test_nepal_template_content() -> None:
    catalog = load_catalog()
    nepal = catalog.templates["political_party_nepal"]
    assert nepal.organization_type == "political_party"
    assert nepal.required_modules == ["membership_management", "financial_tracking"]
    assert nepal.required_tables == NEPAL_COMPLIANCE
    assert set(NEPAL_COMPLIANCE) | {"provinces", "districts", "political_committees", "citizen_validations",
                                    "election_commission_reports"} <= nepal.tables
    # its first revision depends on the head of basic, by revision id
    assert nepal.revision_files[nepal.revisions[0]].depends_on == (catalog.basic.head,)
    campaign = catalog.modules["election_campaign"]
    assert campaign.depends_on == ["membership_management"]
    assert set(campaign.revision_files[campaign.revisions[0]].depends_on) == {
        catalog.basic.head, catalog.modules["membership_management"].head}


def test_nepal_seed_files_hold_the_real_divisions() -> None:
    nepal = load_catalog().templates["political_party_nepal"]
    seeds = {json.loads(p.read_text(encoding="utf-8"))["table"]: json.loads(p.read_text(encoding="utf-8"))
             for p in nepal.seeds}
    provinces = seeds["provinces"]["rows"]
    assert [p["name"] for p in provinces] == ["Koshi", "Madhesh", "Bagmati", "Gandaki", "Lumbini", "Karnali",
                                              "Sudurpashchim"]
    assert all(p["name_np"] and p["capital"] and p["capital_np"] for p in provinces)
    districts = seeds["districts"]["rows"]
    assert len(districts) == 77 == len({d["name"] for d in districts}) == len({d["code"] for d in districts})
    per_province = [sum(d["province_id"] == p["id"] for d in districts) for p in provinces]
    assert per_province == [14, 8, 13, 11, 12, 10, 9]
    assert all(d["name_np"] for d in districts)
    by_name = {d["name"]: d for d in districts}
    assert by_name["Kathmandu"]["province_id"] == 3 and by_name["Kathmandu"]["name_np"] == "काठमाडौँ"
    assert by_name["Jhapa"]["province_id"] == 1 and by_name["Kailali"]["province_id"] == 7


# --- the checker ----------------------------------------------------------------------


def test_broken_catalog_lists_every_problem_once(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    mod, tpl = root / "modules", root / "templates"
    expected: list[tuple[str, str]] = []

    (mod / "social_media" / "module.json").write_text('{"slug": "social_media", "name": ', encoding="utf-8")
    expected.append(("modules/social_media/module.json", "invalid JSON at line 1 column"))

    edit_json(mod / "event_management" / "module.json", lambda d: d.update(version="one.two"))
    expected.append(("modules/event_management/module.json", "version: 'one.two' is not a valid version"))

    edit_json(mod / "financial_tracking" / "module.json", lambda d: d["compatibility"].update(mariadb="=>10.6"))
    expected.append(("modules/financial_tracking/module.json",
                     "compatibility.mariadb: '=>10.6' is not a valid version specifier"))

    edit_json(tpl / "non_profit_organization" / "template.json", lambda d: d["optional_modules"].append("crowdfunding"))
    expected.append(("templates/non_profit_organization/template.json",
                     "optional_modules: unknown module 'crowdfunding'"))

    edit_json(tpl / "political_party_nepal" / "template.json",
              lambda d: d["required_modules"].append("simple_donations"))
    expected.append(("templates/political_party_nepal/template.json",
                     "requires 'financial_tracking' and 'simple_donations', which conflict"))

    edit_json(tpl / "educational_institution" / "template.json", lambda d: d.update(slug="Edu-Institution"))
    expected.append(("templates/educational_institution/template.json",
                     "slug: 'Edu-Institution' is not a valid slug"))

    edit_text(mod / "social_media" / "versions" / "social_0001_accounts_posts.py",
              'branch_labels = ("social_media",)', 'branch_labels = ("socials",)')
    expected.append(("social_0001_accounts_posts.py", "branch_labels: ('socials',) does not match unit 'social_media'"))

    (mod / "event_management" / "versions" / "events_0003_broken.py").write_text("def upgrade(:\n", encoding="utf-8")
    expected.append(("events_0003_broken.py", "does not parse"))

    npo_grants = tpl / "non_profit_organization" / "versions" / "npo_0002_grants.py"
    text = npo_grants.read_text(encoding="utf-8")
    npo_grants.write_text(text[: text.index("def downgrade")] + "def downgrade() -> None:\n    pass\n",
                          encoding="utf-8")
    expected.append(("npo_0002_grants.py", "downgrade: does nothing"))

    edit_text(tpl / "community_group" / "versions" / "cg_0001_projects_notices.py",
              "def downgrade()", "def tear_down()")
    expected.append(("cg_0001_projects_notices.py", "downgrade: def downgrade() is missing"))

    shutil.copy(root / "basic" / "versions" / "basic_0003_audit_logs.py", root / "basic" / "versions" / "basic_0003_copy.py")
    expected.append(("basic/versions/basic_0003_copy.py", "duplicate revision id 'basic_0003'"))

    (mod / "event_management" / "versions" / "events_0003_notices.py").write_text('''"""Notices, again."""
from alembic import op
import sqlalchemy as sa

revision = "events_0003"
down_revision = "events_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notices", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("notices")
''', encoding="utf-8")
    expected.append(("events_0003_notices.py", "table 'notices' is already created by unit 'community_group'"))

    edit_json(tpl / "educational_institution" / "template.json",
              lambda d: d["compliance"]["required_tables"].append("exam_results"))
    expected.append(("templates/educational_institution/template.json",
                     "compliance.required_tables: table 'exam_results' is not created"))

    edit_json(mod / "election_campaign" / "module.json", lambda d: d["depends_on"].append("ghost_module"))
    expected.append(("modules/election_campaign/module.json", "depends_on: unknown module 'ghost_module'"))

    edit_text(tpl / "non_profit_organization" / "versions" / "npo_0001_programs.py",
              'depends_on = ("basic_0004",)', 'depends_on = ("basic_9999",)')
    expected.append(("npo_0001_programs.py", "depends_on: unknown revision 'basic_9999'"))

    edit_json(mod / "membership_management" / "module.json",
              lambda d: d["compatibility"].update(basic_version=">=3.0"))
    expected.append(("modules/membership_management/module.json",
                     "compatibility.basic_version: the basic layer is 1.2.0, which does not satisfy '>=3.0'"))

    edit_json(tpl / "community_group" / "template.json", lambda d: d.update(require_modules=[]))
    expected.append(("templates/community_group/template.json", "require_modules: unknown field"))

    edit_json(mod / "financial_tracking" / "seeds" / "ledger_accounts.json", lambda d: d.update(table="members"))
    expected.append(("modules/financial_tracking/seeds/ledger_accounts.json",
                     "table: 'members' is not created by unit 'financial_tracking'"))

    edit_text(tpl / "community_group" / "versions" / "cg_0001_projects_notices.py",
              'depends_on = ("basic_0004",)', 'depends_on = ("basic_0004", "events_0002")')
    expected.append(("cg_0001_projects_notices.py",
                     "depends_on: revision 'events_0002' belongs to 'event_management'"))

    edit_text(mod / "simple_donations" / "versions" / "donations_0001_register.py",
              '        sa.Column("note", sa.String(255), nullable=True),',
              '        sa.Column("note", sa.String(255), nullable=True, index=True),')
    expected.append(("donations_0001_register.py",
                     "create_table: indexes declared inside create_table('donation_entries') are created in random order"))

    problems = check_catalog(root)
    report = "\n".join(problems)
    for file_part, message in expected:
        matching = [p for p in problems if file_part in p.split(": ", 1)[0] and message in p]
        assert len(matching) == 1, f"expected exactly one line for {file_part} / {message}:\n{report}"
    assert len(problems) == len(expected), report

    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    assert caught.value.problems == problems
    assert f"(+{len(problems) - 1} more)" in str(caught.value)


def test_invalid_json_names_the_position(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    (root / "basic" / "layer.json").write_text('{\n  "slug": "basic",\n  "name" "Basic"\n}\n', encoding="utf-8")
    problems = check_catalog(root)
    assert problems == ["basic/layer.json: invalid JSON at line 3 column 10: Expecting ':' delimiter"]


def test_missing_catalog_directory(tmp_path: Path) -> None:
    assert check_catalog(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: catalog directory not found"]


# --- resolution -----------------------------------------------------------------------


def test_required_modules_are_added_with_a_reason() -> None:
    resolution = resolve(load_catalog(), "political_party_nepal", [])
    assert resolution.slugs == ["basic", "political_party_nepal", "financial_tracking", "membership_management"]
    assert resolution.auto_added == {
        "membership_management": "required by template political_party_nepal",
        "financial_tracking": "required by template political_party_nepal",
    }
    assert [u.kind for u in resolution.units] == ["basic", "template", "module", "module"]


def test_module_order_is_dependency_order_with_slug_tie_break() -> None:
    catalog = load_catalog()
    a = resolve(catalog, "political_party_nepal", ["social_media", "election_campaign", "event_management"])
    b = resolve(catalog, "political_party_nepal", ["event_management", "election_campaign", "social_media"])
    assert a.modules == b.modules == ["event_management", "financial_tracking", "membership_management",
                                      "election_campaign", "social_media"]
    # asked for explicitly, a required module is not "auto added"
    c = resolve(catalog, "political_party_nepal", ["membership_management"])
    assert "membership_management" not in c.auto_added


def test_transitive_dependency_is_added_and_ordered_first(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    edit_json(root / "templates" / "non_profit_organization" / "template.json",
              lambda d: d["optional_modules"].append("election_campaign"))
    catalog = load_catalog(root)
    resolution = resolve(catalog, "non_profit_organization", ["election_campaign"])
    assert resolution.modules == ["financial_tracking", "membership_management", "election_campaign"]
    assert resolution.auto_added == {
        "financial_tracking": "required by template non_profit_organization",
        "membership_management": "dependency of election_campaign",
    }


def test_dependency_cycle(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    add_module(root, "alpha", depends_on=["beta"], revision="alpha_0001", table="alpha_things")
    add_module(root, "beta", depends_on=["alpha"], revision="beta_0001", table="beta_things")
    edit_json(root / "templates" / "community_group" / "template.json",
              lambda d: d["optional_modules"].extend(["alpha", "beta"]))
    assert check_catalog(root) == ["modules/alpha/module.json: depends_on: dependency cycle alpha -> beta -> alpha"]
    with pytest.raises(CatalogError, match="dependency cycle alpha -> beta -> alpha"):
        load_catalog(root)
    catalog = load_catalog(root, strict=False)
    with pytest.raises(ValidationError, match=r"module dependency cycle: (alpha -> beta -> alpha|beta -> alpha -> beta)"):
        resolve(catalog, "community_group", ["alpha"])


def test_conflict_names_both_modules() -> None:
    with pytest.raises(ConflictError, match="'financial_tracking' conflicts with module 'simple_donations'"):
        resolve(load_catalog(), "community_group", ["financial_tracking", "simple_donations"])
    # an auto-added module in a conflict says why it is there
    with pytest.raises(ValidationError, match="not allowed"):
        resolve(load_catalog(), "political_party_nepal", ["simple_donations"])


def test_module_not_allowed_for_template() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve(load_catalog(), "non_profit_organization", ["election_campaign"])
    assert "module 'election_campaign' is not allowed for template 'non_profit_organization'" in str(caught.value)
    assert "allowed: financial_tracking, membership_management" in str(caught.value)


def test_unknown_names_list_the_available_ones() -> None:
    catalog = load_catalog()
    with pytest.raises(ValidationError, match="unknown template 'party'.*available templates: community_group"):
        resolve(catalog, "party", [])
    with pytest.raises(ValidationError, match="unknown module 'crm'.*available modules: election_campaign"):
        resolve(catalog, "community_group", ["crm"])


def test_incompatible_server_version() -> None:
    catalog = load_catalog()
    with pytest.raises(ValidationError, match=r"needs mariadb >=10\.6, but the server runs 10\.3\.1"):
        resolve(catalog, "political_party_nepal", [], server_kind="mariadb", server_version="10.3.1")
    ok = resolve(catalog, "political_party_nepal", [], server_kind="mariadb",
                 server_version="10.11.6-MariaDB-0+deb12u1")
    assert ok.template == "political_party_nepal"
    with pytest.raises(ValidationError, match=r"needs mysql >=8\.0"):
        resolve(catalog, "community_group", [], server_kind="mysql", server_version="5.7.44")
    # no range declared for this server kind: nothing to refuse
    resolve(catalog, "community_group", [], server_kind="postgresql", server_version="9.0")


def test_incompatible_basic_version() -> None:
    catalog = load_catalog()
    old_basic = dataclasses.replace(catalog.basic, version="1.0.0")
    older = Catalog(catalog.root, old_basic, catalog.templates, catalog.modules)
    with pytest.raises(ValidationError, match=r"template 'political_party_nepal' needs basic_version >=1\.2, "
                                              r"but the basic layer is 1\.0\.0"):
        resolve(older, "political_party_nepal", [])


# --- custom units ---------------------------------------------------------------------


CUSTOM_REVISION = '''"""Party cells."""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = None
branch_labels = ("{label}",)
depends_on = ("basic_0004",)


def upgrade() -> None:
    op.create_table("party_cells", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("party_cells")
'''


def test_custom_unit(tmp_path: Path) -> None:
    folder = tmp_path / "custom" / "nepali-congress"
    assert custom_unit("nepali-congress", folder).revisions == []  # nothing approved yet
    folder.mkdir(parents=True)
    (folder / "cust_nc_0001_party_cells.py").write_text(
        CUSTOM_REVISION.format(revision="cust_nc_0001", label="custom_nepali_congress"), encoding="utf-8")
    unit = custom_unit("nepali-congress", folder)
    assert (unit.slug, unit.kind, unit.revisions, unit.head) == (
        "custom_nepali_congress", "custom", ["cust_nc_0001"], "cust_nc_0001")
    assert unit.tables == {"party_cells"}

    (folder / "cust_nc_0001_party_cells.py").write_text(
        CUSTOM_REVISION.format(revision="cust_nc_0001", label="custom_other"), encoding="utf-8")
    with pytest.raises(CatalogError, match="does not match unit 'custom_nepali_congress'"):
        custom_unit("nepali-congress", folder)
    with pytest.raises(ValidationError, match="invalid tenant slug"):
        custom_unit("../etc", folder)


def test_revisions_kept_from_an_earlier_read_give_the_same_catalog_and_never_hide_a_problem(tmp_path: Path) -> None:
    """Each command reads the catalog; what clean revision files hold is kept by content,
    so an edited file is read again (its new problem shows) and a damaged cache is rebuilt."""
    from helpers import copy_catalog

    root, kept = copy_catalog(tmp_path), tmp_path / "cache" / "revisions.json"

    def summary(catalog) -> dict:
        return {u.slug: {r: (f.down_revision, f.branch_labels, f.depends_on, f.tables, f.message, f.path)
                         for r, f in u.revision_files.items()} for u in catalog.units()}

    plain = summary(load_catalog(root))
    assert summary(load_catalog(root, parsed_cache=kept)) == plain  # first read fills the cache
    assert kept.exists() and kept.stat().st_mode & 0o077 == 0
    assert summary(load_catalog(root, parsed_cache=kept)) == plain  # second read comes from it

    kept.write_text("{ damaged")
    assert summary(load_catalog(root, parsed_cache=kept)) == plain
    assert json.loads(kept.read_text())["entries"]

    revision = next((root / "templates" / "community_group" / "versions").glob("*.py"))
    revision.write_text(revision.read_text().replace("def downgrade() -> None:\n", "def downgrade() -> None:\n    pass\n"
                                                     "\n\ndef _old_downgrade() -> None:\n", 1))
    problems = check_catalog(root)
    assert any("downgrade: does nothing" in p for p in problems)
    with pytest.raises(CatalogError, match="downgrade: does nothing"):
        load_catalog(root, parsed_cache=kept)
    with pytest.raises(CatalogError, match="downgrade: does nothing"):
        load_catalog(root, parsed_cache=kept)  # a file with a problem is never kept
