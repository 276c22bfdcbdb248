"""View models: each template gets a documented dataclass of exactly what it shows, already formatted.

The completeness checks walk each template's syntax tree with the types of its variables: ``view`` is the
template's view model, a loop variable over ``view.rows`` the rows' dataclass, a macro's parameter the type
of what its callers pass. Every attribute used must be a field of that dataclass, and every field of every
view model a template reaches must be used by it (no dead fields). Templates only lay out: no arithmetic,
no filters, no literal dictionaries, no methods called on text.
"""

import copy
import dataclasses
import types
import typing
from collections import defaultdict

import pytest
from jinja2 import meta, nodes
from synthetic import documents, embeddings_doc, separation_doc, write_store

from analysis.store.schema import SCHEMA_VERSION
from report.render import TEMPLATE_DIR, fmt
from report.render.comparison import CompareContext, HistoryContext
from report.render.context import PageContext, ReportContext, build_context
from report.render.documents import environment, render_html
from report.render.sections import run_rules
from report.render.load import load_findings
from report.render.sections import ALL, SECTION_VIEWS, SECTIONS
from report.render.views import (
    CompareView,
    HistoryView,
    Place,
    compare_view,
    history_view,
)

ARITHMETIC = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Neg, nodes.Pos)
DICT_METHODS = set(dir(dict))  # report.html.j2 looks notes up with notes.get(...)


