"""Views of the whole-split statistics: separation, separation by depth, the map, errors, filters."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import HEATMAP_NUMBERS_MAX_CLASSES, PRIMARY_METRIC
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import distances
from report.render.interpret.activations import a_or_an
from report.render.interpret.separation import dead_and_near, relu_taker, unjudged_phrase, zero_means_silent
from report.render.views.common import Figure, Place, field, url
from report.render.views.samples import metric as registered

NOT_AVAILABLE = "n/a"
LISTED = 12  # filter indices listed in a cell before "and N more"


def unit(metric: str) -> str:
    """The separation metric as the whole-split sections name it: the primary metric by its name, any other
    by its id."""
    return registered(metric).name if metric == PRIMARY_METRIC else metric


def numbers_note(classes: int) -> str:
    """What a class-by-class heat map's caption says about the numbers in its cells: beyond
    HEATMAP_NUMBERS_MAX_CLASSES classes the figure prints none (analysis.figures.plots.heatmap)."""
    if classes <= HEATMAP_NUMBERS_MAX_CLASSES:
        return ""
    return (f" With {classes} classes a number in each cell would print too small to read, so the cells hold "
            "none: the colour bar gives the values.")


# --- separation -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SpreadRow:
    name: str = field("the class")
    images: str = field("its test images, formatted")
    pairs: str = field("pairs of distinct images in it, formatted")
    mean: str = field("mean intra-class distance, formatted (n/a for a class of one image)")
    std: str = field("standard deviation of those distances, formatted")
    interval: str = field('the 95% bootstrap interval of the mean, as "low – high"')
    silhouette: str = field("the class's mean silhouette, two digits")


@dataclasses.dataclass(frozen=True)
class ClosestPairRow:
    classes: str = field('the two classes, as "a – b"')
    inter_mean: str = field("their mean inter-class distance, formatted")
    ratio: str = field("that over their average intra-class distance, formatted")


@dataclasses.dataclass(frozen=True)
class TwoSampleRow:
    group: str = field('"intra-class one" or "inter-class one–two"')
    two_sample: str = field("the mean distance over the sample images of the first sections, formatted")
    full: str = field("the same mean over the whole test split, formatted")
    interval: str = field('the whole split\'s 95% bootstrap interval of that mean, as "low – high"; n/a without one')


@dataclasses.dataclass(frozen=True)
class VerdictRow:
    claim: str = field('what the samples claimed, in words ("class one more compact (…)")')
    whole: str = field("what the whole split shows of it, with the intervals")
    verdict: str = field("confirms, agrees, not established or contradicts (interpret.distances.decide)")


@dataclasses.dataclass(frozen=True)
class TwoSampleTable:
    heading: str = field('the two-sample column\'s heading: "2 per class (section 6)", without the section '
                         "number when the distances section is not shown")
    rows: list[TwoSampleRow] = field("one row per class of the samples, then one for the pair of them")
    verdicts: list[VerdictRow] = field("the decision table's rows, one per sampled claim; empty when the store "
                                       "lacks a figure to decide on")
    verdict: str = field("the whole sampled reading's verdict (the worst of its claims'); empty without one")
    criterion: str = field("how the verdicts are decided, in words")


@dataclasses.dataclass(frozen=True)
class Headline:
    value: str = field("the number, formatted")
    label: str = field("what it is, naming its distance")


@dataclasses.dataclass(frozen=True)
class SeparationView:
    """_separation.html.j2: class spread and separation over the whole test split."""

    description: str = field("which layer's output the embedding is, in words")
    dimensions: str = field("values per embedding, formatted")
    n: str = field("test images, formatted")
    embeddings_file: str = field("the stored embeddings of all test images, relative to the HTML file")
    unit: str = field("the distance used, as the text names it")
    bootstrap_replicates: str = field("bootstrap resamples behind each interval")
    bootstrap_cap: str = field("the most images per class a resample draws, formatted")
    headlines: list[Headline] = field("the summary numbers, each naming its distance: the ratio in Euclidean distance "
                                      "and in MSE (a squared distance), the silhouette, the nearest-centroid "
                                      "accuracy with its 95% interval")
    centroid_note: str = field("how the nearest-centroid accuracy was computed, in one sentence")
    silhouette_distance: str = field("the distance the per-class silhouettes are computed on")
    per_class: list[SpreadRow] = field("one row per class")
    heatmap: Figure = field("the heat map of mean distances between classes")
    centroids: Figure = field("the heat map of distances between class centroids")
    closest_pairs: list[ClosestPairRow] = field("the class pairs closest relative to their spread; empty for none")
    closest_examples: list[Figure] = field("for each closest pair, the images of each class nearest the other")
    two_sample: TwoSampleTable | None = field("the first sections' two-sample figures beside the whole split; "
                                              "None when the store has none")


def _interval(low, high) -> str:
    return NOT_AVAILABLE if low is None or high is None else f"{fmt.number(low)} – {fmt.number(high)}"


def _two_sample(f: Findings, place: Place) -> TwoSampleTable | None:
    two = f.separation.two_sample
    if not two:
        return None
    section = place.numbers.get("distances")
    heading = f"{f.embeddings.per_class} per class" + (f" (section {section})" if section is not None else "")
    classes = two["classes"]
    spread = {c.cls: c for c in f.separation.per_class}
    rows = [TwoSampleRow(f"intra-class {f.class_name(c)}", fmt.number(two["intra"][str(c)]["two_sample"]),
                         fmt.number(two["intra"][str(c)]["full"]),
                         _interval(spread[c].ci_low, spread[c].ci_high) if c in spread else NOT_AVAILABLE)
            for c in classes]
    inter = two["inter"]
    rows.append(TwoSampleRow(f"inter-class {f.class_name(classes[0])}–{f.class_name(classes[1])}",
                             fmt.number(inter["two_sample"]), fmt.number(inter["full"]),
                             _interval(inter.get("ci_low"), inter.get("ci_high"))))
    comparison = distances.decide(f)
    verdicts = [VerdictRow(fmt.sentence(c.sampled), fmt.sentence(c.whole), c.verdict)
                for c in comparison.checks] if comparison else []
    return TwoSampleTable(heading, rows, verdicts, comparison.verdict if comparison else "", distances.CRITERION)


def _headlines(f: Findings) -> tuple[list[Headline], str]:
    """The summary numbers, each named by its distance, and how the nearest-centroid figure was computed."""
    sp = f.separation
    name = unit(sp.metric)
    items = []
    if sp.euclidean is not None and sp.euclidean.ratio is not None:
        items.append(Headline(fmt.ratio(sp.euclidean.ratio), "mean inter / mean intra Euclidean distance"))
    squared = ", a squared distance" if sp.metric == "mse" else ""
    items.append(Headline(fmt.ratio(sp.ratio) if sp.ratio else NOT_AVAILABLE,
                          f"mean inter / mean intra {name}{squared}"))
    if sp.euclidean is not None:
        items.append(Headline(fmt.number(sp.euclidean.silhouette, 2), "silhouette on Euclidean distance (−1 to 1)"))
    items.append(Headline(fmt.number(sp.silhouette, 2),
                          f"silhouette on {distances.silhouette_distance(sp.metric)} (−1 to 1)"))
    loo = sp.centroid_left_out
    if loo is not None and loo.accuracy is not None:
        accuracy, interval = fmt.percent_with_range(loo.accuracy, loo.ci_low, loo.ci_high)
        items.append(Headline(accuracy, f"nearest-centroid accuracy, each image left out of its centroid (95% CI "
                                        f"{interval})"))
        alone = f" The {unjudged_phrase(loo.unjudged)}." if loo.unjudged else ""
        note = (f"The nearest-centroid accuracy judges each image by class centroids it did not help build: its own "
                f"class's centroid is recomputed without it ({fmt.integer(loo.correct)} of "
                f"{fmt.integer(loo.judged)} right; Wilson 95% interval).{alone}")
    else:
        items.append(Headline(fmt.percent(sp.nearest_centroid_accuracy),
                              "nearest-centroid accuracy, each image counted in its own centroid"))
        note = ("This store's nearest-centroid accuracy counts each image in its own class's centroid, which "
                "flatters it; a newer analysis leaves each image out.")
    return items, note


def separation_view(f: Findings, place: Place) -> SeparationView:
    sp = f.separation
    name = unit(sp.metric)
    headlines, centroid_note = _headlines(f)
    examples = []
    for pair in sp.closest_pairs:
        for ex in pair["examples"]:
            other = pair["b"] if ex["class"] == pair["a"] else pair["a"]
            cls = f.class_name(ex["class"])
            examples.append(Figure(url(place, ex["path"]), f"test image {ex['index']}, class {cls}",
                                   f"#{ex['index']}: the {cls} nearest to the {f.class_name(other)} centroid"))
    return SeparationView(
        description=sp.description, dimensions=fmt.integer(sp.dimensions), n=fmt.integer(sp.n),
        embeddings_file=url(place, sp.embeddings_file), unit=name,
        bootstrap_replicates=str(sp.settings["bootstrap_replicates"]),
        bootstrap_cap=fmt.integer(sp.settings["bootstrap_cap"]),
        headlines=headlines, centroid_note=centroid_note,
        silhouette_distance=distances.silhouette_distance(sp.metric),
        per_class=[SpreadRow(f.class_name(c.cls), fmt.integer(c.n), fmt.integer(c.pairs), fmt.number(c.intra_mean),
                             fmt.number(c.intra_std), f"{fmt.number(c.ci_low)} – {fmt.number(c.ci_high)}",
                             fmt.number(c.silhouette, 2)) for c in sp.per_class],
        heatmap=Figure(url(place, sp.images["heatmap"]), "heatmap of mean distances between classes",
                       f"Mean {name} between the embeddings of every pair of classes; the diagonal is the mean within "
                       f"each class. The matrix is symmetric.{numbers_note(len(sp.classes))}"),
        centroids=Figure(url(place, sp.images["centroids"]), "heatmap of distances between class centroids",
                         f"{name} between class centroids (mean embedding of each class)."
                         f"{numbers_note(len(sp.classes))}"),
        closest_pairs=[ClosestPairRow(f"{f.class_name(pair['a'])} – {f.class_name(pair['b'])}",
                                      fmt.number(pair["inter_mean"]), fmt.ratio(pair["ratio"]))
                       for pair in sp.closest_pairs],
        closest_examples=examples, two_sample=_two_sample(f, place))


# --- depth ------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DepthRow:
    label: str = field("the layer")
    values: str = field('values the measures used, formatted, with "(pooled from N)" when the output was larger')
    ratio: str = field("inter/intra distance ratio of its output, formatted; n/a when not defined")
    silhouette: str = field("silhouette of its output, two digits")


@dataclasses.dataclass(frozen=True)
class DepthNames:
    ratio: str = field('the ratio column\'s heading, naming its distance ("Inter / intra MSE (squared distance)")')
    silhouette: str = field('the silhouette column\'s heading, naming its distance')


@dataclasses.dataclass(frozen=True)
class DepthView:
    """_depth.html.j2: separation of each layer's output."""

    images: str = field("test images the measures use, formatted")
    sample: str = field('"(all of them)" or "(a seeded sample)"')
    metric: str = field("the distance used")
    names: DepthNames = field("the column headings, each naming its distance")
    layers: list[DepthRow] = field("one row per layer, from input side to output side")
    pooled: bool = field("some layer's output was average-pooled over positions before it was measured")
    plot: Figure = field("the line chart of both measures against depth")
    left_out: str = field('which of the model\'s top-level layers are not measured, as a sentence ("Measured at 8 '
                          'of the model\'s 10 top-level layers, evenly spaced: relu and layer4 are left out."); '
                          'empty when every one is, or the layers were chosen otherwise', default="")


