"""The view of "Where the network looks" (_attribution.html.j2): each method's stored maps as one sheet of small
tiles (an error's maps for its predicted and its true class side by side), the checks of every method as one table
of numbers with their 95% intervals (a column per method), and each method's two charts side by side (drawn from
attribution.json's numbers by the figures step)."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import AttributionDocument, AttributionMap, Interval, MethodChecks
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.attribution import CENTRE_AREA, RANDOMISED_BELOW, errors_comparable, shown
from report.render.views.common import Figure, Place, colour_words, field, url
from report.render.words import attribution_chart, attribution_description, attribution_label, attribution_name

ROLE_WORDS = {"activation": "activations' image", "sample": "", "error": ""}


@dataclasses.dataclass(frozen=True)
class MapPanel:
    figures: list[Figure] = field("one map, or a misclassified image's two side by side: for its predicted class, "
                                  "then for its true class; each caption a short line under its tile")
    error: bool = field("true for a misclassified image's pair of maps")


@dataclasses.dataclass(frozen=True)
class CheckRow:
    check: str = field("what was measured, in words")
    values: list[str] = field('per method (the table\'s columns), its mean over the check images with its 95% '
                              'interval: "0.12 (0.05 to 0.19)"; "–" where the method lacks it')
    against: str = field("the value it is judged against, in words; empty where nothing is judged on it")


@dataclasses.dataclass(frozen=True)
class MethodView:
    name: str = field('the method in words: "Grad-CAM at conv2", "Integrated Gradients (16 steps, baseline: …)"')
    panels: list[MapPanel] = field("its maps in the stored order, one panel per image")
    sheet: str = field("the caption of its sheet of maps: what the tiles are, and the colour scale")
    charts: list[Figure] = field("the deletion and insertion curves, and the randomisation steps (side by side)")


@dataclasses.dataclass(frozen=True)
class LayerSheet:
    figures: list[Figure] = field("Grad-CAM of the activation maps' image at each layer, in the section's order; each "
                                  "caption names the layer and its map's size")
    caption: str = field("what the tiles are, for which class, and the colour scale")


@dataclasses.dataclass(frozen=True)
class AttributionView:
    """_attribution.html.j2: where each attribution method puts the evidence, and its sanity checks."""

    intro: str = field("what the maps are, the library that computed them, and what a removed pixel becomes")
    methods: list[MethodView] = field("one block per method, in the stored order")
    columns: list[str] = field('the checks table\'s method columns: "Grad-CAM at conv2", "Integrated Gradients"')
    checks: list[CheckRow] = field("the checks of every method with checks, one row each: the last randomisation "
                                   "step (rank correlation, SSIM; every step is in the chart and the CSV), deletion, "
                                   "insertion, where the mass lies; empty when the store holds no checks")
    checks_caption: str = field("the checks table's caption: the images they ran on and the intervals")
    layers: LayerSheet | None = field("Grad-CAM at each layer of the activation section (--attribution-layers "
                                      "activations); None when not asked for or not offered")


def _which(m: AttributionMap) -> str:
    """Which of a misclassified image's classes a map is for."""
    if m.label == m.predicted:
        return ""
    return " (predicted)" if m.target == m.predicted else " (true)" if m.target == m.label else ""


def _map_caption(f: Findings, m: AttributionMap) -> str:
    """A tile's line: "#700 · true 7, predicted 7 · 99.9%"; an error's: "… · map for 9 (predicted) · 99.7%"."""
    role = ROLE_WORDS.get(m.role, m.role)
    target = "" if m.target == m.predicted == m.label else f" · map for {f.class_name(m.target)}{_which(m)}"
    return (f"{role + ' ' if role else ''}#{m.index} · true {f.class_name(m.label)}, predicted "
            f"{f.class_name(m.predicted)}{target} · {fmt.percent(m.probability)}")


def _colour(maps: list) -> str:
    """The colour scale of a method's maps, said once in its sheet's caption (each tile has the bar under it)."""
    cmaps = dict.fromkeys(m.cmap for m in maps)
    words = "; ".join(colour_words(cmap) for cmap in cmaps) or colour_words("")
    return f"Colour: 0 to each map's maximum ({words}); weak evidence fades into the image."