def _unwrap(hint):
    """``X | None`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0] if len(inner) == 1 else None
    return hint


def _is_view(cls) -> bool:
    return dataclasses.is_dataclass(cls) and cls.__module__.startswith("report.render.views")


class TemplateTypes:
    """Walks templates with typed variables, recording the fields used and what is wrong."""

    def __init__(self):
        self.env = environment()
        self.used: dict[type, set[str]] = defaultdict(set)
        self.errors: list[str] = []
        self.filters: set[str] = set()
        self._walked: set = set()

    def parse(self, name: str):
        return self.env.parse(self.env.loader.get_source(self.env, name)[0])

    def check(self, name: str, roots: dict[str, type]) -> None:
        tree = self.parse(name)
        macros = {m.name: (m, name, True) for m in tree.find_all(nodes.Macro)}
        for imported in tree.find_all(nodes.FromImport):
            source = self.parse(imported.template.value)
            defined = {m.name: m for m in source.find_all(nodes.Macro)}
            for item in imported.names:
                original, alias = item if isinstance(item, tuple) else (item, item)
                macros[alias] = (defined[original], imported.template.value, False)
        self._macros, self._roots = macros, roots
        self._visit(tree, dict(roots), name)

    # -- statements and expressions ---------------------------------------------------------------------------

    def _visit(self, node, scope: dict, where: str):
        """Type of an expression (None when not known); statements are walked for their effect."""
        if isinstance(node, nodes.Macro):
            return None  # checked where it is called, with the types of its arguments
        if isinstance(node, ARITHMETIC):
            self.errors.append(f"{where}: arithmetic ({type(node).__name__}) in a template")
        if isinstance(node, nodes.Dict):
            self.errors.append(f"{where}: a literal dictionary in a template")
        if isinstance(node, nodes.Filter):
            self.filters.add(node.name)
        if isinstance(node, nodes.Name):
            return scope.get(node.name)
        if isinstance(node, nodes.Getattr):
            return self._attribute(self._visit(node.node, scope, where), node.attr, where)
        if isinstance(node, nodes.Getitem):
            owner = self._visit(node.node, scope, where)
            self._visit(node.arg, scope, where)
            if typing.get_origin(owner) is list:
                return _unwrap(typing.get_args(owner)[0])
            if typing.get_origin(owner) is dict:
                return _unwrap(typing.get_args(owner)[1])
            return None
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in self._macros:
            self._call(node, scope, where)
            return None
        if isinstance(node, nodes.For):
            element = self._visit(node.iter, scope, where)
            inner = dict(scope)
            if isinstance(node.target, nodes.Name):
                inner[node.target.name] = (_unwrap(typing.get_args(element)[0])
                                           if typing.get_origin(element) is list else None)
            for child in [*node.body, *node.else_, *([node.test] if node.test else [])]:
                self._visit(child, inner, where)
            return None
        if isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values):
                inner[target.name] = self._visit(value, scope, where)
            for child in node.body:
                self._visit(child, inner, where)
            return None
        if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
            scope[node.target.name] = self._visit(node.node, scope, where)
            return None
        for child in node.iter_child_nodes():
            self._visit(child, scope, where)
        return None

    def _attribute(self, owner, attr: str, where: str):
        owner = _unwrap(owner)
        if owner is None:
            return None
        if dataclasses.is_dataclass(owner):
            hints = typing.get_type_hints(owner)
            if attr not in hints:
                self.errors.append(f"{where}: {owner.__name__} has no field {attr!r}")
                return None
            self.used[owner].add(attr)
            return _unwrap(hints[attr])
        if typing.get_origin(owner) is dict and attr in DICT_METHODS:
            return None
        self.errors.append(f"{where}: .{attr} used on {getattr(owner, '__name__', owner)}: templates only lay out")
        return None

    def _call(self, call: nodes.Call, scope: dict, where: str) -> None:
        macro, source, sees_context = self._macros[call.node.name]
        types_ = [self._visit(arg, scope, where) for arg in call.args]
        keywords = {kw.key: self._visit(kw.value, scope, where) for kw in call.kwargs}
        params = [arg.name for arg in macro.args]
        bound = dict(self._roots) if sees_context else {}
        bound.update({name: None for name in params})
        bound.update(zip(params, types_))
        bound.update(keywords)
        key = (id(macro), tuple(sorted((k, repr(v)) for k, v in bound.items())))
        if key in self._walked:
            return
        self._walked.add(key)
        for child in macro.body:
            self._visit(child, dict(bound), f"{source} ({macro.name})")


def _reachable(cls, seen=None) -> set:
    """The view models ``cls`` holds, itself included."""
    seen = set() if seen is None else seen
    if not _is_view(cls) or cls in seen:
        return seen
    seen.add(cls)
    for hint in typing.get_type_hints(cls).values():
        hint = _unwrap(hint)
        for inner in (hint, *typing.get_args(hint)):
            _reachable(_unwrap(inner), seen)
    return seen


PAGE_FIELDS = {f.name for f in dataclasses.fields(PageContext)}
TEMPLATES = [(f"_{id}.html.j2", cls) for id, (cls, _) in SECTION_VIEWS.items()] + [
    ("compare.html.j2", CompareView), ("history.html.j2", HistoryView)]


def test_every_section_has_a_view_model_and_a_builder():
    assert list(SECTION_VIEWS) == list(ALL) == [spec.id for spec in SECTIONS]
    for id, (cls, build) in SECTION_VIEWS.items():
        assert typing.get_type_hints(build)["return"] is cls, id
        assert (TEMPLATE_DIR / f"_{id}.html.j2").is_file()


@pytest.mark.parametrize("template, cls", TEMPLATES, ids=[t for t, _ in TEMPLATES])
def test_template_uses_exactly_the_fields_of_its_view_model(template, cls):
    checker = TemplateTypes()
    checker.check(template, {"view": cls})
    assert checker.errors == []
    dead = {f"{model.__name__}.{f.name}" for model in _reachable(cls) for f in dataclasses.fields(model)
            if f.name not in checker.used[model]}
    assert dead == set(), "fields no template shows"
    # the view is the template's only data: nothing else reaches it (page templates add the page's head)
    tree = checker.parse(template)
    imported = {item[1] if isinstance(item, tuple) else item for node in tree.find_all(nodes.FromImport)
                for item in node.names}
    outside = meta.find_undeclared_variables(tree) - imported - {"view"}
    assert outside <= (PAGE_FIELDS if not template.startswith("_") else set())


@pytest.mark.parametrize("cls", sorted({m for _, cls in TEMPLATES for m in _reachable(cls)}
                                       | {ReportContext, CompareContext, HistoryContext}, key=lambda c: c.__name__))
def test_every_view_field_is_documented_and_frozen(cls):
    assert cls.__dataclass_params__.frozen
    assert all(f.metadata.get("help") for f in dataclasses.fields(cls)), cls.__name__


def _roots(template: str) -> dict:
    """The variables a template sees, with their types."""
    if template.startswith("_") and template != "_macros.html.j2":
        return {"view": SECTION_VIEWS[template[1:-len(".html.j2")]][0]}
    page = {"compare.html.j2": CompareContext, "history.html.j2": HistoryContext}.get(template, ReportContext)
    return typing.get_type_hints(page)


def test_templates_only_lay_out():
    """No arithmetic, no literal dictionaries, no filters (the numbers arrive formatted), no methods on text;
    the page templates' own names (sections, headlines, notes...) are checked against their contexts too."""
    checker = TemplateTypes()
    for path in sorted(TEMPLATE_DIR.glob("*.j2")):
        checker.check(path.name, _roots(path.name))
    assert checker.errors == []
    assert checker.filters == set()
    formatters = {value for value in vars(fmt).values() if callable(value)}
    assert not [name for name, function in environment().filters.items() if function in formatters]


