"""One registry of sections (report.render.sections), and everything derived from it agrees: the command line's
--sections, the README's table, the templates, the rules' sections, the tables, which sections a store can fill
and which parts of the analysis a section list asks for. A section written in a module of its own (here a
test-only one, tests/example_section.py) registers and renders through the same path as the report's own."""

from __future__ import annotations

import dataclasses
import itertools
import pkgutil

import pytest
from jinja2 import ChoiceLoader, FileSystemLoader
from synthetic import documents, write_store

from conftest import ROOT
from report.render import TEMPLATE_DIR, documents as html_documents
from report.render.context import build_context
from report.render.load import load_findings
from report.render.sections import (
    ALL,
    GROUPS,
    NOTES_ORDER,
    PARTS,
    REGISTRY,
    RULES,
    SECTIONS,
    Registry,
    Section,
    analysis_parts,
    lacking,
    parse_sections,
)
from report.render.tables import TABLE_IDS, TABLES, report_tables

import example_section

FIXTURE_TEMPLATES = ROOT / "tests" / "fixtures" / "templates"


@pytest.fixture(scope="module")
def full_store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("registry") / "stores")


@pytest.fixture(scope="module")
def stores_by_parts(tmp_path_factory):
    """A synthetic store for every combination of the optional parts present: {parts present: store}."""
    stores = {}
    root = tmp_path_factory.mktemp("parts")
    for flags in itertools.product((True, False), repeat=len(PARTS)):
        present = frozenset(part.name for part, kept in zip(PARTS, flags) if kept)
        docs = {name: doc for name, doc in documents().items()
                if name not in {part.document for part in PARTS if part.name not in present}}
        stores[present] = write_store(root / "stores", docs, key="parts-" + ("-".join(sorted(present)) or "none"))
    return stores


# -- the command line -------------------------------------------------------------------------------------------

def test_the_command_line_offers_the_registry_s_sections_and_groups(monkeypatch, capsys):
    from report.cli import parse

    monkeypatch.setenv("COLUMNS", "2000")  # one line per option: names are not broken at their hyphens
    for name in (*GROUPS, *ALL):
        assert parse(["render", "--sections", name]).sections == parse_sections(name) == REGISTRY.parse(name)
    assert parse(["render"]).sections == ALL
    with pytest.raises(SystemExit):
        parse(["render", "--help"])
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in (*GROUPS, *ALL))
    with pytest.raises(SystemExit) as stopped:
        parse(["render", "--sections", "kernel"])
    assert stopped.value.code == 2
    assert f"choose from {', '.join(GROUPS)} or {', '.join(ALL)}" in capsys.readouterr().err


def test_groups_come_from_the_declarations():
    assert GROUPS["all"] == ALL == tuple(s.id for s in sorted(SECTIONS, key=lambda s: s.order))
    assert GROUPS["whole-split"] == tuple(s.id for s in SECTIONS if "whole_split" in s.needs)
    assert GROUPS["assignment"] == tuple(s.id for s in SECTIONS if "assignment" in s.groups)
    assert parse_sections("kernels") == ("kernels", *(s.id for s in SECTIONS if s.always))


# -- the README, the templates, the modules ---------------------------------------------------------------------

def test_the_readme_has_the_registry_s_table_of_sections():
    table = REGISTRY.readme_table()
    assert table in (ROOT / "README.md").read_text(), "README.md's table of sections: paste readme_table()"
    assert all(f"| `{id}` |" in table for id in ALL)


def test_every_section_has_its_template_and_view_model():
    for s in SECTIONS:
        assert (TEMPLATE_DIR / f"_{s.id}.html.j2").is_file(), s.id
        assert dataclasses.is_dataclass(s.view_type) and s.view_type.__dataclass_params__.frozen, s.id


def test_every_module_of_the_package_is_one_registered_section():
    """Discovery: a module added to report/render/sections/ is a section, named as its module."""
    from report.render import sections

    modules = {info.name for info in pkgutil.iter_modules(sections.__path__)} - {"section"}
    assert {s.id for s in SECTIONS} == modules


def test_a_declaration_that_cannot_work_fails_naming_the_section():
    kernels = REGISTRY.by_id["kernels"]
    with pytest.raises(ValueError, match="section 'kernels': id 'kernels' declared twice"):
        Registry((*SECTIONS, dataclasses.replace(kernels, order=999, rules=(), tables={})))
    with pytest.raises(ValueError, match="unknown part 'pixels'"):
        Registry((dataclasses.replace(kernels, needs=("pixels",)),))
    with pytest.raises(ValueError, match="rule .* declared twice"):
        Registry((*SECTIONS, dataclasses.replace(kernels, id="again", order=999, tables={})))
    with pytest.raises(ValueError, match="section 'assignment': its id is the name of a group"):
        Registry((*SECTIONS, dataclasses.replace(kernels, id="assignment", order=999, rules=(), tables={})))


# -- rules and tables belong to their sections ------------------------------------------------------------------