def _sheet(name: str, maps: list[AttributionMap], samples: int = 0) -> str:
    """``samples``: the sampled images of the report, of which the maps may show the first few of each class."""
    counts = {role: len({m.index for m in maps if m.role == role}) for role in ("activation", "sample", "error")}
    of = f" of the {samples}" if samples > counts["sample"] else ""
    parts = [words for words in (
        "the activation maps' image" if counts["activation"] else "",
        f"{counts['sample']}{of} sample{'s' if counts['sample'] != 1 or of else ''}" if counts["sample"] else "",
        (f"the {counts['error']} most confident error{'s' if counts['error'] != 1 else ''} (map for the predicted, "
         "then the true class)") if counts["error"] else "") if words]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + (parts[-1] if parts else "")
    return f"{name}: {listed or 'its images'}; %: the probability of the class mapped. {_colour(maps)}"


def _map_figure(f: Findings, place: Place, m: AttributionMap) -> Figure:
    return Figure(url(place, m.path), f"{attribution_name(m.method)} map of test image {m.index} for class "
                                      f"{f.class_name(m.target)}", _map_caption(f, m))


def _panels(f: Findings, place: Place, maps: list[AttributionMap]) -> list[MapPanel]:
    """One panel per image and role, in the order first stored; an error's maps: the predicted class's first."""
    grouped: dict[tuple[str, int], list[AttributionMap]] = {}
    for m in maps:
        grouped.setdefault((m.role, m.index), []).append(m)
    panels = []
    for (role, _), group in grouped.items():
        shown = sorted(group, key=lambda m: m.target != m.predicted)
        panels.append(MapPanel([_map_figure(f, place, m) for m in shown], role == "error"))
    return panels


def _estimate(e: Interval | None, percent: bool = False, points: bool = False) -> str:
    if e is None:
        return "–"
    if percent:
        value, interval = fmt.percent_with_range(e.value, e.low, e.high)
        return f"{value} ({interval})"
    value, low, high = shown(e, 1, 100) if points else shown(e)
    return f"{value} ({low} to {high})"


def _last_layer(checks: list[MethodChecks]) -> str:
    layers = {c.randomisation[-1].layer for c in checks if c.randomisation}
    return f"to {layers.pop()}" if len(layers) == 1 else "to each method's first layer"


def _check_rows(checks: list[MethodChecks]) -> list[CheckRow]:
    """The last randomisation step's two rows, deletion, insertion and where the mass lies, a column per method."""
    def row(check: str, pick, against: str = "", **unit) -> CheckRow:
        return CheckRow(check, [_estimate(pick(c), **unit) for c in checks], against)

    def last(c: MethodChecks):
        return c.randomisation[-1] if c.randomisation else None

    rows = []
    if any(c.randomisation for c in checks):
        every = f"every layer re-drawn ({_last_layer(checks)})"
        rows += [row(f"Rank correlation with the maps, {every}", lambda c: last(c) and last(c).rank_correlation,
                     f"< {RANDOMISED_BELOW}: passes"),
                 row(f"SSIM with the maps, {every}", lambda c: last(c) and last(c).ssim)]
    for check, wanted in (("deletion", "below"), ("insertion", "above")):
        rows += [row(f"{fmt.sentence(check)}: area, map's order", lambda c, k=check: getattr(c, k).auc),
                 row(f"{fmt.sentence(check)}: area, random order", lambda c, k=check: getattr(c, k).random_auc),
                 row(f"{fmt.sentence(check)}: difference (map's − random)",
                     lambda c, k=check: getattr(c, k).difference, f"{'<' if wanted == 'below' else '>'} 0: faithful")]
    rows += [row("Mass in the central quarter of the area", lambda c: c.centre_share,
                 f"{fmt.percent(CENTRE_AREA, 0)}: an even spread", percent=True),
             row("Mass on the object (the foreground)", lambda c: c.object_share, percent=True),
             row("Mass on the object less its share of the area (points)", lambda c: c.object_excess,
                 "> 0: object; < 0: background", points=True)]
    if any(c.road is not None for c in checks):
        rows.append(row("ROAD: probability kept, least relevant imputed first less most relevant first",
                        lambda c: c.road and c.road.score, "> 0: faithful"))
    if any(errors_comparable(c) for c in checks):  # from fewer errors or correct answers, no interval is shown
        rows.append(row("Mass on the object, misclassified less correct (points)",
                        lambda c: c.errors_vs_correct if errors_comparable(c) else None, "0", points=True))
    return rows