def test_the_checker_finds_a_missing_field_and_a_dead_one():
    @dataclasses.dataclass(frozen=True)
    class Row:
        used: str
        dead: str

    @dataclasses.dataclass(frozen=True)
    class View:
        rows: list[Row]

    checker = TemplateTypes()
    checker._macros, checker._roots = {}, {"view": View}
    tree = checker.env.parse("{% for r in view.rows %}{{ r.used }}{{ r.missing }}{{ r.used.split('-') }}"
                             "{{ 1 + 2 }}{% endfor %}")
    checker._visit(tree, {"view": View}, "test")
    assert any("no field 'missing'" in e for e in checker.errors)
    assert any(".split used on str" in e for e in checker.errors)
    assert any("arithmetic" in e for e in checker.errors)
    assert checker.used[Row] == {"used"}


# -- the builders, on the synthetic store ---------------------------------------------------------------------

def findings_of(tmp_path, docs=None, key="synthetic"):
    return load_findings(write_store(tmp_path / "stores", docs, key=key))


def place(numbers=None):
    return Place("stores/synthetic", {id: n for n, id in enumerate(ALL, start=1)} if numbers is None else numbers,
                 "stores/synthetic")


def build(id, findings, where=None):
    return SECTION_VIEWS[id][1](findings, where or place())


def test_parameters_view(tmp_path):
    v = build("parameters", findings_of(tmp_path))
    assert (v.total, v.weights, v.biases, v.trainable, v.frozen) == ("283", "270", "13", "283", "0")
    assert not v.sharing and v.buffers is None
    assert [(r.name, r.weight_shape, r.total, r.share) for r in v.layers][:2] == [
        ("conv1", "(4, 1, 3, 3)", "40", "14.1%"), ("fc1", "(6, 36)", "222", "78.4%")]

    docs = documents()
    layers = docs["model.json"]["parameters"]["layers"]
    layers[2]["shared_with"], layers[1]["aliases"], layers[1]["weight_shape"] = ["fc1"], ["head.fc"], None
    docs["model.json"]["parameters"].update(buffers=1200, buffer_list=[{}, {}], total=0)
    v = build("parameters", findings_of(tmp_path, docs, "shared"))
    assert v.sharing and (v.buffers, v.buffer_tensors) == ("1,200", "2")
    assert [r.shared for r in v.layers] == ["", "also named head.fc", "uses fc1 (counted there)"]
    assert v.layers[1].weight_shape == "—" and {r.share for r in v.layers} == {"—"}


def test_shapes_view_groups_the_trace_by_top_level_module(tmp_path):
    docs = documents()
    rows = docs["model.json"]["trace"]["rows"]
    rows[0].update(name="features", is_leaf=False)
    for row in rows[1:4]:
        row.update(depth=2, name=f"features.{row['name']}")
    rows[3]["input_shape"] = None
    docs["model.json"]["trace"]["total_macs"] = 12_345_678
    v = build("shapes", findings_of(tmp_path, docs))
    assert (v.input_shape, v.batch_size, v.macs, v.macs_exact) == ("(1, 8, 8)", "1", "12.3 M", "12,345,678")
    first = v.groups[0]
    assert (first.name, first.collapsible, first.calls, first.input_shape, first.output_shape) == (
        "features", True, "4", "(1, 8, 8)", "(4, 6, 6)")
    assert [(r.number, r.indent, r.input_shape, r.changed, r.macs) for r in first.rows] == [
        ("1", "0.5", "(1, 8, 8)", True, "1.30 k"), ("2", "1.4", "(4, 6, 6)", False, ""),
        ("3", "1.4", "(4, 6, 6)", True, ""), ("4", "1.4", "—", True, "")]
    assert [g.collapsible for g in v.groups[1:]] == [False, False, False]


def test_kernels_view_branches(tmp_path):
    f = findings_of(tmp_path)
    v = build("kernels", f)
    assert [(k.name, k.shape, k.count) for k in v.kernels] == [("conv1", "(4, 1, 3, 3)", "4")]
    assert v.figure.src == "stores/synthetic/images/conv1_kernels.png"
    assert v.figure.caption.startswith("The conv1 kernels (all 4, shape (4, 1, 3, 3)), kernel 0 at the top left")
    assert (v.figure.scale.vmin, v.figure.scale.vmax, v.figure.scale.meaning) == (
        "−0.5000", "0.5000", "blue negative, white zero, red positive")
    assert "RdBu" not in v.figure.caption

    no_conv = dataclasses.replace(f, model=dataclasses.replace(f.model, kernel_image=None, kernels=[]))
    assert build("kernels", no_conv).figure is None

    docs = documents()
    docs["model.json"]["kernel_image"].update(colouring="rgb", shape=[4, 3, 3, 3])
    rgb = build("kernels", findings_of(tmp_path, docs, "rgb")).figure
    assert rgb.scale is None and "as colour images" in rgb.caption and rgb.alt == "conv1 kernels shown as colour images"

    docs["model.json"]["kernel_image"].update(colouring="input channel 0", shape=[40, 2, 3, 3], shown=32)
    first = build("kernels", findings_of(tmp_path, docs, "channel0")).figure
    assert "(the first 32 of 40, shape (40, 2, 3, 3)), input channel 0 only, kernel 0" in first.caption


