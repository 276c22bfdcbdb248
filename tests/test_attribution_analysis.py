"""The attribution part of the analysis (analysis/attribution/, attribution.json): on a network that looks only at a
planted cue both methods find the cue, pass the randomisation check and beat a random order on deletion; the same
network untrained does not; the stored statistics agree with values recomputed here from the stored arrays; two
runs give the same bytes; Grad-CAM is offered only where there are spatial maps to read."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from analysis.attribution import checks, gradcam
from analysis.attribution.document import attribution_results
from analysis.batches import Inputs
from analysis.capture import trace
from analysis.capture.outputs import take_logits
from analysis.config import AnalysisConfig
from analysis.data.splits import DataSplits, ImageSet
from analysis.store.schema import array_path
from analysis.store.writer import StoreWriter

SIDE, PATCH, CLASSES = 28, 4, 4
MEAN, STD = (0.1307,), (0.3081,)
CORNERS = [(0, 0), (0, SIDE - PATCH), (SIDE - PATCH, 0), (SIDE - PATCH, SIDE - PATCH)]
CUE_REGION = 10  # the corner square a map's mass must fall in (Grad-CAM reads a 7×7 map: coarser than the patch)


PATTERNS = [np.full((PATCH, PATCH), 255),                                   # solid
            np.indices((PATCH, PATCH)).sum(0) % 2 * 255,                      # checkered
            np.indices((PATCH, PATCH))[0] % 2 * 255,                          # striped across
            np.indices((PATCH, PATCH))[1] % 2 * 255]                          # striped down


def cue_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dim noise (0..40: never 10% of the range from the border's median, so the foreground is the patch's bright
    pixels alone) with a 4×4 patch in a random corner whose pattern is the label; returns the images, the labels
    and each image's corner."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 41, size=(count, 1, SIDE, SIDE)).astype(np.uint8)
    labels = np.arange(count) % CLASSES
    corners = rng.integers(0, len(CORNERS), size=count)
    for image, label, corner in zip(images, labels, corners):
        top, left = CORNERS[corner]
        image[0, top:top + PATCH, left:left + PATCH] = PATTERNS[label]
    return images, labels.astype(np.int64), corners


class CueNet(nn.Module):
    """Two convolutions and global average pooling: the class can come from the patch's pattern only, wherever it
    is (the head reads pooled maps, as Grad-CAM assumes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.fc(self.flatten(self.gap(self.pool2(self.relu2(self.conv2(x))))))


class TokenNet(nn.Module):
    """A ViT in miniature: its only convolution embeds patches, then a token sequence, then a head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(1, 16, 7, stride=7)
        self.mix = nn.Linear(16, 16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.mix(tokens).mean(1))


class FlatNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(SIDE * SIDE, CLASSES)

    def forward(self, x):
        return self.fc(self.flatten(x))


def normalised(images: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(images).float() / 255 - MEAN[0]) / STD[0]


def trained_cue_net() -> CueNet:
    torch.manual_seed(0)
    model = CueNet()
    images, labels, _ = cue_images(2048, seed=1)
    x, y = normalised(images), torch.from_numpy(labels)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        batch = slice((step * 64) % len(x), (step * 64) % len(x) + 64)
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> CueNet:
    return trained_cue_net()


def attribute(model: nn.Module, tmp_path, test_count: int = 16, samples: int = 8, activations=None, **config):
    """attribution_results on cue data, as analysis.run calls it; returns the document, the store's staging folder,
    the test images and the run's parts."""
    torch.manual_seed(0)
    train, train_labels, _ = cue_images(64, seed=2)
    test, test_labels, corners = cue_images(test_count, seed=3)
    splits = DataSplits(ImageSet(train, train_labels), ImageSet(test, test_labels), "cue", [str(c) for c in
                                                                                          range(CLASSES)], "npz")
    traced, usage = trace.trace_shapes(model, normalised(test[:1]))
    if traced.output_taken:  # as analysis.run.prepare: a tuple's or a dict's logits, for every later pass
        take_logits(model)
    run = types.SimpleNamespace(model=model, splits=splits, traced=traced, usage=usage,
                                setup=types.SimpleNamespace(mean=MEAN, std=STD))
    with torch.no_grad():
        probabilities = torch.softmax(model(normalised(test)).double(), 1)
    evaluation = types.SimpleNamespace(predicted=probabilities.argmax(1).tolist(),
                                       confidence=probabilities.max(1).values.tolist())
    writer = StoreWriter(tmp_path / "stores" / "key")
    embeddings = types.SimpleNamespace(samples=[types.SimpleNamespace(index=i, label=int(test_labels[i]), path=f"images/sample_{i}.png")
                                                for i in range(min(samples, test_count))])
    document = attribution_results(run, Inputs(test, MEAN, STD), AnalysisConfig(attribution=True, **config),
                                   evaluation, activations, embeddings, None, writer)
    return document, writer, test, types.SimpleNamespace(**vars(run), corners=corners)


def structural_similarity_index_measure(*args, **kwargs):
    """torchmetrics' SSIM, imported when a test asks for it: importing torchmetrics takes 1.5 to 3 s, which every
    pytest worker would pay while collecting this module."""
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    return ssim(*args, **kwargs)


def cue_share(map_: np.ndarray, corner: int) -> float:
    """The share of a map's mass in the corner square around the cue, computed here without the package."""
    top, left = CORNERS[corner]
    rows = slice(0, CUE_REGION) if top == 0 else slice(SIDE - CUE_REGION, SIDE)
    cols = slice(0, CUE_REGION) if left == 0 else slice(SIDE - CUE_REGION, SIDE)
    return float(map_[rows, cols].sum() / map_.sum()) if map_.sum() > 0 else 0.0


def test_both_methods_find_the_cue_pass_randomisation_and_beat_random(trained, tmp_path):
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    document, writer, test, run = attribute(trained, tmp_path)
    try:
        assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())  # the model is left as it was
        assert [c.method for c in document.checks] == ["gradcam", "integrated_gradients"]
        assert document.checks[0].layer == "pool2" and document.checks[1].layer is None
        for method in ("gradcam", "integrated_gradients"):
            maps = [m for m in document.maps if m.method == method and m.role == "sample"]
            # samples 0..7; image 0 is the activation maps' image (no activations document: test image 0), shown once
            assert [m.index for m in maps] == list(range(1, 8))
            assert [m.index for m in document.maps if m.method == method and m.role == "activation"] == [0]
            maps += [m for m in document.maps if m.method == method and m.role == "activation"]
            shares = [cue_share(np.load(writer.tmp_dir / array_path(m.path)), run.corners[m.index]) for m in maps]
            # the cue's corner square is 13% of the image: most of the mass there, never less than twice that
            assert np.mean(shares) > 0.6 and min(shares) > 0.3, (method, shares)
            check = next(c for c in document.checks if c.method == method)
            assert check.object_excess.low > 0, method
            assert check.randomisation[-1].rank_correlation.value < 0.3, method
            assert check.deletion.difference.high < 0, method   # falls faster than in a random order
            assert check.insertion.difference.low > 0, method
            assert check.road.score.low > 0.3, method  # imputing the cue costs far more than imputing the rest
        # the images were not stored by another document here: each is stored once, for the maps
        image = next(m for m in document.maps if m.role == "sample").image_path
        assert image.startswith("images/attribution_image_") and array_path(image) in writer.files
    finally:
        writer.abort()