def test_each_rule_writes_notes_for_the_section_that_declares_it(full_store):
    f = load_findings(full_store)
    noted = set()
    for rule in RULES:
        result = rule(f)
        notes = [result] if result is not None and not isinstance(result, list) else result or []
        assert {n.section for n in notes} <= {REGISTRY.owner[rule].id}, rule.__name__
        noted |= {n.section for n in notes}
    assert noted <= set(ALL)
    assert set(NOTES_ORDER) <= set(RULES)


def test_each_table_is_declared_by_its_section_under_its_id(full_store):
    f = load_findings(full_store)
    for s in SECTIONS:
        for id, builder in s.tables.items():
            table = builder(f)
            assert (table.id, table.section) == (id, s.id)
    assert TABLE_IDS == (*(id for s in SECTIONS for id in s.tables), "index")
    assert TABLES == tuple(b for s in SECTIONS for b in s.tables.values())
    assert [t.section for t in report_tables(f, ("kernels",))] == ["kernels", "provenance"]


# -- which sections a store can fill, and what the analysis computes for them ------------------------------------

def test_available_lacking_and_the_plan_agree_for_every_section_and_store(stores_by_parts):
    for present, store in stores_by_parts.items():
        f = load_findings(store)
        for part in PARTS:
            assert (getattr(f, part.holds) is not None) == (part.name in present), (part.name, present)
        for s in SECTIONS:
            asked = (s.id,)
            planned = {name for name, needed in analysis_parts(asked).items() if needed}
            assert set(s.needs) <= planned
            assert REGISTRY.available(f, s.id) == (set(s.needs) <= present), (s.id, present)
            missing = lacking(asked, store)
            first = next((p for p in PARTS if p.name in planned - present), None)
            assert missing == first, (s.id, present)


def test_the_plan_of_a_section_list_is_the_union_of_its_sections(stores_by_parts):
    assert analysis_parts(ALL) == {part.name: True for part in PARTS}
    assert analysis_parts(parse_sections("assignment")) == {"whole_split": False, "maps": True, "samples": True,
                                                            "attribution": False}
    assert analysis_parts(("parameters", "shapes", "provenance")) == {part.name: False for part in PARTS}
    assert lacking(ALL, stores_by_parts[frozenset()]) is None  # every section: the report shows what is there


# -- a section in a module of its own ----------------------------------------------------------------------------

def _with_example() -> Registry:
    return Registry((*SECTIONS, example_section.SECTION))


def _render(monkeypatch, registry, f, out, chosen=None) -> str:
    base = html_documents.environment()
    loader = ChoiceLoader([FileSystemLoader(FIXTURE_TEMPLATES), FileSystemLoader(TEMPLATE_DIR)])
    monkeypatch.setattr(html_documents, "environment", lambda: base.overlay(loader=loader))
    context = build_context(f, registry.run_rules(f), out, "assets/report.css", chosen, registry=registry)
    return html_documents.render_html(context)


def test_a_section_in_its_own_module_registers_and_renders(monkeypatch, tmp_path, full_store):
    registry = _with_example()
    f = load_findings(full_store)
    assert "samples_seen" not in ALL  # the report's own registry is untouched
    # the command line's names, the groups, the plan, the README's row: from its declaration alone
    assert registry.ids.index("samples_seen") == registry.ids.index("distances") + 1
    assert registry.parse("samples_seen") == ("samples_seen", "provenance")
    assert "samples_seen" in registry.groups["all"] and "samples_seen" not in registry.groups["assignment"]
    assert registry.analysis_parts(("samples_seen",)) == {"whole_split": False, "maps": False, "samples": True,
                                                          "attribution": False}
    assert "| `samples_seen` | Samples seen | `all` | embeddings of the sample images |" in registry.readme_table()
    # its rule runs with the others, its table is made with the others
    notes = registry.run_rules(f)
    assert [n.rule for n in notes if n.section == "samples_seen"] == ["samples_seen.count"]
    assert [n for n in notes if n.section != "samples_seen"] == REGISTRY.run_rules(f)
    assert "samples_seen" in [t.id for t in registry.tables(f, ("samples_seen",))]
    # and the page shows it, numbered in its place, with its note and its template's view
    html = _render(monkeypatch, registry, f, tmp_path)
    assert '<section id="samples_seen" class="section">' in html
    number = registry.ids.index("samples_seen") + 1
    assert f'<span class="num">{number}</span> Samples seen</h2>' in html
    samples = len(f.embeddings.samples)
    assert f"The sections above embed {samples} sample images." in html
    assert f'<p class="samples-seen">{samples} samples:' in html


def test_a_section_in_its_own_module_is_left_out_with_what_it_needs(monkeypatch, tmp_path, stores_by_parts):
    registry = _with_example()
    store = stores_by_parts[frozenset({"maps"})]  # no embeddings: the section needs the samples
    f = load_findings(store)
    assert not registry.available(f, "samples_seen")
    assert "samples_seen" not in {n.section for n in registry.run_rules(f)}
    html = _render(monkeypatch, registry, f, tmp_path, ("samples_seen", "provenance"))
    assert 'id="samples_seen"' not in html and 'id="provenance"' in html
    assert registry.lacking(("samples_seen", "provenance"), store).name == "samples"