def test_activations_view(tmp_path):
    docs = documents()
    docs["activations.json"]["grids"][0].update(selection="the 2 most active", shown_channels=[0, 1])
    v = build("activations", findings_of(tmp_path, docs))
    assert v.input.caption.startswith("Input: test image #12 (first test image of class 2), class two, predicted two.")
    assert v.grids[0].alt == "2 activation maps of conv1 after ReLU"
    assert v.grids[0].caption.startswith("conv1 after ReLU: the 2 most active maps of shape (4, 6, 6)")
    assert v.grids[1].caption.startswith("conv1 after ReLU and 2×2 max pooling: all 4 maps of shape (4, 3, 3)")
    assert v.grids[0].scale.src == "stores/synthetic/images/map_colourbar.png" and v.grids[0].scale.vmax == "2.000"


def test_embeddings_view_shows_at_most_64_values_in_blocks(tmp_path):
    v = build("embeddings", findings_of(tmp_path))
    assert (v.per_class, v.classes, v.values) == ("2 test images", "one and two", "all 6 values per sample")
    assert len(v.blocks) == 1 and v.blocks[0].dims == "      0      1      2      3      4      5"
    assert [(c.text, c.zero) for c in v.blocks[0].lines[0].cells][:2] == [("    1.0", False), ("      0", True)]
    assert v.blocks[0].lines[0].label == "S1 (one)"

    docs = documents()
    vectors = [[float(i + j + 1) for j in range(70)] for i in range(4)]
    vectors[0][3] = None
    docs["embeddings.json"] = embeddings_doc(vectors=[[0.0] * 70] + vectors[1:], per_class=1)
    docs["embeddings.json"]["samples"][0]["vector"] = vectors[0]
    v = build("embeddings", findings_of(tmp_path, docs, "wide"))
    assert v.per_class == "1 test image"
    assert v.values == "the first 64 of 70 values per sample (all are in embeddings.json)"
    assert len(v.blocks) == 4 and v.blocks[-1].dims.split()[-1] == "63"
    assert v.blocks[0].lines[0].cells[3].text == "      –"


def test_distances_view_splits_the_class_pair_keys_and_names_the_metrics(tmp_path):
    v = build("distances", findings_of(tmp_path))
    assert (v.samples, v.dimensions) == ("S1–S4", "6")
    assert v.pair_headings == ["MSE", "Euclidean", "Cosine"]
    assert v.mean_headings == ["MSE", "Euclidean distance", "Cosine distance"]
    assert [m.name for m in v.matrices] == ["MSE (mean over dimensions)", "Euclidean distance",
                                            "Cosine distance (1 − cosine similarity)"]
    assert [p.kind for p in v.pairs] == ["intra", "intra", "inter", "inter", "inter", "inter"]
    assert (v.pairs[0].samples, v.pairs[0].classes, len(v.pairs[0].values)) == ("S1–S2", "one–one", 3)
    assert [m.group for m in v.means] == ["intra-class one–one (1 pair)", "intra-class two–two (1 pair)",
                                          "inter-class one–two (4 pairs)"]
    assert [c.kind for c in v.matrices[0].rows[0].cells] == ["diag", "intra", "inter", "inter"]

    docs = documents()
    docs["embeddings.json"] = embeddings_doc(vectors=[[1.0, 2.0], [3.0, 1.0], [0.5, 0.5]], labels=[1, 2, 2])
    v = build("distances", findings_of(tmp_path, docs, "three"))
    assert [m.group for m in v.means] == ["intra-class two–two (1 pair)", "inter-class one–two (2 pairs)"]


def test_accuracy_view_marks_wrong_predictions(tmp_path):
    docs = documents()
    docs["embeddings.json"] = embeddings_doc(predicted=[1, 2, 2, 2])
    v = build("accuracy", findings_of(tmp_path, docs))
    assert (v.n_test, v.accuracy, v.correct) == ("30", "90.0% (95% CI 74.4–96.5%)", "27")
    assert v.balanced == "90.0% (95% CI 74.4–96.5%) against chance 1/3 = 33.3%"
    assert [(r.name, r.recall, r.interval, r.predicted, r.small) for r in v.per_class] == [
        ("zero", "100.0%", "72.2–100.0%", "10", True), ("one", "90.0%", "59.6–98.2%", "11", True),
        ("two", "80.0%", "49.0–94.3%", "9", True)]
    assert v.reliability.src == "stores/synthetic/images/reliability.png" and v.histogram is not None
    first = v.predictions[0]
    assert (first.image, first.index, first.label, first.confidence) == ("activation-map input", "12", "two", "95.0%")
    assert [(s.image, s.wrong) for s in v.predictions[1:]] == [("S1", False), ("S2", True), ("S3", False),
                                                               ("S4", False)]