def test_untrained_network_maps_do_not_beat_random_on_deletion(tmp_path):
    torch.manual_seed(5)
    document, writer, _, _ = attribute(CueNet().eval(), tmp_path)
    try:
        for check in document.checks:
            # a random network's probabilities hardly move whatever is deleted: no area to gain over chance
            assert abs(check.deletion.difference.value) < 0.02, (check.method, check.deletion.difference)
            assert max(abs(check.road.score.low), abs(check.road.score.high)) < 0.05, (check.method, check.road)
    finally:
        writer.abort()


def test_stored_statistics_agree_with_recomputation_from_the_arrays(trained, tmp_path):
    """One test image, so every estimate is that image's value: recomputed here from its stored map."""
    document, writer, test, run = attribute(trained, tmp_path, test_count=1, samples=0)
    try:
        (gradcam_map,) = [m for m in document.maps if m.method == "gradcam"]
        (ig_map,) = [m for m in document.maps if m.method == "integrated_gradients"]
        original = np.load(writer.tmp_dir / array_path(ig_map.path))
        assert original.shape == (SIDE, SIDE) and original.dtype == np.float32 and original.max() == 1
        check = next(c for c in document.checks if c.method == "integrated_gradients")
        assert check.images == 1 and check.deletion.auc.low == check.deletion.auc.high

        # where the mass lies
        foreground = np.abs(test[0, 0].astype(float) - np.median(np.concatenate(
            [test[0, 0, 0], test[0, 0, -1], test[0, 0, :, 0], test[0, 0, :, -1]]))) > 25.5
        assert ig_map.object_area == pytest.approx((test[0, 0] > 40).mean(), rel=1e-6)
        assert ig_map.object_share == pytest.approx(original[foreground].sum() / original.sum(), rel=1e-5)
        assert ig_map.centre_share == pytest.approx(original[7:21, 7:21].sum() / original.sum(), rel=1e-5, abs=1e-7)
        assert check.object_share.value == pytest.approx(ig_map.object_share, rel=1e-5)

        # deletion: pixels by the stored map's order set to the training split's mean pixel
        baseline = (run.splits.train.images.mean() / 255 - MEAN[0]) / STD[0]
        order = np.argsort(-original.ravel(), kind="stable")
        x = normalised(test[:1])
        probabilities = []
        for fraction in np.linspace(0, 1, 11):
            shown = x.clone().view(-1)
            shown[order[:round(fraction * SIDE * SIDE)]] = baseline
            with torch.no_grad():
                logits = trained(shown.view(1, 1, SIDE, SIDE)).double()
            probabilities.append(torch.softmax(logits, 1)[0, ig_map.target].item())
        area = sum((a + b) / 2 * 0.1 for a, b in zip(probabilities, probabilities[1:]))
        assert check.deletion.auc.value == pytest.approx(area, abs=1e-5)
        assert check.deletion.method == pytest.approx(probabilities, abs=1e-5)

        # the last randomisation step: every layer re-drawn, the map computed again with Captum directly
        from captum.attr import IntegratedGradients

        copy = CueNet()
        copy.load_state_dict(trained.state_dict())
        for position, layers in enumerate(checks.randomisation_steps(copy, run.traced, run.usage)):
            checks.redraw(copy, layers, 0 * 1000 + position)
        attributions = IntegratedGradients(copy.eval()).attribute(
            x, baselines=torch.full_like(x, float(baseline)), target=ig_map.target, n_steps=16)
        randomised = attributions.clamp(min=0).sum(1)[0].detach().double().numpy()
        randomised = randomised / randomised.max() if randomised.max() > 0 else randomised
        last = check.randomisation[-1]
        assert last.layer == "conv1"
        rho = stats.spearmanr(original.ravel(), randomised.ravel()).statistic
        assert last.rank_correlation.value == pytest.approx(rho, abs=1e-4)
        ssim = structural_similarity_index_measure(torch.from_numpy(randomised).float()[None, None],
                                                   torch.from_numpy(original)[None, None], data_range=1.0)
        assert last.ssim.value == pytest.approx(float(ssim), abs=1e-4)
        assert gradcam_map.path != ig_map.path and gradcam_map.image_path == ig_map.image_path
    finally:
        writer.abort()