def _top_level_left_out(f: Findings) -> str:
    """The model's top-level layers (in the order they ran) that the depth measures leave out, in a sentence: the
    analysis measures at most a few, evenly spaced from first to last. Said only where every measured layer is a
    top-level one (a model may declare its own layers to measure)."""
    top = list(dict.fromkeys(row.name.split(".")[0] for row in f.trace.rows if row.kind == "module" and row.name))
    measured = [d.module for d in f.separation.depth]
    left = [name for name in top if name not in measured]
    if not left or len(measured) < 2 or measured != _evenly_spaced(top, len(measured)):
        return ""  # every layer measured, or layers the model declares (the assignment CNN's pools and ReLUs)
    verb = "is" if len(left) == 1 else "are"
    return (f"Measured at {fmt.integer(len(measured))} of the model's {fmt.integer(len(top))} top-level layers, evenly "
            f"spaced from first to last: {fmt.listing(left)} {verb} left out.")


def _evenly_spaced(names: list[str], count: int) -> list[str]:
    """``count`` of ``names`` evenly spaced from first to last, as the analysis picks them (numpy's linspace,
    rounded half to even: Python's round does the same)."""
    step = (len(names) - 1) / (count - 1)
    return [names[i] for i in sorted({round(k * step) for k in range(count)})]