def test_accuracy_view_of_a_store_without_classification_quality(tmp_path):
    """Stores written before issue 30 hold no intervals: the accuracy alone, dashes, no calibration figures."""
    from synthetic import evaluation_doc

    docs = documents()
    docs["evaluation.json"] = evaluation_doc(quality=False)
    v = build("accuracy", findings_of(tmp_path, docs))
    assert (v.accuracy, v.balanced, v.reliability, v.histogram) == ("90.0%", "", None, None)
    assert [(r.recall, r.interval, r.f1) for r in v.per_class][0] == ("100.0%", "–", "–")


def test_a_store_without_maps_or_samples_shows_neither_section_nor_their_predictions(tmp_path):
    """--sections parameters,shapes writes no activations.json and no embeddings.json: the report leaves out
    what they would fill, and its rules and views never reach for them."""
    docs = documents()
    del docs["activations.json"], docs["embeddings.json"]
    docs["separation.json"] = None  # the analysis writes the sample embeddings whenever it runs the whole split
    f = findings_of(tmp_path, docs)
    assert f.activations is None and f.embeddings is None
    assert build("accuracy", f).predictions == []
    notes = run_rules(f)
    assert not {"activations", "embeddings", "distances"} & {n.section for n in notes}
    context = build_context(f, notes, tmp_path, "report.css")
    assert [s.id for s in context.sections] == ["parameters", "shapes", "kernels", "attribution", "accuracy",
                                                "provenance"]
    assert "activation-map input" not in render_html(context)


def test_separation_view_branches(tmp_path):
    v = build("separation", findings_of(tmp_path))
    assert (v.unit, v.embeddings_file) == ("MSE", "stores/synthetic/embeddings_test.npy")
    # issue 30: each headline names its distance; the nearest-centroid accuracy is left out, with its interval
    assert [(h.value, h.label) for h in v.headlines] == [
        ("1.6×", "mean inter / mean intra Euclidean distance"), ("2.6×", "mean inter / mean intra MSE, a squared distance"),
        ("0.60", "silhouette on Euclidean distance (−1 to 1)"), ("0.60", "silhouette on squared Euclidean distance (−1 to 1)"),
        ("86.7%", "nearest-centroid accuracy, each image left out of its centroid (95% CI 70.3–94.7%)")]
    # 10 test images per class in the synthetic store: too few to order the classes, so nothing is established
    assert [r.verdict for r in v.two_sample.verdicts] == ["not established"] * 2
    assert v.two_sample.verdict == "not established"
    assert v.per_class[0].interval == "0.5000 – 0.7000"
    assert [p.classes for p in v.closest_pairs] == ["zero – one"]
    assert [e.caption for e in v.closest_examples] == ["#3: the zero nearest to the one centroid",
                                                       "#14: the one nearest to the zero centroid"]
    assert v.two_sample.heading == "2 per class (section 7)"
    assert [r.group for r in v.two_sample.rows] == ["intra-class one", "intra-class two", "inter-class one–two"]
    # the distances section not shown: no section to point to (this used to fail the rendering)
    assert build("separation", findings_of(tmp_path), place({"separation": 1})).two_sample.heading == "2 per class"

    docs = documents()
    docs["separation.json"].update(ratio=None, closest_pairs=[], two_sample=None, metric="cosine")
    docs["separation.json"].pop("euclidean")  # stored with MSE only
    v = build("separation", findings_of(tmp_path, docs, "bare"))
    assert (v.headlines[0].value, v.closest_pairs, v.closest_examples, v.two_sample, v.unit) == (
        "n/a", [], [], None, "cosine")