@pytest.mark.parametrize("side", [2, 5, 6, 28, 33])
def test_structural_similarity_is_torchmetrics(side):
    """checks.similarities is written out (torchmetrics takes seconds to import): the same numbers as torchmetrics',
    for maps wide enough for its Gaussian window and for narrower ones (a uniform window that fits)."""
    rng = np.random.default_rng(side)
    original = rng.random((4, side, side)).astype(np.float32)
    other = np.clip(original + rng.normal(0, 0.3, original.shape), 0, 1).astype(np.float32)
    other[0] = 0  # an empty map against a full one
    window = {} if side >= 6 else {"gaussian_kernel": False, "kernel_size": side if side % 2 else side - 1}
    expected = structural_similarity_index_measure(torch.from_numpy(other)[:, None],
                                                   torch.from_numpy(original)[:, None], data_range=1.0,
                                                   reduction="none", **window)
    assert checks.similarities(original, other) == pytest.approx(expected.double().numpy(), abs=1e-5)
    assert checks.similarities(original, original) == pytest.approx(np.ones(4), abs=1e-9)


def test_gradcam_is_offered_only_where_there_are_spatial_maps(tmp_path):
    for model in (FlatNet().eval(), TokenNet().eval()):
        traced, usage = trace.trace_shapes(model, torch.zeros(1, 1, SIDE, SIDE))
        assert gradcam.offer(model, traced, usage) is None, type(model).__name__
    document, writer, _, _ = attribute(TokenNet().eval(), tmp_path, samples=2)
    try:
        assert [c.method for c in document.checks] == ["integrated_gradients"]
        assert {m.method for m in document.maps} == {"integrated_gradients"}
    finally:
        writer.abort()