def _checks_caption(doc: AttributionDocument) -> str:
    sizes = sorted({c.images for c in doc.checks})
    images = (f"{sizes[0]} test images" if len(sizes) == 1 else
              "test images (" + ", ".join(f"{_name(c)}: {c.images}" for c in doc.checks) + ")")
    limit = f"; {doc.check_limit}" if doc.check_limit else ""
    return (f"Checks of {' and '.join(_name(c) for c in doc.checks)} on {images} (up to {doc.images_per_class} per "
            f"class{limit}): means with 95% bootstrap intervals over the images; every image's numbers are in the "
            "CSV of the check images")


def _name(c: MethodChecks) -> str:
    return attribution_label(c.method, c.layer)


def _charts(place: Place, c: MethodChecks) -> list[Figure]:
    name = _name(c)
    charts = [Figure(url(place, attribution_chart(c.method, "faithfulness")),
                     f"deletion and insertion curves of {name}",
                     f"{name}: deletion and insertion, in the map's order and at random ({c.images} images); "
                     "faithful maps fall faster on deletion and rise faster on insertion.")]
    if c.randomisation:
        charts.append(Figure(url(place, attribution_chart(c.method, "randomisation")),
                             f"randomisation checks of {name}",
                             f"{name}: similarity to the maps of the network as analysed (trained or not), the weights re-drawn from the "
                             f"output layer down to each layer (bars: 95% intervals; dashed: {RANDOMISED_BELOW})."))
    return charts


def _method(f: Findings, place: Place, doc: AttributionDocument, method: str) -> MethodView:
    c = next((checks for checks in doc.checks if checks.method == method), None)
    name = attribution_description(method, c.layer if c else None, doc.steps, doc.baseline)
    maps = [m for m in doc.maps if m.method == method]
    return MethodView(name=name, panels=_panels(f, place, maps), sheet=_sheet(name, maps, len(f.embeddings.samples) if f.embeddings else 0),
                      charts=_charts(place, c) if c else [])


def _layer_sheet(f: Findings, place: Place, doc: AttributionDocument) -> LayerSheet | None:
    if not doc.layer_maps:
        return None
    first = doc.layer_maps[0]
    figures = [Figure(url(place, m.path), f"Grad-CAM map of test image {m.index} at {m.layer} for class "
                                          f"{f.class_name(m.target)}",
                      f"{m.layer} · {m.side[0]}×{m.side[1]} map" + ("" if m.positive else " · no positive evidence"))
               for m in doc.layer_maps]
    empty = [m.layer for m in doc.layer_maps if not m.positive]
    return LayerSheet(figures, f"Grad-CAM of test image {first.index} (the activation maps' image) for class "
                               f"{f.class_name(first.target)}, read at each layer the activation maps show, from the "
                               "input side to the output side; the checks above are of "
                               f"{next((c.layer for c in doc.checks if c.method == 'gradcam'), 'the last layer')} "
                               "only." + (f" At {fmt.listing(empty)} the gradient-weighted maps are nowhere positive, so "
                                          "Grad-CAM finds no evidence for the class there (an empty tile)."
                                          if empty else "") + " " + _colour(doc.layer_maps))


def attribution_view(f: Findings, place: Place) -> AttributionView:
    doc = f.attribution
    methods = dict.fromkeys([*(c.method for c in doc.checks), *(m.method for m in doc.maps)])
    return AttributionView(
        intro=(f"Attribution maps show which pixels of an image a class's output rests on, computed with "
               f"{doc.library} (seed {doc.seed}); a removed pixel becomes {doc.baseline}. The checks ask whether the "
               "maps change when the weights are re-drawn, and whether removing or revealing pixels in the map's "
               "order moves the probability faster than a random order." + (
                   "" if "gradcam" in methods else
                   " Grad-CAM is not shown: it reads a layer whose output is still a map of at least 2×2 after the "
                   "last convolution, and this model has none (a transformer's tokens, or maps pooled to 1×1).")),
        methods=[_method(f, place, doc, method) for method in methods],
        columns=[_name(c) for c in doc.checks], checks=_check_rows(doc.checks) if doc.checks else [],
        checks_caption=_checks_caption(doc) if doc.checks else "", layers=_layer_sheet(f, place, doc))