def test_depth_map_errors_and_filters_views(tmp_path):
    f = findings_of(tmp_path)
    depth = build("depth", f)
    assert (depth.images, depth.sample, depth.metric) == ("30", "(all of them)", "mse")
    assert (depth.layers[0].label, depth.layers[0].values, depth.layers[0].ratio) == ("layer 0", "36", "1.1×")
    assert not depth.pooled
    m = build("map", f)
    assert m.pca_share == "80.0%" and m.tsne.caption.startswith("t-SNE of the embedding (30 test images;")
    errors = build("errors", f)
    assert errors.misclassified[0].caption == "#5: true zero, predicted one (80.0%)"
    filters = build("filters", f)
    assert (filters.dead_share, filters.near_dead_share) == ("99%", "90%")
    assert [(r.mean_range, r.dead, r.near_dead) for r in filters.layers] == [("0 – 0.5000", "none", "none")]
    assert len(filters.charts) == 1

    docs = documents()
    sep = separation_doc(misclassified=False, activated=False, dead=(2,))
    sep["depth"][0]["ratio"] = None
    sep["depth"][1]["pooled_from"] = 802816
    sep.update(depth_sample=20, tsne_sample=10)
    sep["filters"].append({**sep["filters"][0], "label": "conv2", "activated": True, "channels": 40, "path": None,
                           "mean": [0.1] * 40, "zero_fraction": [1.0] * 40, "dead": list(range(15)),
                           "near_dead": list(range(15, 28))})
    docs["separation.json"] = sep
    f = findings_of(tmp_path, docs, "variants")
    depth = build("depth", f)
    assert (depth.sample, depth.layers[0].ratio) == ("(a seeded sample)", "n/a")
    assert depth.pooled and depth.layers[1].values == "18 (pooled from 802,816)"
    html = environment().get_template("_depth.html.j2").render(view=depth)
    assert "average-pooled over positions" in html and "18 (pooled from 802,816)" in html
    assert "(10 test images, a seeded sample;" in build("map", f).tsne.caption
    assert build("errors", f).misclassified == []
    filters = build("filters", f)
    assert filters.layers[0].never_positive == "1"
    assert filters.layers[1].dead == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 3 more"
    assert filters.layers[1].near_dead == "15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26 and 1 more"
    assert len(filters.charts) == 1

    docs["separation.json"]["images"]["tsne"] = None
    assert build("map", findings_of(tmp_path, docs, "no-tsne")).tsne is None


def test_provenance_view(tmp_path):
    v = build("provenance", findings_of(tmp_path))
    assert (v.checkpoint, v.mean, v.std) == ("tiny.pt (1,234 bytes)", "0.5", "0.5")
    assert v.checkpoint_sha256 == "ab" * 32
    assert [(row.name, row.value) for row in v.settings] == [("digits", "1, 2"), ("per_class", "2")]
    assert (v.code_version, v.store, v.schema_version) == ("ef" * 8, "stores/synthetic", str(SCHEMA_VERSION))
    assert v.software == "python 3.11, torch none"


def test_provenance_without_a_checkpoint_and_with_unset_options(tmp_path):
    docs = documents()
    docs["model.json"]["model"]["weights"] = "random (seed 4)"
    v = build("provenance", findings_of(tmp_path, docs, "random"))
    assert (v.checkpoint, v.checkpoint_sha256) == ("no checkpoint: random weights (seed 4)", "")
    from report.render.views.network import settings_rows
    rows = settings_rows({"model": None, "layers": [], "whole_split": True, "mean": [0.5, 0.25], "kw": {"a": 1}})
    assert [(r.name, r.value) for r in rows] == [("whole_split", "yes"), ("mean", "0.5, 0.25"), ("kw", "a=1")]


def test_report_context_carries_the_views_of_the_sections_shown(tmp_path):
    f = findings_of(tmp_path)
    context = build_context(f, run_rules(f), tmp_path, "assets/report.css")
    assert list(context.views) == list(ALL)
    assert (context.model_class, context.input_shape, context.checkpoint, context.checkpoint_hash) == (
        "TinyCNN", "(1, 8, 8)", "tiny.pt", "ab" * 8)
    assert context.views["provenance"].store == "stores/synthetic"
    chosen = build_context(f, [], tmp_path, "assets/report.css", ("separation", "provenance"))
    assert list(chosen.views) == ["separation", "provenance"]
    assert chosen.views["separation"].two_sample.heading == "2 per class"

    docs = documents()
    docs["separation.json"] = None
    docs["model.json"]["model"]["weights"] = "random"
    f = findings_of(tmp_path, docs, "partial")
    context = build_context(f, [], tmp_path, "assets/report.css")
    assert "separation" not in context.views and context.checkpoint is None and context.weights == "random"


# -- rendering: every section on its own, strict --------------------------------------------------------------

def _bare(docs):
    separation = docs["separation.json"]
    separation.update(ratio=None, closest_pairs=[], two_sample=None, misclassified=[],
                      images={**separation["images"], "tsne": None})
    separation["filters"][0]["activated"] = False
    docs["model.json"]["parameters"]["layers"][1]["aliases"] = ["head"]