class DetachedNet(CueNet):
    """Differentiable nowhere: its forward pass detaches the image first."""

    def forward(self, x):
        return super().forward(x.detach())


def test_a_model_without_gradients_is_refused_in_one_line(tmp_path):
    from analysis.errors import InputError

    with pytest.raises(InputError, match="no gradient with respect to its input.*attribution section out"):
        attribute(DetachedNet().eval(), tmp_path, samples=0)


def test_two_runs_give_the_same_store_and_reuse_stored_images(tmp_path):
    """Through analysis.run: the default model (random weights) on cue data, twice, with the part on."""
    from analysis.run import analyse

    train, train_labels, _ = cue_images(64, seed=2)
    test, test_labels, _ = cue_images(24, seed=3)
    data = tmp_path / "cue.npz"
    np.savez(data, x_train=train[:, 0], y_train=train_labels, x_test=test[:, 0], y_test=test_labels)
    config = AnalysisConfig(attribution=True, whole_split=False, per_class=1)
    stores = [analyse(None, str(data), config, tmp_path / f"stores{i}", tmp_path / "cache", show_progress=False)
              for i in range(2)]
    assert stores[0].name == stores[1].name
    files = sorted(p.relative_to(stores[0]) for p in stores[0].rglob("*") if p.is_file())
    assert "attribution.json" in {str(f) for f in files}
    for name in files:
        assert (stores[0] / name).read_bytes() == (stores[1] / name).read_bytes(), name
    document = json.loads((stores[0] / "attribution.json").read_text())
    samples = {s["index"]: s["path"] for s in json.loads((stores[0] / "embeddings.json").read_text())["samples"]}
    shown = [m for m in document["maps"] if m["role"] == "sample"]
    activation = next(m for m in document["maps"] if m["role"] == "activation")
    assert activation["image_path"] == "images/input.png"
    held = {**samples, activation["index"]: "images/input.png"}  # the activation maps' image is also sample 0
    assert shown and all(m["image_path"] == held[m["index"]] for m in shown)  # reused, not stored again
    errors = {m["index"] for m in document["maps"] if m["role"] == "error"}  # no separation.json stored them
    assert {f.name for f in files if f.name.startswith("attribution_image_")} == {
        f"attribution_image_{i}.npy" for i in errors}
    without = analyse(None, str(data), AnalysisConfig(attribution=False, whole_split=False, per_class=1), tmp_path / "stores2",
                      tmp_path / "cache", show_progress=False)
    assert not (without / "attribution.json").exists() and without.name != stores[0].name