def _depth_values(layer) -> str:
    if layer.pooled_from:
        return f"{fmt.integer(layer.dims)} (pooled from {fmt.integer(layer.pooled_from)})"
    return fmt.integer(layer.dims)


def depth_view(f: Findings, place: Place) -> DepthView:
    sp = f.separation
    return DepthView(
        images=fmt.integer(sp.depth_sample),
        sample="(all of them)" if sp.depth_sample == sp.n else "(a seeded sample)", metric=sp.metric,
        names=DepthNames(f"Inter / intra {unit(sp.metric)}{' (squared distance)' if sp.metric == 'mse' else ''}",
                         f"Silhouette ({distances.silhouette_distance(sp.metric)})"),
        layers=[DepthRow(d.label, _depth_values(d), fmt.ratio(d.ratio) if d.ratio else NOT_AVAILABLE,
                         fmt.number(d.silhouette, 2)) for d in sp.depth],
        pooled=any(d.pooled_from for d in sp.depth),
        plot=Figure(url(place, sp.images["depth"]), "line chart of separation against depth",
                    f"Inter/intra ratio of mean {unit(sp.metric)}{' (a squared distance)' if sp.metric == 'mse' else ''} "
                    f"(left axis) and silhouette on {distances.silhouette_distance(sp.metric)} (right axis) of each "
                    "layer's output, from input side to output side."),
        left_out=_top_level_left_out(f))