VARIANTS = {
    "default": lambda docs: None,
    "bare": _bare,
    "rgb": lambda docs: docs["model.json"]["kernel_image"].update(colouring="rgb", shape=[4, 3, 3, 3]),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_section_renders_strictly_from_its_view(tmp_path, variant):
    docs = copy.deepcopy(documents())
    VARIANTS[variant](docs)
    f = findings_of(tmp_path, docs)
    for id in ALL:
        assert environment().get_template(f"_{id}.html.j2").render(view=build(id, f)).strip(), id
    no_conv = dataclasses.replace(f, model=dataclasses.replace(f.model, kernel_image=None, kernels=[]))
    html = environment().get_template("_kernels.html.j2").render(view=build("kernels", no_conv))
    assert "no Conv2d layer" in html


def test_the_report_renders_a_section_without_the_distances_section(tmp_path):
    f = findings_of(tmp_path)
    html = render_html(build_context(f, run_rules(f), tmp_path, "assets/report.css", ("separation", "provenance")))
    assert "<th>2 per class</th>" in html


# -- compare and history --------------------------------------------------------------------------------------

COMPARE_DOC = {"a": {"file": "a.pt", "sha256": "12" * 32, "store": "a"},
               "b": {"file": "b.pt", "sha256": "34" * 32, "store": "b"},
               "drift": [{"name": "conv1.weight", "shape": [4, 1, 3, 3], "norm_a": 1.5, "norm_b": 1.7, "change": 0.3,
                          "relative": 0.2},
                         {"name": "fc1.bias", "shape": [6], "norm_a": 0.0, "norm_b": 0.1, "change": 0.1,
                          "relative": None}],
               "unmatched": [], "images": {"drift": "images/drift.png"}}


def compare_of(tmp_path, change_a=None, change_b=None) -> CompareView:
    docs_a, docs_b = documents(), documents()
    docs_b["evaluation.json"].update(correct=28, accuracy=28 / 30)
    docs_b["separation.json"]["ratio"] = 3.0
    for docs, change in ((docs_a, change_a), (docs_b, change_b)):
        if change:
            change(docs)
    a = findings_of(tmp_path / "a", docs_a, "a")
    b = findings_of(tmp_path / "b", docs_b, "b")
    return compare_view(a, b, COMPARE_DOC, [], "stores/a", "stores/b", "compares/k")


def _summary(view: CompareView) -> dict:
    return {row.quantity: (row.a, row.b, row.difference, row.ratio) for row in view.summary}


def test_compare_view(tmp_path):
    v = compare_of(tmp_path)
    assert (v.a.file, v.a.sha256, v.b.sha256) == ("a.pt", "12" * 8, "34" * 8)
    assert _summary(v) == {"Test accuracy": ("90.0%", "93.3%", "3.3 points", ""),
                           "Parameters": ("283", "283", "0", ""),
                           "Multiply-accumulates per image": ("1.53 k", "1.53 k", "", "1.0×"),
                           "Inter / intra ratio of the mean Euclidean distance, all classes (scale-free)":
                               ("1.6×", "1.6×", "", "1.00×"),
                           "Inter / intra ratio of the mean MSE, a squared distance, all classes (scale-free)":
                               ("2.6×", "3.0×", "", "1.2×"),
                           "Silhouette on Euclidean distance (scale-free)": ("0.60", "0.60", "0", ""),
                           "Silhouette on squared Euclidean distance (scale-free)": ("0.60", "0.60", "0", "")}
    assert [(r.relative, r.shape) for r in v.drift] == [("20.0%", "(4, 1, 3, 3)"), ("n/a", "(6,)")]
    assert v.drift_plot == "compares/k/images/drift.png"
    assert [k.caption for k in v.kernels] == ["A: conv1 kernels (scale ±0.5000).",
                                              "B: conv1 kernels (scale ±0.5000)."]
    assert (v.pairs[0].samples, v.pairs[0].change) == ("S1–S2", "0")
    assert [r.ratio for r in v.intra.rows] == ["1.00×", "1.00×", "1.00×"]


def test_compare_view_shows_a_missing_ratio_as_not_available(tmp_path):
    """compare.html.j2 used to divide B's ratio by A's, failing when A's was None (or zero)."""
    v = compare_of(tmp_path, change_a=lambda d: d["separation.json"].update(ratio=None))
    assert _summary(v)["Inter / intra ratio of the mean MSE, a squared distance, all classes (scale-free)"] == ("n/a", "3.0×", "", "n/a")
    v = compare_of(tmp_path / "zero", change_a=lambda d: d["separation.json"].update(ratio=0.0))
    assert _summary(v)["Inter / intra ratio of the mean MSE, a squared distance, all classes (scale-free)"][3] == "n/a"

    def one_image_classes(docs):
        docs["separation.json"]["per_class"][1]["intra_mean"] = None
        docs["separation.json"]["per_class"][2]["intra_mean"] = 0.0

    v = compare_of(tmp_path / "intra", change_a=one_image_classes,
                   change_b=lambda d: d["separation.json"]["per_class"][0].update(intra_mean=None))
    assert [(r.a, r.b, r.ratio) for r in v.intra.rows] == [
        ("0.6000", "n/a", "n/a"), ("n/a", "1.000", "n/a"), ("0", "1.300", "n/a")]
    v = compare_of(tmp_path / "nosep", change_a=lambda d: d.update({"separation.json": None}))
    assert v.intra is None and len(v.summary) == 3


def test_compare_page_renders_a_missing_ratio(tmp_path):
    from report.render.documents import render_template

    view = compare_of(tmp_path, change_a=lambda d: d["separation.json"].update(ratio=None))
    html = render_template("compare.html.j2", CompareContext(title="t", generated="g", created_iso="c",
                                                             stylesheet="s.css", view=view))
    assert ("<tr><td>Inter / intra ratio of the mean MSE, a squared distance, all classes (scale-free)</td><td>n/a</td>"
            "<td>3.0×</td><td></td><td>n/a</td></tr>") in html


HISTORY_ROW = {"store": "s", "sha256": None, "position": None, "two_sample": {}, "class_names": [], "metric": None,
               "intra_mean": None, "inter_mean": None, "ratio": None, "silhouette": None,
               "nearest_centroid_accuracy": None, "class_intra": None}


def test_history_view(tmp_path):
    doc = {"order": "step", "images": {"accuracy": "images/a.png", "distances": "images/d.png",
                                       "separation": "images/s.png"},
           "rows": [{**HISTORY_ROW, "checkpoint": "c0.pt", "position": {"epoch": 1, "step": 100}, "accuracy": 0.9,
                     "intra_mean": 0.9667, "inter_mean": 2.5, "ratio": 2.586, "silhouette": 0.6},
                    {**HISTORY_ROW, "checkpoint": "c1.pt", "position": None, "accuracy": 0.95}]}
    v = history_view(doc, [], "series/k")
    assert v.order == "by stored epoch or step" and v.accuracy_plot == "series/k/images/a.png"
    assert [(r.position, r.accuracy, r.intra, r.ratio, r.silhouette) for r in v.rows] == [
        ("epoch 1 step 100", "90.0%", "0.9667", "2.6×", "0.60"), ("", "95.0%", "n/a", "n/a", "n/a")]
    assert history_view({**doc, "order": "name"}, [], "s").order == "by file name"
    from report.render.documents import render_template

    html = render_template("history.html.j2", HistoryContext(title="t", generated="g", created_iso="c",
                                                             stylesheet="s.css", view=v))
    assert "<td>c1.pt</td><td class=\"t\"></td><td>95.0%</td><td>n/a</td>" in html



def test_the_depth_view_names_the_top_level_layers_it_leaves_out_only_where_it_picked_them():
    """The analysis measures at most 8 top-level layers, evenly spaced (analysis.stats.fullsplit.depth_layers);
    the view says which are left out, and nothing where every one is measured or the model declared its own."""
    from types import SimpleNamespace

    import numpy as np

    from analysis.stats.fullsplit import MAX_DEPTH_LAYERS
    from report.render.views.whole_split import _evenly_spaced, _top_level_left_out

    def findings(top, measured):
        rows = [SimpleNamespace(name=f"{name}.0" if name.startswith("layer") else name, kind="module") for name in top]
        return SimpleNamespace(trace=SimpleNamespace(rows=rows),
                               separation=SimpleNamespace(depth=[SimpleNamespace(module=m) for m in measured]))

    resnet = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    picked = _evenly_spaced(resnet, MAX_DEPTH_LAYERS)
    assert _top_level_left_out(findings(resnet, picked)) == (
        "Measured at 8 of the model's 10 top-level layers, evenly spaced from first to last: relu and layer4 are "
        "left out.")
    cnn = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2", "relu4", "fc3"]
    assert _top_level_left_out(findings(cnn, ["pool1", "pool2", "relu3", "relu4", "fc3"])) == ""  # declared
    assert _top_level_left_out(findings(cnn[:6], cnn[:6])) == ""  # every one measured
    for n in range(2, 40):  # the same picks as the analysis's numpy.linspace
        for k in range(2, min(n, MAX_DEPTH_LAYERS) + 1):
            names = [f"m{i}" for i in range(n)]
            assert _evenly_spaced(names, k) == [names[i] for i in sorted(set(
                np.linspace(0, n - 1, k).round().astype(int).tolist()))], (n, k)