def test_sixty_samples_show_the_maps_of_eight_taken_from_each_class_in_turn():
    """60 sampled images would be 120 tiles per method: the maps show SAMPLES_SHOWN of them, each class in turn, in
    their stored order; four samples are all shown."""
    from types import SimpleNamespace

    from analysis.attribution.document import SAMPLES_SHOWN, sample_maps

    samples = [SimpleNamespace(index=i, label=i // 30) for i in range(60)]  # 30 of class 0, then 30 of class 1
    shown = sample_maps(SimpleNamespace(samples=samples))
    assert [s.index for s in shown] == [0, 1, 2, 3, 30, 31, 32, 33] and len(shown) == SAMPLES_SHOWN
    few = [SimpleNamespace(index=i, label=i % 2) for i in range(4)]
    assert sample_maps(SimpleNamespace(samples=few)) == few and sample_maps(None) == []


# -- ROAD's imputation, the numbers behind the means, the options ------------------------------------------------

def dense_imputation(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """ROAD's noiseless linear imputation of one (C, H, W) image, written out pixel by pixel as a dense system:
    each missing pixel times the sum of its neighbours' weights equals the weighted sum of its neighbours."""
    weights = {(1, 1): 1 / 12, (0, 1): 1 / 6, (-1, 1): 1 / 12, (1, -1): 1 / 12, (0, -1): 1 / 6, (-1, -1): 1 / 12,
               (1, 0): 1 / 6, (-1, 0): 1 / 6}
    height, width = missing.shape
    unknown = [(y, x) for y in range(height) for x in range(width) if missing[y, x]]
    place = {pixel: i for i, pixel in enumerate(unknown)}
    out = image.copy()
    for channel in range(image.shape[0]):
        a, b = np.zeros((len(unknown), len(unknown))), np.zeros(len(unknown))
        for i, (y, x) in enumerate(unknown):
            for (dy, dx), w in weights.items():
                if 0 <= y + dy < height and 0 <= x + dx < width:
                    a[i, i] += w
                    if (y + dy, x + dx) in place:
                        a[i, place[(y + dy, x + dx)]] -= w
                    else:
                        b[i] += w * image[channel, y + dy, x + dx]
        for (y, x), value in zip(unknown, np.linalg.solve(a, b)):
            out[channel, y, x] = value
    return out


def test_road_imputation_solves_the_neighbour_equations_and_keeps_known_pixels():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 2, 9, 7))
    missing = rng.random((3, 9, 7)) < np.array([0.2, 0.5, 0.9])[:, None, None]
    imputed = checks.impute(images, missing, np.random.default_rng(1), noise=0.0)
    for image, mask, result in zip(images, missing, imputed):
        np.testing.assert_allclose(result, dense_imputation(image, mask), atol=1e-10)
        np.testing.assert_array_equal(result[:, ~mask], image[:, ~mask])
    # a plane inside the image is its own imputation (each pixel the mean of symmetric neighbours)
    y, x = np.mgrid[0:9, 0:7]
    plane = (0.3 * y - 0.2 * x + 1.0)[None, None]
    inside = np.zeros((1, 9, 7), dtype=bool)
    inside[0, 2:7, 2:5] = True
    np.testing.assert_allclose(checks.impute(plane, inside, np.random.default_rng(0), 0.0), plane, atol=1e-12)
    # the noise: seeded, on the imputed pixels only, of the stated spread
    noisy = checks.impute(images, missing, np.random.default_rng(1), noise=0.5)
    again = checks.impute(images, missing, np.random.default_rng(1), noise=0.5)
    np.testing.assert_array_equal(noisy, again)
    spread = (noisy - imputed).transpose(1, 0, 2, 3)[:, missing].std()
    assert 0.4 < spread < 0.6 and np.array_equal(noisy[:, :, ~missing[0]][0], images[0][:, ~missing[0]])


def test_road_curves_are_the_probabilities_on_the_imputed_images(trained, monkeypatch):
    monkeypatch.setattr(checks, "ROAD_NOISE", 0.0)
    images, labels, _ = cue_images(3, seed=7)
    x = normalised(images)
    targets = torch.from_numpy(labels)
    maps = np.random.default_rng(2).random((3, SIDE, SIDE))
    ranks = checks.map_ranks(maps)
    morf, lerf = checks.road_curves(trained, x, targets, ranks, seed=0, batch_size=5)
    for i in range(3):
        for k, fraction in enumerate(checks.ROAD_FRACTIONS):
            count = round(fraction * SIDE * SIDE)
            for curve, missing in ((morf, ranks[i] < count), (lerf, ranks[i] >= SIDE * SIDE - count)):
                shown = dense_imputation(x[i].double().numpy(), missing.reshape(SIDE, SIDE))
                with torch.no_grad():
                    p = torch.softmax(trained(torch.from_numpy(shown)[None].float()).double(), 1)[0, labels[i]]
                assert curve[i, k] == pytest.approx(float(p), abs=1e-5)


def test_each_mean_and_interval_is_recomputed_from_the_stored_per_image_numbers(trained, tmp_path):
    document, writer, test, run = attribute(trained, tmp_path)
    try:
        for check in document.checks:
            rows = check.per_image
            # two per class, class by class (labels cycle 0..3): 0, 4, 1, 5, ...
            assert [r.index for r in rows] == [0, 4, 1, 5, 2, 6, 3, 7] and len(rows) == check.images
            pairs = {
                "road": (check.road.score, [r.road for r in rows]),
                "deletion": (check.deletion.difference, [r.deletion_auc - r.deletion_random_auc for r in rows]),
                "insertion": (check.insertion.auc, [r.insertion_auc for r in rows]),
                "rho": (check.randomisation[-1].rank_correlation, [r.rank_correlation for r in rows]),
                "ssim": (check.randomisation[-1].ssim, [r.ssim for r in rows]),
                "object": (check.object_excess, [r.object_share - r.object_area for r in rows]),
                "centre": (check.centre_share, [r.centre_share for r in rows]),
            }
            for name, (stored, values) in pairs.items():
                values = np.asarray(values)
                interval = stats.bootstrap((values,), np.mean, n_resamples=1000, confidence_level=0.95,
                                           method="percentile", random_state=np.random.default_rng(0))
                assert stored.value == pytest.approx(values.mean(), abs=1e-9), (check.method, name)
                assert stored.low == pytest.approx(min(interval.confidence_interval.low, values.mean()), abs=1e-6)
                assert stored.high == pytest.approx(max(interval.confidence_interval.high, values.mean()), abs=1e-6)
            road = np.array([r.road for r in rows])
            assert road.mean() == pytest.approx(np.mean(np.array(check.road.least_relevant_first)
                                                        - np.array(check.road.most_relevant_first)), abs=1e-9)
    finally:
        writer.abort()


def test_the_number_of_check_images_can_be_given(trained, tmp_path):
    assert checks_of(attribute(trained, tmp_path / "a", attribution_images=2)) == (1, 2)
    assert checks_of(attribute(trained, tmp_path / "b", attribution_images=12)) == (3, 12)
    labels = np.arange(40) % 4
    per_class, chosen = __import__("analysis.attribution.document", fromlist=["x"]).check_images(labels, 10**9)
    assert (per_class, len(chosen)) == (1, 4)  # 2·10⁹ MACs over 1·10⁹ a pass: 2 images, 4 at least, one per class


def checks_of(result) -> tuple[int, int]:
    document, writer, _, _ = result
    writer.abort()
    assert "--attribution-images" in document.check_limit
    return document.images_per_class, document.checks[0].images


def test_grad_cam_at_each_activation_layer_when_asked(trained, tmp_path):
    grids = [types.SimpleNamespace(module=name) for name in ("relu1", "pool1", "relu2", "pool2", "gap")]
    activations = types.SimpleNamespace(input=types.SimpleNamespace(index=3, path="images/input.png"), grids=grids)
    document, writer, test, run = attribute(trained, tmp_path, activations=activations,
                                            attribution_layers="activations")
    try:
        # gap's map is 1×1: Grad-CAM reads nothing there
        assert [(m.layer, m.side) for m in document.layer_maps] == [
            ("relu1", [28, 28]), ("pool1", [14, 14]), ("relu2", [14, 14]), ("pool2", [7, 7])]
        for m in document.layer_maps:
            assert m.index == 3 and m.target == document.maps[0].target
            heat = np.load(writer.tmp_dir / array_path(m.path))
            assert heat.shape == (SIDE, SIDE) and heat.max() == 1
            assert m.object_share == pytest.approx(heat[checks.foreground(test[3])].sum() / heat.sum(), rel=1e-5)
        last = np.load(writer.tmp_dir / array_path(document.layer_maps[-1].path))
        main = next(m for m in document.maps if m.method == "gradcam" and m.role == "activation")
        np.testing.assert_allclose(last, np.load(writer.tmp_dir / array_path(main.path)), atol=1e-6)  # pool2: the same
    finally:
        writer.abort()
    plain, writer, _, _ = attribute(trained, tmp_path / "plain", activations=activations)
    writer.abort()
    assert plain.layer_maps == []


def test_road_on_images_of_one_pixel_keeps_one_and_warns_of_nothing():
    import warnings

    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    images = torch.randn(2, 3, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's MatrixRankWarning for a singular system would fail here
        morf, lerf = checks.road_curves(model, images, torch.tensor([0, 1]), np.zeros((2, 1), dtype=np.int64), 0, 4)
    with torch.no_grad():
        plain = torch.softmax(model(images).double(), 1)[[0, 1], [0, 1]].numpy()
    np.testing.assert_allclose(morf, plain[:, None].repeat(4, 1), atol=1e-6)  # nothing to impute: unchanged
    np.testing.assert_allclose(lerf, morf, atol=1e-6)


class TupleOutput(nn.Module):
    """The cue network returning (logits, features), as detection-style and auxiliary-head models do."""

    def __init__(self, inner: CueNet) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x), x.mean()


class DictOutput(TupleOutput):
    """The cue network returning {"logits": ...}, as Hugging Face models do."""

    def forward(self, x):
        return {"logits": self.inner(x), "hidden": x.mean()}


@pytest.mark.slow  # three attributions of the cue network: about 10 s
@pytest.mark.parametrize("wrapper", [TupleOutput, DictOutput])
def test_models_returning_a_tuple_or_a_dict_get_the_maps_and_checks_of_their_logits(trained, tmp_path, wrapper):
    plain, plain_writer, _, _ = attribute(trained, tmp_path / "plain", test_count=8, samples=2)
    wrapped, writer, _, _ = attribute(wrapper(trained).eval(), tmp_path / "wrapped", test_count=8, samples=2)
    try:
        assert [c.method for c in wrapped.checks] == [c.method for c in plain.checks] == ["gradcam",
                                                                                           "integrated_gradients"]
        assert wrapped.checks[0].layer == "inner.pool2"  # the same layer, under the wrapper's name
        for ours, theirs in zip(wrapped.checks, plain.checks):
            assert ours.deletion == theirs.deletion and ours.insertion == theirs.insertion, ours.method
            assert ours.road == theirs.road and ours.object_share == theirs.object_share, ours.method
        for ours, theirs in zip(wrapped.maps, plain.maps):
            assert np.array_equal(np.load(writer.tmp_dir / array_path(ours.path)),
                                  np.load(plain_writer.tmp_dir / array_path(theirs.path))), ours.path
    finally:
        writer.abort()
        plain_writer.abort()
