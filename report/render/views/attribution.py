"""The view of "Where the network looks" (_attribution.html.j2): each method's stored maps as small figures (an
error's maps for its predicted and its true class side by side), its checks as a table of numbers with their 95%
intervals, and the charts of its checks (drawn from attribution.json's numbers by the figures step)."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import AttributionDocument, AttributionMap, Interval, MethodChecks
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.attribution import CENTRE_AREA, RANDOMISED_BELOW, interval, signed
from report.render.views.common import Figure, Place, colour_words, field, url
from report.render.words import attribution_chart, attribution_description, attribution_name

ROLE_WORDS = {"activation": "the activation maps' image", "sample": "a sample image", "error": "a confident error"}


@dataclasses.dataclass(frozen=True)
class MapPanel:
    figures: list[Figure] = field("one map, or a misclassified image's two side by side: for its predicted class, "
                                  "then for its true class")
    error: bool = field("true for a misclassified image's pair of maps")


@dataclasses.dataclass(frozen=True)
class CheckRow:
    check: str = field("what was measured, in words")
    value: str = field("its mean over the check images, formatted")
    interval: str = field('its 95% interval, formatted ("low to high", or a range of percentages)')
    against: str = field("the value it is judged against, in words; empty where nothing is judged on it")


@dataclasses.dataclass(frozen=True)
class MethodView:
    name: str = field('the method in words: "Grad-CAM at conv2", "Integrated Gradients (16 steps, baseline: …)"')
    colour: str = field("the colour scale of its maps, 0 to each map's maximum, in words")
    panels: list[MapPanel] = field("its maps in the stored order, one panel per image")
    checks: list[CheckRow] = field("its checks, one row each (each randomisation step twice: rank correlation, "
                                   "SSIM); empty when the store holds no checks for it")
    checks_caption: str = field("the checks table's caption: the images they ran on and the intervals")
    charts: list[Figure] = field("the deletion and insertion curves, and the randomisation steps")


@dataclasses.dataclass(frozen=True)
class AttributionView:
    """_attribution.html.j2: where each attribution method puts the evidence, and its sanity checks."""

    intro: str = field("what the maps are, the library that computed them, and what a removed pixel becomes")
    methods: list[MethodView] = field("one block per method, in the stored order")


def _which(m: AttributionMap) -> str:
    """Which of a misclassified image's classes a map is for."""
    if m.label == m.predicted:
        return ""
    return ", the predicted class" if m.target == m.predicted else ", the true class" if m.target == m.label else ""


def _map_caption(f: Findings, m: AttributionMap) -> str:
    role = ROLE_WORDS.get(m.role, m.role)
    return (f"{fmt.sentence(role)}, test image #{m.index}: true {f.class_name(m.label)}, predicted "
            f"{f.class_name(m.predicted)}. Map for {f.class_name(m.target)}{_which(m)}, probability "
            f"{fmt.percent(m.probability)}.")


def _colour(maps: list[AttributionMap]) -> str:
    """The colour scale of a method's maps, said once above them (each picture has the bar under it)."""
    cmaps = dict.fromkeys(m.cmap for m in maps)
    words = "; ".join(colour_words(cmap) for cmap in cmaps) or colour_words("")
    return (f"Colour: each map from 0 to its own maximum ({words}), on the bar under each image, \"0\" to "
            "\"max\"; weak evidence fades into the image.")


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


def _row(check: str, e: Interval, against: str = "", percent: bool = False) -> CheckRow:
    if percent:
        return CheckRow(check, fmt.percent(e.value), fmt.percent_range(e.low, e.high), against)
    return CheckRow(check, signed(e.value), interval(e), against)


def _points(check: str, e: Interval, against: str) -> CheckRow:
    """A difference of shares, in percentage points."""
    return CheckRow(check, f"{signed(e.value * 100, 1)} points", fmt.points_range(e.low, e.high), against)


def _check_rows(c: MethodChecks) -> list[CheckRow]:
    rows = []
    for step in c.randomisation:
        last = step is c.randomisation[-1]
        rows += [_row(f"Rank correlation with the maps of the network re-drawn down to {step.layer}",
                      step.rank_correlation, f"{RANDOMISED_BELOW}: passes below it" if last else ""),
                 _row(f"SSIM with the maps of the network re-drawn down to {step.layer}", step.ssim)]
    for check, wanted in (("deletion", "below"), ("insertion", "above")):
        curve = getattr(c, check)
        rows += [_row(f"{fmt.sentence(check)}: area under the curve in the map's order", curve.auc),
                 _row(f"{fmt.sentence(check)}: area under the curve in a random order", curve.random_auc),
                 _row(f"{fmt.sentence(check)}: difference (map's order − random order, per image)", curve.difference,
                      f"0: faithful {wanted} it")]
    rows += [_row("Share of the maps' mass in the central region (a quarter of the area)", c.centre_share,
                  f"{fmt.percent(CENTRE_AREA, 0)}, an evenly spread map's share", percent=True),
             _row("Share of the maps' mass on the object (the foreground)", c.object_share, percent=True),
             _points("Mass on the object less the object's share of the area", c.object_excess,
                     "0: more on the object above it, on the background below")]
    if c.errors_vs_correct is not None:
        rows.append(_points("Mass on the object: misclassified less correctly classified images", c.errors_vs_correct,
                            "0"))
    return rows


def _charts(place: Place, c: MethodChecks, name: str) -> list[Figure]:
    charts = [Figure(url(place, attribution_chart(c.method, "faithfulness")),
                     f"deletion and insertion curves of {name}",
                     f"{name}: the mean probability of the class attributed as pixels are removed (deletion, to the "
                     "baseline) or revealed (insertion, from the baseline) in the map's order and in a random order, "
                     f"on {c.images} images. Faithful maps fall faster on deletion and rise faster on insertion.")]
    if c.randomisation:
        charts.append(Figure(url(place, attribution_chart(c.method, "randomisation")),
                             f"randomisation checks of {name}",
                             f"{name}: rank correlation and SSIM of the maps with the trained network's, the "
                             "network's parameters re-drawn from the output layer down to each layer (bars: 95% "
                             f"intervals); the dashed line marks {RANDOMISED_BELOW}."))
    return charts


def _method(f: Findings, place: Place, doc: AttributionDocument, method: str) -> MethodView:
    c = next((checks for checks in doc.checks if checks.method == method), None)
    name = attribution_description(method, c.layer if c else None, doc.steps, doc.baseline)
    maps = [m for m in doc.maps if m.method == method]
    return MethodView(
        name=name, colour=_colour(maps), panels=_panels(f, place, maps),
        checks=_check_rows(c) if c else [],
        checks_caption=(f"Checks of {name} on {c.images} test images (up to {doc.images_per_class} per class), means "
                        "with 95% bootstrap intervals over the images" if c else ""),
        charts=_charts(place, c, name) if c else [])


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
        methods=[_method(f, place, doc, method) for method in methods])