# --- map --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MapView:
    """_map.html.j2: PCA and t-SNE pictures of the embedding."""

    layer: str = field("the embedding layer")
    pca_share: str = field("share of the variance along the two PCA directions, as a percentage")
    pca: Figure = field("the PCA scatter plot")
    tsne: Figure | None = field("the t-SNE scatter plot; None when it was not drawn")


def map_view(f: Findings, place: Place) -> MapView:
    sp = f.separation
    tsne = None
    if sp.images.get("tsne"):
        sample = ", a seeded sample" if sp.tsne_sample < sp.n else ""
        tsne = Figure(url(place, sp.images["tsne"]), "t-SNE scatter plot of the embedding coloured by class",
                      f"t-SNE of the embedding ({fmt.integer(sp.tsne_sample)} test images{sample}; seed fixed, so the "
                      "picture is the same on every run).")
    return MapView(
        layer=sp.layer, pca_share=fmt.percent(sp.pca_variance[0] + sp.pca_variance[1]),
        pca=Figure(url(place, sp.images["pca"]), "PCA scatter plot of the embedding coloured by class",
                   f"PCA of the embedding of all {fmt.integer(sp.n)} test images."),
        tsne=tsne)


# --- errors -----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ErrorsView:
    """_errors.html.j2: the confusion matrix and the most confident errors."""

    confusion: Figure = field("the confusion matrix")
    misclassified: list[Figure] = field("the most confident errors, most confident first; empty for none")


