"""Where the network looks: the stored attribution maps (Grad-CAM, Integrated Gradients) over their images, and
each method's sanity checks (randomisation of the weights, deletion and insertion against a random order, where
the evidence lies) with a plain verdict. From attribution.json only."""

from __future__ import annotations

from analysis.store.schema import AttributionDocument
from report.render.findings import Findings
from report.render.interpret import attribution
from report.render.rows import Table
from report.render.sections.section import Section
from report.render.views.attribution import attribution_view


def maps_table(f: Findings) -> Table | None:
    """One row per stored map."""
    doc: AttributionDocument | None = f.attribution
    if doc is None:
        return None
    return Table("attribution_maps", "Each attribution map: its image, the class attributed and where its mass lies",
                 "attribution",
                 ("method", "role", "index", "label", "label_name", "predicted", "predicted_name", "target",
                  "target_name", "probability", "centre_share", "object_share", "object_area", "path"),
                 [(m.method, m.role, m.index, m.label, f.class_name(m.label), m.predicted, f.class_name(m.predicted),
                   m.target, f.class_name(m.target), m.probability, m.centre_share, m.object_share, m.object_area,
                   m.path) for m in doc.maps])


def check_images_table(f: Findings) -> Table | None:
    """One row per method and check image: the numbers its means and intervals are computed from."""
    doc: AttributionDocument | None = f.attribution
    if doc is None:
        return None
    return Table("attribution_check_images", "Each check image's numbers, per attribution method", "attribution",
                 ("method", "index", "label", "label_name", "predicted", "predicted_name", "rank_correlation", "ssim",
                  "deletion_auc", "deletion_random_auc", "insertion_auc", "insertion_random_auc", "road",
                  "centre_share", "object_share", "object_area"),
                 [(c.method, i.index, i.label, f.class_name(i.label), i.predicted, f.class_name(i.predicted),
                   i.rank_correlation, i.ssim, i.deletion_auc, i.deletion_random_auc, i.insertion_auc,
                   i.insertion_random_auc, i.road, i.centre_share, i.object_share, i.object_area)
                  for c in doc.checks for i in c.per_image])


def _estimates(c) -> list[tuple[str, str | None, object]]:
    """(check, the layer re-drawn down to (randomisation only), its Interval) for every check of one method."""
    rows = []
    for step in c.randomisation:
        rows += [("randomisation_rank_correlation", step.layer, step.rank_correlation),
                 ("randomisation_ssim", step.layer, step.ssim)]
    for check in ("deletion", "insertion"):
        curve = getattr(c, check)
        rows += [(f"{check}_auc", None, curve.auc), (f"{check}_random_auc", None, curve.random_auc),
                 (f"{check}_difference", None, curve.difference)]
    rows += [("centre_share", None, c.centre_share), ("object_share", None, c.object_share),
             ("object_excess", None, c.object_excess)]
    if c.road is not None:
        rows.append(("road_score", None, c.road.score))
    if c.errors_vs_correct is not None:
        rows.append(("errors_vs_correct", None, c.errors_vs_correct))
    return rows


def checks_table(f: Findings) -> Table | None:
    """One row per method and check (per randomisation step), with its mean and 95% interval."""
    if f.attribution is None:
        return None
    return Table("attribution_checks", "Each attribution method's checks: means over the check images with 95% "
                 "intervals", "attribution",
                 ("method", "method_layer", "images", "check", "redrawn_down_to", "value", "ci_low", "ci_high"),
                 [(c.method, c.layer, c.images, check, layer, e.value, e.low, e.high)
                  for c in f.attribution.checks for check, layer, e in _estimates(c)])


SECTION = Section(
    id="attribution", title="Where the network looks", order=45,
    figures=("attribution",), needs=("attribution",),
    view=attribution_view,
    rules=attribution.RULES,
    tables={"attribution_maps": maps_table, "attribution_checks": checks_table,
            "attribution_check_images": check_images_table},
)