def confusion_colour_note(sp) -> str:
    """What the confusion figure's colour and numbers show: row shares with counts (analysis.figures.plots.
    confusion_figure), or in older stores the counts themselves."""
    if sp.confusion_colour != "row share":
        return numbers_note(len(sp.classes))
    numbers = (" The number in a cell is its count of images." if len(sp.classes) <= HEATMAP_NUMBERS_MAX_CLASSES else
               f" With {len(sp.classes)} classes a number in each cell would print too small to read, so the cells "
               "hold none: the colour gives each cell's share of its row, the CSV the counts.")
    return (" A cell's colour is its share of its row, the images of that true class (0 to 100%, on a square-root "
            f"scale so that small shares stand apart), so that every row reads on one scale.{numbers}")


def errors_view(f: Findings, place: Place) -> ErrorsView:
    sp = f.separation
    return ErrorsView(
        confusion=Figure(url(place, sp.images["confusion"]), "confusion matrix",
                         f"Confusion matrix of the {fmt.integer(sp.n)} test images: row = true class, column = "
                         "predicted class; the diagonal holds the correct predictions."
                         f"{confusion_colour_note(sp)}"),
        misclassified=[Figure(url(place, m["path"]), f"test image {m['index']}, {a_or_an(f.class_name(m['label']))} "
                              f"predicted as {f.class_name(m['predicted'])}",
                              f"#{m['index']}: true {f.class_name(m['label'])}, predicted "
                              f"{f.class_name(m['predicted'])} ({fmt.percent(m['confidence'])})")
                       for m in sp.misclassified])


# --- filters ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FilterRow:
    label: str = field("the layer")
    channels: str = field("its filters, formatted")
    mean_range: str = field('lowest and highest mean activation of its filters, as "min – max"')
    activated: bool = field("true when the output follows a ReLU-like activation: only then are filters dead")
    dead: str = field('the dead filters\' indices (the first 12, "and N more"), or "none"')
    near_dead: str = field('the near-dead filters\' indices, the same way')
    never_positive: str = field("for a raw output: how many filters are never positive on the dead share of images")


@dataclasses.dataclass(frozen=True)
class FiltersView:
    """_filters.html.j2: filter activity per layer."""

    n: str = field("test images, formatted")
    dead_share: str = field("share of images on which a dead filter is zero, as a whole percentage")
    near_dead_share: str = field("the same share for a near-dead filter")
    layers: list[FilterRow] = field("one row per convolution layer")
    charts: list[Figure] = field("a bar chart of mean activation per filter, for the layers that have one")


def _indices(indices: list[int]) -> str:
    if not indices:
        return "none"
    more = f" and {len(indices) - LISTED} more" if len(indices) > LISTED else ""
    return ", ".join(str(i) for i in indices[:LISTED]) + more


def _range(values: list[float | None]) -> str:
    finite = [v for v in values if v is not None]
    return f"{fmt.number(min(finite))} – {fmt.number(max(finite))}" if finite else NOT_AVAILABLE


def filters_view(f: Findings, place: Place) -> FiltersView:
    sp = f.separation
    dead_share = sp.settings["dead_share"]
    return FiltersView(
        n=fmt.integer(sp.n), dead_share=fmt.percent(dead_share, 0),
        near_dead_share=fmt.percent(sp.settings["near_dead_share"], 0),
        layers=[FilterRow(layer.label, fmt.integer(layer.channels), _range(layer.mean), zero_means_silent(f, layer),
                          *map(_indices, dead_and_near(f, layer)),
                          str(sum(1 for z in layer.zero_fraction if z is not None and z >= dead_share)))
                for layer in sp.filters],
        charts=[Figure(url(place, layer.path), f"bar chart of mean activation per filter of {layer.label}",
                       f"{layer.label}: mean activation of each of its {layer.channels} filters over the test split; "
                       f"a bar's shade is the share of images on which the filter's map is "
                       f"{_silent(zero_means_silent(f, layer), relu_taker(f, layer))}"
                       " (darker: more of them).") for layer in sp.filters if layer.path])


def _silent(activated: bool, taker: str | None = None) -> str:
    """What the shade of a filter's bar counts (analysis.figures.plots.filter_bars shades by the share of images
    whose map is never positive): after a ReLU-like activation, or before a ReLU that takes the output directly,
    that is an all-zero map."""
    if taker:
        return f"never positive, so all zero after {taker}"
    return "all zero" if activated else "never positive (an output no ReLU follows directly)"
