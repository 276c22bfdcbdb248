"""Both sides of every interpretation rule, on synthetic stores (no torch)."""

import copy

import pytest
from synthetic import (TEST_LABELS, TEST_PREDICTED, VECTORS, documents, embeddings_doc, evaluation_doc,
                       separation_doc, write_store)

from report.render import fmt
from report.render.sections import RULES, run_rules
from report.render.load import load_findings


def edit(path, value):
    """A change to the synthetic documents: set docs[a][b]... = value."""
    def apply(docs):
        target = docs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return apply


def several(*changes):
    def apply(docs):
        for change in changes:
            change(docs)
    return apply


def no_change(docs):
    pass


M, E, A, V, S = "model.json", "evaluation.json", "activations.json", "embeddings.json", "separation.json"
T = "attribution.json"


def _row_copy(order):
    """A row of 14 identical linear layers: more changes than are explained one by one."""
    return {"order": order, "name": "fc1" if order == 0 else f"fc{order + 1}", "type": "Linear", "depth": 1,
            "is_leaf": True, "input_shape": [36], "output_shape": [6], "params": 222, "geometry": {}, "macs": 216}
ROW = (M, "trace", "rows")
# the assignment's own setting: its CNN, fc2 after ReLU, classes named 6 and 7 (the synthetic labels 1 and 2)
COURSE = (edit((M, "model", "source"), "assignment"), edit((V, "layer"), "fc2"),
          edit((E, "class_names"), ["zero", "6", "7"]))

# evaluation.json variants (issue 30): a network at chance, one that avoids the true class at random, the default
# predictions with their labels permuted, and 40 images per class with these recalls (the rest read as the next class)
NEAR_CHANCE = evaluation_doc(predicted=[0, 1, 2] * 10)
AVOIDS_TRUE_CLASS = [1, 2] * 5 + [0, 2] * 5 + [0, 1] * 5
PERMUTED = evaluation_doc(predicted=[(1, 2, 0)[p] for p in TEST_PREDICTED])


def _recalls(*right):
    predicted = [c if i < k else (c + 1) % 3 for c, k in enumerate(right) for i in range(40)]
    return evaluation_doc(labels=[c for c in range(3) for _ in range(40)], predicted=predicted)


def _errors_and_correct(method: int, wrong: int, right: int):
    """The method's check images: ``wrong`` misclassified, then ``right`` correctly classified."""
    images = [{"index": i, "label": 0, "predicted": 1 if i < wrong else 0, "rank_correlation": 0.1, "ssim": 0.2,
               "deletion_auc": 0.3, "deletion_random_auc": 0.4, "insertion_auc": 0.6, "insertion_random_auc": 0.5,
               "road": 0.2, "centre_share": 0.4, "object_share": 0.55, "object_area": 0.35}
              for i in range(wrong + right)]
    return several(edit((T, "checks", method, "per_image"), images), edit((T, "checks", method, "images"), wrong + right))


# rule id -> branch -> (change to the synthetic store, text the note must contain)
CASES = {
    "params.total": {
        "all-trainable": (no_change, "283 parameters, all trainable"),
        "some-frozen": (several(edit((M, "parameters", "trainable"), 243), edit((M, "parameters", "non_trainable"), 40)),
                        "243 trainable and 40 frozen"),
    },
    "params.dominant": {
        "dominates": (no_change, "fc1 alone holds 78.4% of all parameters (222): it connects each of its 36 inputs"),
        "balanced": (several(edit((M, "parameters", "layers", 0, "total"), 200), edit((M, "parameters", "layers", 2, "total"), 100),
                             edit((M, "parameters", "total"), 522)),
                     "No single layer dominates: the largest, fc1, holds 42.5%"),
    },
    "params.conv_vs_dense": {
        "dense-heavy": (no_change, "Convolutions hold 14.1% of the parameters and fully connected layers 85.9%"),
        "conv-heavy": (several(edit((M, "parameters", "layers", 0, "total"), 1000), edit((M, "parameters", "total"), 1243)),
                       "Convolutions hold most of the parameters (80.5%"),
        "conv-more": (several(edit((M, "parameters", "layers", 0, "total"), 300), edit((M, "parameters", "total"), 1000)),
                      "Convolutions hold more of the parameters than fully connected layers (30.0% against 24.3%)"),
    },
    "shapes.step": {
        "conv-valid": (no_change, "conv1: a 3×3 convolution without padding removes 2 pixels from each side length (8 → 6)"),
        "conv-padded": (several(edit((*ROW, 0, "geometry", "padding"), [1, 1]), edit((*ROW, 0, "output_shape"), [4, 8, 8])),
                        "padding 1 and stride 1 makes each side ⌊(8 + 2·1 − 3) / 1⌋ + 1 = 8 pixels and gives 4 channels"),
        "pool-exact": (no_change, "pool1: 2×2 max pooling with stride 2 divides each side by 2 (6 → 3)"),
        "pool-floor": (edit((*ROW, 2, "input_shape"), [4, 7, 7]),
                       "rounds down (7 / 2 = 3.5 → 3): the last row and column are dropped"),
        "pool-padded": (edit((*ROW, 2, "geometry"), {"kernel_size": 3, "stride": 2, "padding": 1}),
                        "pool1: 3×3 max pooling with padding 1 and stride 2 gives ⌊(6 + 2·1 − 3) / 2⌋ + 1 = 3 pixels"),
        "pool-adaptive": (edit((*ROW, 2, "type"), "AdaptiveAvgPool2d"),
                          "pool1: adaptive average pooling always gives 3×3 maps, whatever the input size (6 → 3)"),
        "flatten": (no_change, "flattening turns 4 × 3 × 3 maps into one vector of 36 values"),
        "linear": (no_change, "fc1: a fully connected layer maps 36 features to 6"),
        "unchanged": (no_change, "relu1 and relu2 keep the shape"),
        "other": (several(edit((*ROW, 1, "type"), "Upsample"), edit((*ROW, 1, "output_shape"), [4, 12, 12])),
                  "relu1 (Upsample) changes (4, 6, 6) to (4, 12, 12)"),
    },
    "shapes.gaps": {
        "none": (no_change, "the trace has no gaps."),
        "branch": (edit((*ROW, 4, "input_shape"), [40]),
                   "fc1 takes (40,), not the (36,) that flatten just gave: it is fed from an earlier output, a branch"),
        "functional": (several(edit((*ROW, 4, "input_shape"), [40]), edit((M, "trace", "counting"), "module-hooks")),
                       "Between flatten and fc1 the shape changes from (36,) to (40,) outside any module"),
    },
    "shapes.macs": {
        "complete": (no_change, "The network does 1.53 k (1,530) multiply-accumulates per image. They were counted "
                                "where PyTorch dispatches"),
        "incomplete": (edit((M, "trace", "uncounted"), [{"op": "aten._native_multi_head_attention", "where": "attn",
                                                         "calls": 2}]),
                       "aten._native_multi_head_attention ran without a counting formula (in attn), so the 1.53 k "
                       "(1,530) multiply-accumulates per image are a lower bound"),
        "not-recorded": (several(edit((M, "trace", "counting"), "module-hooks"), edit((M, "trace", "total_macs"), 0)),
                         "This store predates the counting of multiply-accumulates and records none"),
        "hooks": (edit((M, "trace", "counting"), "module-hooks"),
                  "counted 1.53 k (1,530) multiply-accumulates per image with module hooks: Conv and Linear modules only"),
    },
    "shapes.batch": {
        "moved": (edit((*ROW, 1, "output_batch"), 1),
                  "1 call carries the batch in another dimension than the first, such as relu1 ((N, 4, 6, 6) → "
                  "(4, N, 6, 6)): the table writes N where the batch sits."),
        "full": (edit((*ROW, 3, "output_batch"), None),
                 "1 call takes or gives a tensor in which no dimension is the batch alone (in 1 call the batch is "
                 "folded into another dimension or could not be told apart): the table shows those shapes in full, "
                 "marked †."),
    },
    "shapes.output": {
        "logits": (edit((M, "trace", "output_taken"), "its logits field (the forward pass returns a GoogLeNetOutputs)"),
                   "returns more than the class scores; the report reads its logits field (the forward pass returns a "
                   "GoogLeNetOutputs)."),
        "first": (edit((M, "trace", "output_taken"), "its first element (the forward pass returns a tuple of 2)"),
                  "names none of them logits; the report reads its first element (the forward pass returns a tuple of "
                  "2) as the class scores"),
    },
    "params.unused": {
        "unused": (several(edit((M, "parameters", "unused"), 222), edit((M, "parameters", "layers", 1, "executed"), False),
                           edit((M, "parameters", "layers", 1, "read"), False)),
                   "222 of the 283 parameters (78.4%) are never read at inference: the layers in fc1 do not run in "
                   "eval mode (auxiliary heads, for example, serve only training). They are counted in the total and "
                   "marked “not executed” in the table; inference uses 61."),
        "read-by-parent": (edit((M, "parameters", "layers", 2, "executed"), False),
                           "fc2 is never called as a module: the parent reads the weights itself"),
    },
    "kernels.shape": {
        "single-input": (no_change, "conv1 has 4 kernels of shape (1, 3, 3): each is one 3×3 filter"),
        "multi-input": (edit((M, "kernels", 0, "shape"), [8, 4, 3, 3]), "each spans all 4 input channels"),
        "grouped": (several(edit((M, "kernels", 0, "shape"), [8, 1, 3, 3]), edit((M, "kernels", 0, "groups"), 8)),
                    "conv1 is a grouped convolution (8 groups): each of its 8 kernels of shape (1, 3, 3) sees only 1 "
                    "of the input channels (depthwise: one channel each)"),
        "many-layers": (edit((M, "kernels"), [{"name": f"c{i}", "type": "Conv2d", "shape": [4, 4, k, k], "groups": 1}
                                              for i, k in enumerate((7, 3, 3, 3, 1))]),
                        "The network has 5 convolution layers; kernel sizes (layers): 3×3 (3), 7×7 (1) and 1×1 (1). "
                        "The first: c0 has 4 kernels"),
    },
    "maps.input": {
        "correct": (no_change, "test image #12, a two; the network classifies it as two with 95.0% confidence"),
        "wrong": (edit((A, "input", "predicted"), 1), "a two, but the network predicts one"),
    },
    "maps.dead": {
        "no-maps": (edit((A, "grids"), []), "TinyCNN runs no Conv2d layer, so there are no activation maps to show"),
        "none": (no_change, "conv1 after ReLU: all 4 maps respond somewhere to this input. 50.0% of the pixels are "
                            "exactly zero, that is, no response there."),
        "some": (several(edit((A, "grids", 0, "dead_channels"), [1, 3]), edit((A, "grids", 0, "near_zero_channels"), [2])),
                 "2 of 4 maps (50.0%) are zero everywhere for this input (channels 1 and 3). 50.0% of the pixels are "
                 "exactly zero, that is, no response there. 1 more responds only weakly: its strongest value is "
                 "below 5% of the layer's strongest (channel 2)."),
    },
    "maps.pool_peak": {
        "kept": (no_change, "pool1 shares relu1's colour scale maximum (2.000)"),
        "dropped": (edit((A, "grids", 1, "vmax"), 1.5), "pool1's maximum (1.500) is below relu1's (2.000)"),
    },
    "embeddings.compactness": {
        "one-tighter": (no_change, "Among the sampled images, class one lies closest together in the fc1 embedding: its "
                                   "mean intra-class MSE is 0.01167, 11.3× smaller"),
        "similar": (edit((V,), embeddings_doc(vectors=[[0, 0], [1, 1], [5, 5], [6.04, 6.04]])),
                    "about equally compact"),
    },
    "embeddings.separation": {
        "separated": (no_change, "every inter-class pair is farther apart than every intra-class pair"),
        "not-separated": (edit((V,), embeddings_doc(vectors=[[0, 0], [9, 9], [4, 4], [5, 5.5]])),
                          "does not separate these samples"),
        "no-separation": (edit((V,), embeddings_doc(vectors=[[0.2, 1.8], [0.5, 2.3], [2.8, 1.6], [0.0, 0.2]])),
                          "Between the 4 samples (2 per class), inter- and intra-class distances are about the same "
                          "(mean MSE"),
    },
    "embeddings.sample_size": {
        "anecdotal": (no_change, "Caution: with 2 samples per class (2 intra-class pairs in all)"),
        "adequate": (edit((V, "per_class"), 40), "The means rest on 40 samples per class"),
    },
    "embeddings.metrics": {
        "agree": (no_change, "all agree on whether inter-class distances are larger than intra-class ones for these "
                             "samples (they are)"),
        "disagree": (edit((V,), embeddings_doc(vectors=[[1, 0], [9, 0], [1, 1], [9, 9]])),
                     "The metrics disagree: cosine distance reaches the opposite conclusion to MSE"),
    },
    "embeddings.zeros": {
        "some": (no_change, "On average 37.5% of the 6 fc1 dimensions are exactly zero after ReLU"),
        "none": (edit((V,), embeddings_doc(vectors=[[1, 2], [1, 3], [7, 1], [8, 1]])), "No dimension of the fc1"),
    },
    "embeddings.predictions": {
        "all-correct": (no_change, "classifies all 4 samples correctly"),
        "some-wrong": (edit((V,), embeddings_doc(predicted=[1, 2, 2, 2])), "1 of 4 samples is misclassified: #11 (a one, predicted two); distances involving it"),
    },
    "embeddings.course_report": {
        "reproduces": (several(*COURSE), "The course report measured MSE 110.5971 within the 6s, 225.5673 within the 7s "
                                         "and 1619.8328 between a 6 and a 7; this checkpoint gives 0.01167, 0.1317 and "
                                         "4.715. Absolute distances depend on the training run and on the scale of the "
                                         "activations, so only the orderings can carry over: intra-class distances are "
                                         "smaller than the inter-class one, as in the course report; the sampled 6s "
                                         "lie closer together than the sampled 7s, as in the course report."),
        "partly": (several(edit((V,), embeddings_doc(vectors=[VECTORS[2], VECTORS[3], VECTORS[0], VECTORS[1]])), *COURSE),
                   "the sampled 7s lie closer together than the sampled 6s, unlike in the course report"),
        "differs": (several(edit((V,), embeddings_doc(vectors=[[0, 0], [9, 9], [4, 4], [4.1, 4.1]])), *COURSE),
                    "intra-class distances are not all smaller than the inter-class one, unlike in the course report"),
    },
    "accuracy.overall": {  # issue 30: the regime from the balanced accuracy's interval against 1/K
        "learned": (no_change, "The network classifies 90.0% (95% CI 74.4–96.5%) of the 30 test images correctly "
                               "(3 errors); its balanced accuracy, the mean recall over the 3 classes of the test "
                               "split, is 90.0% (95% CI 74.4–96.5%), above chance (1/3 = 33.3%)"),
        "perfect": (edit((E,), evaluation_doc(predicted=TEST_LABELS)),
                    "all 30 test images correctly. With 30 images this establishes an accuracy of at least 88.6% (95% "
                    "Wilson interval 88.6–100.0%), not 100%"),
        "near-chance": (edit((E,), NEAR_CHANCE),
                        "40.0% (95% CI 24.6–57.7%) of the 30 test images correctly (18 errors); its balanced "
                        "accuracy, the mean recall over the 3 classes of the test split, is 40.0% (95% CI "
                        "24.6–57.7%), an interval that contains chance (1/3 = 33.3%): the network has not learned"),
        "below-chance": (edit((E,), evaluation_doc(predicted=AVOIDS_TRUE_CLASS)),
                         "below chance (1/3 = 33.3%): the network is systematically wrong; the best one-to-one "
                         "relabelling of its predictions reaches 50.0% (95% CI 33.2–66.8%) in balanced accuracy, not "
                         "clearly above what the same search finds for a network that avoids the true class at random "
                         "(about 1/2)"),
        "permuted": (edit((E,), PERMUTED),
                     "Relabelling its predictions one-to-one would make 90.0% (95% CI 74.4–96.5%) of them right, with "
                     "a balanced accuracy of 90.0% (95% CI 74.4–96.5%): the labels look permuted. The network "
                     "predicts class one for class zero (10 of its 10 images), class two for class one (9 of its 10 "
                     "images) and class zero for class two (8 of its 10 images)."),
        "unknown": (edit((E,), evaluation_doc(quality=False)),
                    "90.0% of the 30 test images correctly (3 errors). This store was written before intervals"),
        "one-class": (edit((E,), evaluation_doc(labels=[0] * 30, predicted=[0] * 28 + [1] * 2)),
                      "The test split holds a single class, so no accuracy can show"),
    },
    "accuracy.classes": {
        "too-small": (no_change, "No class is called weaker or stronger than another: all 3 classes of the test "
                                 "split have fewer than 20 test images"),
        "weakest-and-strongest": (edit((E,), _recalls(40, 30, 10)),
                                  "Class two is the weakest: its recall 25.0% (95% CI 14.2–40.2%) on its 40 test "
                                  "images lies below every other class's interval. Class zero is the strongest"),
        "weakest": (edit((E,), _recalls(38, 37, 10)), "Class two is the weakest: its recall 25.0% (95% CI "
                                                      "14.2–40.2%) on its 40 test images lies below every other "
                                                      "class's interval. No class is reliably the strongest"),
        "strongest": (edit((E,), _recalls(40, 25, 24)), "Class zero is the strongest: its recall 100.0% (95% CI "
                                                        "91.2–100.0%) on its 40 test images lies above every other "
                                                        "class's interval. No class is reliably the weakest"),
        "none-established": (edit((E,), _recalls(36, 34, 32)),
                             "No class is reliably weaker or stronger than the others: the lowest recall (two, "
                             "80.0%, 95% CI 65.2–89.5%) and the highest (zero, 90.0%, 95% CI 76.9–96.0%)"),
    },
    "accuracy.predictions": {
        "spread": (no_change, "Every class of the test split is predicted at least once; the most predicted, class one, "
                              "takes 36.7% of the predictions and is 33.3% of the test labels."),
        "never-predicted": (edit((E,), evaluation_doc(predicted=TEST_LABELS[:20] + [1] * 10)),
                            "Class two is never predicted: no test image is classified as two, so all 10 of its test "
                            "images are misclassified (recall 0.0%, 95% CI 0.0–27.8%)."),
        "collapsed": (edit((E,), evaluation_doc(predicted=[0] * 30)),
                      "The predictions collapse onto one class, zero: it is predicted for 30 of the 30 test images "
                      "(100.0%, 95% CI 88.6–100.0%), though it is 33.3% of the test labels; 2 of the 3 classes of "
                      "the test split (one and two) are never predicted."),
    },
    "accuracy.calibration": {
        "neither": (no_change, "Over 15 equal-width confidence bins, the expected calibration error is 15.0% (95% CI "
                               "11.7–21.7%, from 1,000 bootstrap resamples of the images). The mean confidence, 87.0%, "
                               "falls short of the accuracy by 3.0 points, but mean confidence minus accuracy has a "
                               "95% CI of −7.7 to 6.3 points, which contains 0: neither over- nor underconfidence is "
                               "established."),
        "overconfident": (edit((E,), evaluation_doc(predicted=[0, 1, 2] * 10, confidence=[0.9] * 30)),
                          "exceeds the accuracy by 50.0 points (95% CI 33.3 to 66.7): the network is overconfident."),
        "underconfident": (edit((E,), evaluation_doc(predicted=TEST_LABELS, confidence=[0.5] * 30)),
                           "falls short of the accuracy by 50.0 points (95% CI 50.0 to 50.0): the network is "
                           "underconfident."),
    },
    "accuracy.training": {
        "external": (no_change, "carries no training record"),
        "untrained": (edit((M, "model", "weights"), "random (seed 3)"),
                      "There is no checkpoint: the weights are random (seed 3), never trained."),
        "recorded": (edit((E, "training"), {"config": {"epochs": 3, "seed": 0, "threads": 2}, "seconds": 4.2,
                                            "n_train": 400, "n_test": 30, "test_accuracy": 0.9}),
                     "trained by this tool for 3 epochs on 400 images in 4.20 s"),
    },
    "accuracy.non_finite": {  # issue 29: NaN or infinite outputs are stated, with how many images
        "scores": (edit((E, "non_finite_scores"), 4),
                   "4 of the 30 test images get NaN or infinite scores from the network: their scores cannot rank "
                   "the classes"),
        "embeddings": (edit((E, "non_finite_embeddings"), 6),
                       "The network's scores are finite, but 6 of the 30 test images have NaN or infinite values in "
                       "their embedding, and every whole-split statistic of the embedding"),
        "both": (several(edit((E, "non_finite_scores"), 30), edit((E, "non_finite_embeddings"), 30), edit((S,), None)),
                 "fewer than two images have a finite embedding, so the whole-split sections are left out"),
    },
    "separation.overall": {
        # issue 30: the ratio names its distance (MSE is a squared one), the silhouette its distance, and the
        # nearest-centroid accuracy leaves each image out of its own centroid, with its interval
        "strong": (no_change, "Over all 30 test images, the fc1 embedding separates the classes well: the ratio of mean "
                              "inter- to mean intra-class distance is 1.6× in Euclidean distance (2.6× in MSE, a "
                              "squared distance), the silhouette on Euclidean distance (from −1 to 1: how much closer "
                              "each image lies to its own class than to the nearest other) is 0.60 (0.60 on squared "
                              "Euclidean distance, which MSE is up to a constant factor), and assigning each image to "
                              "the nearest class centroid, its own class's centroid recomputed without it, is right for "
                              "86.7% (95% CI 70.3–94.7%) of the 30 images judged (the network itself: 90.0%)"),
        "moderate": (edit((S,), separation_doc(silhouettes=(0.1, 0.2, 0.3))), "separates the classes moderately"),
        "none": (edit((S,), separation_doc(silhouettes=(0.1, 0.0, -0.07))),
                 "the fc1 embedding does not separate the classes: the ratio of mean inter- to mean intra-class "
                 "distance is 1.6× in Euclidean distance"),
        "weak": (edit((S,), separation_doc(silhouettes=(0.1, 0.2, 0.1))),
                 "separates the classes weakly: the ratio of mean inter- to mean intra-class distance is 1.6× in "
                 "Euclidean distance (2.6× in MSE, a squared distance)"),
    },
    "separation.compactness": {
        # issue 30: classes of fewer than 20 test images are not ranked (the synthetic store has 10 each)
        "too-few-images": (no_change, "Over all 30 test images, 3 of the 3 classes have fewer than 20 test images, "
                                      "too few to rank the classes by spread"),
        "distinct": (edit((S,), separation_doc(images=20)),
                     "class zero has the smallest spread (mean intra-class MSE 0.6000, 95% interval "
                     "0.5000–0.7000) and class two the largest (1.300, 1.200–1.400). Both hold beyond "
                     "sampling noise"),
        "one-end": (edit((S,), separation_doc(ci=((0.5, 0.7), (0.9, 1.3), (1.2, 1.4)), images=20)),
                    "Only class zero's interval is clear of every other class's, so only it is established as the "
                    "smallest; class two's overlaps class one's, so the largest spread is not established."),
        "overlapping": (edit((S,), separation_doc(ci=((0.5, 1.3), (0.9, 1.1), (1.2, 1.4)), images=20)),
                        "neither end of this ranking is established"),
    },
    "separation.closest": {
        "confused-elsewhere": (no_change, "Relative to their spread, the closest classes are zero and one: the mean "
                                          "distance between them over their average distance within a class is 1.6× "
                                          "in Euclidean distance (2.5× in MSE, a squared distance); pairs are ranked "
                                          "by the MSE ratio. The figure shows, for each, the image lying nearest to the other class's "
                                          "centroid: the place to look for shared strokes or shapes. The pair the "
                                          "network confuses most, one–two (2 errors), is not among the closest "
                                          "pairs shown"),
        "also-confused": (edit((S,), separation_doc(confusion=[[8, 2, 0], [0, 9, 1], [0, 0, 10]])),
                          "It is also the pair the network confuses most (2 errors)."),
        "confused-among-closest": (edit((S, "closest_pairs"), [
            {"a": 0, "b": 2, "ratio": 2.0, "inter_mean": 2.0, "examples": []},
            {"a": 1, "b": 2, "ratio": 2.5, "inter_mean": 2.5, "examples": []}]),
            "The pair the network confuses most, one–two (2 errors), is among the closest pairs shown."),
        "no-confusion": (edit((S,), separation_doc(confusion=[[10, 0, 0], [0, 10, 0], [0, 0, 10]])),
                         "The network confuses no pair of classes."),
        # every pair shown (3 classes, 3 pairs): "among the closest pairs shown" would hold of any pair
        "confused-ranked": (edit((S, "closest_pairs"), [
            {"a": 0, "b": 1, "ratio": 1.5, "inter_mean": 1.5, "examples": []},
            {"a": 0, "b": 2, "ratio": 2.0, "inter_mean": 2.0, "examples": []},
            {"a": 1, "b": 2, "ratio": 2.5, "inter_mean": 2.5, "examples": []}]),
            "The pair the network confuses most, one–two (2 errors), ranks 3rd of the 3 pairs by closeness, the "
            "closest first: closeness in this embedding is not the whole story."),
    },
    "separation.two_sample": {  # issue 30: one decision table on the whole split's intervals
        "agrees": (edit((S,), separation_doc(images=20)),
                   "the sampled reading of classes one and two from 2 samples per class is borne out (with "
                              "2 samples per class the samples could have been right by luck): the samples found class "
                              "one more compact"),
        "confirms": (several(edit((V, "per_class"), 40), edit((S,), separation_doc(images=20))), "the sampled reading of classes one and two from 40 samples per "
                                                 "class is confirmed"),
        "contradicts": (edit((S,), separation_doc(two_sample_full=(1.4, 1.0), ci=((0.5, 0.7), (1.3, 1.5), (0.9, 1.1)),
                                                  images=20)),
                        "is contradicted: the samples found class one more compact (0.01167 against 0.1317) and "
                        "pairs across one and two farther apart on average (4.715) than pairs within either class; "
                        "over all images class two is the more compact (1.000, 95% interval 0.9000–1.100, against 1.400, 95% interval "
                        "1.300–1.500: the intervals do not overlap), the reverse of the samples"),
        "not-established": (edit((S,), separation_doc(ci=((0.5, 0.7), (0.9, 1.3), (1.2, 1.4)), images=20)),
                            "is not established in full: the samples found class one more compact (0.01167 against "
                            "0.1317) and pairs across one and two farther apart on average (4.715) than pairs "
                            "within either class; over all images the spreads of one (0.6000, 95% interval 0.9000–1.300) and two (1.000, 95% "
                            "interval 1.200–1.400) have overlapping intervals, so which class is more compact is not "
                            "established"),
    },
    "separation.depth": {
        "grows": (no_change, "Separation grows with depth (silhouette on squared Euclidean distance: layer 0 0.10 → "
                             "layer 1 0.30 → layer 2 0.60): the last layer's silhouette exceeds the first's by 0.50, "
                             "more than 0.02, and no layer lowers it by more than 0.02."),
        "grows-unevenly": (edit((S,), separation_doc(silhouettes=(0.1, 0.05, 0.6))),
                           "it falls by more than 0.02 at layer 1"),
        "flat": (edit((S,), separation_doc(silhouettes=(0.30, 0.29, 0.31))),
                 "Separation is about the same at the last layer as at the first"),
        "does-not-grow": (edit((S,), separation_doc(silhouettes=(0.4, 0.3, 0.2))),
                          "Separation falls with depth (silhouette on squared Euclidean distance: layer 0 0.40 → layer 1 "
                          "0.30 → layer 2 0.20): the last layer's silhouette is 0.20 below the first's, more than 0.02, so "
                          "by this measure the last layer separates the classes less well than the first."),
        # issue 30: -0.053 → -0.021 → -0.028 was called growth; no positive silhouette is no separation anywhere
        "separates-nowhere": (edit((S,), separation_doc(silhouettes=(-0.053, -0.021, -0.028))),
                              "The classes do not separate at any layer measured (silhouette on squared Euclidean "
                              "distance: layer 0 −0.053 → layer 1 −0.021 → layer 2 −0.028): no silhouette is positive"),
    },
    "separation.filters": {
        "none-dead": (no_change, "No filter is dead: every filter in relu1 is positive somewhere for more than 1% of "
                                 "the 30 test images"),
        # issue 30: --layers chooses activation maps, not filter statistics: the advice names what does
        "not-activated": (edit((S,), separation_doc(activated=False)),
                          "To count dead filters at ReLU outputs such as relu1 and relu2, declare them as "
                          "filter_layers in the model's report_hints"),
        "functional-activations": (several(edit((S,), separation_doc(activated=False)),
                                           edit((M, "trace", "rows", 1, "type"), "Identity"),
                                           edit((M, "trace", "rows", 5, "type"), "Identity")),
                                   "the network has no ReLU module, and filter statistics are taken at module outputs"),
        # a GELU output marked activated by an older analysis: never positive is not dead there
        "no-zero-activation": (several(edit((S,), separation_doc(dead=(2,))),
                                       edit((M, "trace", "rows", 1, "type"), "GELU"),
                                       edit((M, "trace", "rows", 5, "type"), "GELU")),
                               "the network's activations (GELU) give negative values, not zero, where a unit is "
                               "silent"),
        "dead": (edit((S,), separation_doc(dead=(2,))), "1 filter is dead, zero for at least 99% of the test images "
                                                         "(relu1: filter 2); 1 more is near-dead. Its weights"),
    },
    "separation.errors": {
        "some": (no_change, "3 of 30 test images are misclassified. The most confident error is #5, a zero read as one "
                            "with 80.0% confidence"),
        "none": (edit((S,), separation_doc(misclassified=False)), "The network misclassifies none of the 30 test images."),
    },
    # attribution.json (synthetic.attribution_doc): checks 0 is Grad-CAM at conv1, checks 1 Integrated Gradients
    "attribution.untrained": {
        "random-weights": (edit((M, "model", "weights"), "random (seed 0)"),
                           "These maps describe an untrained network (random weights, seed 0): the checks below say "
                           "nothing about learned features."),
        "near-chance": (edit((E,), NEAR_CHANCE), "is not distinguishable from chance (33.3%, one in 3 classes): these "
                                                 "maps describe a network that has not learned the task"),
        # a network that gets the task right while barely more confident than a uniform guess (1/3): 0.36 < 0.4
        "flat-outputs": (edit((E, "confidence"), [0.36, 0.35, 0.37] * 10),
                         "The network is barely more confident than a uniform guess: its mean confidence over the "
                         "test split is 36.0% (95% CI 35.7–36.3%), entirely below 40.0% (a tenth of the way from the "
                         "33.3% of a uniform guess over 3 outputs to certainty): its outputs hardly depend on the "
                         "image, so these maps describe a network that has hardly learned, and the checks below say "
                         "nothing about learned features."),
    },
    "attribution.randomisation": {
        "passes": (no_change,
            "Grad-CAM at conv1, randomisation: with every layer re-drawn (down to conv1), its maps' "
            "rank correlation with the trained network's is 0.10 (95% CI 0.00 to 0.20) on 6 images, "
            "entirely below 0.5: the maps change when the learned weights are gone."),
        "fails": (no_change,
            "Integrated Gradients, randomisation: with every layer re-drawn (down to conv1), its "
            "maps' rank correlation with the trained network's is 0.70 (95% CI 0.60 to 0.80) on 6 "
            "images, entirely above 0.5: the maps survive the randomisation of the weights, so they "
            "do not reflect what the network learned."),
        "undecided": (edit((T, "checks", 1, "randomisation", -1, "rank_correlation"),
                           {"value": 0.5, "low": 0.45, "high": 0.55}),
            "Integrated Gradients, randomisation: with every layer re-drawn (down to conv1), its "
            "maps' rank correlation with the trained network's is 0.50 (95% CI 0.45 to 0.55) on 6 "
            "images; the interval holds 0.5, so these images cannot tell whether the maps depend on "
            "the learned weights."),
    },
    "attribution.deletion": {
        "faithful": (no_change,
            "Grad-CAM at conv1, deletion: faithful on 6 images — removing its highest-ranked pixels "
            "first (set to the mean pixel of the training split) lowers the class's probability "
            "faster than a random order: area 0.38 against 0.54, difference −0.12 (95% CI −0.20 to "
            "−0.05), entirely below 0."),
        "no-better": (no_change,
            "Integrated Gradients, deletion: its maps' order cannot be told apart from a random "
            "order on these 6 images: area 0.50 against 0.50, difference 0.01 (95% CI −0.03 to "
            "0.05), an interval that holds 0."),
    },
    "attribution.insertion": {
        "faithful": (no_change,
            "Integrated Gradients, insertion: faithful on 6 images — revealing its highest-ranked "
            "pixels first (from the mean pixel of the training split) raises the class's probability "
            "faster than a random order: area 0.69 against 0.50, difference 0.10 (95% CI 0.04 to "
            "0.16), entirely above 0."),
        "no-better": (no_change,
            "Grad-CAM at conv1, insertion: its maps' order cannot be told apart from a random order "
            "on these 6 images: area 0.57 against 0.54, difference 0.03 (95% CI −0.02 to 0.08), an "
            "interval that holds 0."),
    },
    "attribution.object": {
        "object": (no_change,
            "Grad-CAM at conv1, object: 55.0% (95% CI 45.0–65.0%) of its maps' mass lies on the "
            "object (pixels unlike the image's border), 20.0 points (95% CI 10.0 to 30.0) over the "
            "object's share of the area, entirely above 0: the evidence favours the object."),
        "background": (no_change,
            "Integrated Gradients, object: 25.0% (95% CI 20.0–30.0%) of its maps' mass lies on the "
            "object (pixels unlike the image's border), −10.0 points (95% CI −20.0 to −2.0) over the "
            "object's share of the area, entirely below 0: the evidence favours the background."),
        "no-contrast": (edit((T, "checks", 0, "per_image"), [
            {"index": i, "label": 0, "predicted": 0, "rank_correlation": 0.1, "ssim": 0.2, "deletion_auc": 0.3,
             "deletion_random_auc": 0.4, "insertion_auc": 0.6, "insertion_random_auc": 0.5, "road": 0.2,
             "centre_share": 0.4, "object_share": 1.0, "object_area": area} for i, area in enumerate((1.0, 0.99))]),
            "Grad-CAM at conv1, object: the object (pixels unlike the image's border) covers at least 98% of every "
            "check image, so these images cannot show whether its maps favour the object or the background; 55.0% "
            "(95% CI 45.0–65.0%) of their mass lies on it."),
        "undecided": (edit((T, "checks", 0, "object_excess"), {"value": 0.05, "low": -0.01, "high": 0.11}),
            "Grad-CAM at conv1, object: 55.0% (95% CI 45.0–65.0%) of its maps' mass lies on the "
            "object (pixels unlike the image's border), 5.0 points (95% CI −1.0 to 11.0) over the "
            "object's share of the area; the interval holds 0, so these images cannot say whether "
            "the evidence favours the object or the background."),
    },
    "attribution.centre": {
        "centre": (no_change,
            "Grad-CAM at conv1, centre: 40.0% (95% CI 30.0–50.0%) of its maps' mass lies in the "
            "central quarter of the area, entirely above the 25% of an even spread: the evidence "
            "gathers in the centre."),
        "edges": (edit((T, "checks", 0, "centre_share"), {"value": 0.1, "low": 0.05, "high": 0.2}),
            "Grad-CAM at conv1, centre: 10.0% (95% CI 5.0–20.0%) of its maps' mass lies in the "
            "central quarter of the area, entirely below the 25% of an even spread: the evidence "
            "lies towards the edges."),
        "undecided": (no_change,
            "Integrated Gradients, centre: 26.0% (95% CI 20.0–30.0%) of its maps' mass lies in the "
            "central quarter of the area; the interval holds the 25% of an even spread, so these "
            "images cannot say whether the evidence favours the centre."),
    },
    "attribution.errors": {
        "less-on-object": (_errors_and_correct(0, 5, 5),
            "Grad-CAM at conv1, errors: the misclassified check images' maps put less of their mass "
            "on the object than the correctly classified ones', −15.0 points (95% CI −30.0 to −5.0), "
            "an interval that excludes 0."),
        "more-on-object": (several(edit((T, "checks", 1, "errors_vs_correct"), {"value": 0.2, "low": 0.1, "high": 0.3}),
                                   _errors_and_correct(1, 5, 6)),
            "Integrated Gradients, errors: the misclassified check images' maps put more of their "
            "mass on the object than the correctly classified ones', 20.0 points (95% CI 10.0 to "
            "30.0), an interval that excludes 0."),
        "undecided": (several(edit((T, "checks", 0, "errors_vs_correct"), {"value": 0.05, "low": -0.1, "high": 0.2}),
                              _errors_and_correct(0, 6, 5)),
            "Grad-CAM at conv1, errors: the share of the maps' mass on the object, misclassified less "
            "correctly classified check images, is 5.0 points (95% CI −10.0 to 20.0), an interval that "
            "holds 0: these images cannot say whether the errors look elsewhere."),
        # an interval is stored from 2 of each, but from 4 errors it is not read (ERRORS_EACH)
        "too-few": (_errors_and_correct(0, 4, 6),
            "Grad-CAM at conv1, errors: 4 of the 10 check images are misclassified and 6 correctly "
            "classified; comparing where the errors' maps look with the correct answers' needs 5 of each."),
    },
    "attribution.road": {
        "faithful": (no_change,
            "Grad-CAM at conv1, ROAD: with 20%, 40%, 60%, 80% of the pixels imputed from their "
            "neighbours (not set to a constant), the class keeps 0.20 (95% CI 0.10 to 0.30) more "
            "probability on average when its least relevant pixels go than when its most relevant ones "
            "do, on 6 images, entirely above 0: the pixels its maps rank first carry the evidence, also "
            "when the removal leaves no visible hole."),
        "no-better": (no_change,
            "Integrated Gradients, ROAD: with 20%, 40%, 60%, 80% of the pixels imputed from their "
            "neighbours (not set to a constant), the class keeps 0.02 (95% CI −0.05 to 0.09) more "
            "probability on average when its least relevant pixels go than when its most relevant ones "
            "do, on 6 images; the interval holds 0, so these images cannot tell its most relevant pixels "
            "from its least relevant ones."),
        "negligible": (edit((T, "checks", 1, "road", "score"), {"value": 0.02, "low": 0.01, "high": 0.03}),
            "entirely above 0 but within 0.05 of it: too little to matter."),
    },
    "attribution.verdict": {
        "believe": (no_change,
            "Verdict on Grad-CAM at conv1: its maps can be believed for images like these — they change "
            "when the learned weights are re-drawn, and the pixels they rank first move the class's "
            "probability more than others (2 of 3 faithfulness checks passed: deletion and ROAD)."),
        "do-not-believe": (no_change,
            "Verdict on Integrated Gradients: do not believe its maps — they survive the randomisation "
            "of the weights, so they show the image more than the network (1 of 3 faithfulness checks "
            "passed: insertion)."),
        "untrained": (edit((M, "model", "weights"), "random (seed 0)"),
            "Verdict on Grad-CAM at conv1: do not read these maps as what a network learned — the "
            "network is untrained (random weights), so they show how its weights respond to the image, not "
            "evidence it learned to use."),
        "undecided": (edit((T, "checks", 1, "randomisation", -1, "rank_correlation"),
                           {"value": 0.5, "low": 0.45, "high": 0.55}),
            "Verdict on Integrated Gradients: not settled — the randomisation check is undecided on "
            "these images; 1 of 3 faithfulness checks passed: insertion."),
        "unsupported": (several(edit((T, "checks", 0, "road"), None),
                                edit((T, "checks", 0, "deletion", "difference"),
                                     {"value": -0.01, "low": -0.05, "high": 0.03})),
            "Verdict on Grad-CAM at conv1: read its maps with caution — they change when the weights are "
            "re-drawn, but no faithfulness check shows that the pixels they rank first matter more than "
            "others (0 of 2 faithfulness checks passed)."),
    },
}


def notes_for(tmp_path, change):
    docs = copy.deepcopy(documents())
    change(docs)
    return run_rules(load_findings(write_store(tmp_path / "stores", docs)))


@pytest.mark.parametrize("rule, branch", [(r, b) for r, branches in CASES.items() for b in branches])
def test_rule_branch(tmp_path, rule, branch):
    change, text = CASES[rule][branch]
    notes = [n for n in notes_for(tmp_path, change) if n.rule == rule]
    fired = {}
    for note in notes:
        fired.setdefault(note.branch, []).append(note.text)
    assert branch in fired, f"{rule}: expected branch {branch}, got {sorted(fired)}"
    assert any(text in note for note in fired[branch]), fired[branch]


def test_every_rule_has_cases_for_two_branches(tmp_path):
    """Completeness: a rule added to RULES without test cases fails here."""
    produced = {}
    for rule, branches in CASES.items():
        for change, _ in branches.values():
            for note in notes_for(tmp_path / rule, change):
                produced.setdefault(note.rule, set()).add(note.branch)
    assert set(produced) == set(CASES)
    assert all(len(branches) >= 2 for branches in CASES.values())
    rule_modules = {f"{fn.__module__}.{fn.__name__}" for fn in RULES}
    assert len(rule_modules) == len(RULES) == 42


def test_a_training_of_one_epoch_on_one_thread_is_said_in_the_singular(tmp_path):
    record = {"config": {"epochs": 1, "seed": 0, "threads": 1}, "seconds": 1.9, "n_train": 400, "n_test": 30,
              "test_accuracy": 0.9}
    notes = {n.rule: n.text for n in notes_for(tmp_path, edit((E, "training"), record))}
    assert "trained by this tool for 1 epoch on 400 images in 1.90 s (seed 0, 1 thread)." in notes["accuracy.training"]


def test_text_changes_with_the_numbers(tmp_path):
    before = {n.rule: n.text for n in notes_for(tmp_path / "a", no_change)}
    after = {n.rule: n.text for n in notes_for(tmp_path / "b", edit((V,), embeddings_doc(
        vectors=[[2, 0, 2, 1, 0, 1], [1, 0, 2, 0.4, 0, 1], [4, 3, 0, 0, 2, 0], [3, 3, 0, 0, 2.5, 0]])))}
    assert before["embeddings.separation"] != after["embeddings.separation"]
    assert before["embeddings.compactness"] != after["embeddings.compactness"]


def test_raw_outputs_do_not_count_zero_pixels(tmp_path):
    notes = [n for n in notes_for(tmp_path, edit((A, "grids", 0, "vmin"), -1.5)) if n.rule == "maps.dead"]
    assert notes[0].text == "conv1 after ReLU: all 4 maps respond somewhere to this input."
    assert notes[0].evidence["activated"] is False


def test_random_weights_say_what_distances_describe(tmp_path):
    notes = {n.rule: n.text for n in notes_for(tmp_path, edit((M, "model", "weights"), "random (seed 0)"))}
    for rule in ("embeddings.separation", "separation.overall"):
        assert notes[rule].endswith("With random weights this describes the initialisation, not anything learned.")
    at_chance = {n.rule: n.text for n in notes_for(tmp_path / "c", edit((E,), NEAR_CHANCE))}
    assert at_chance["separation.overall"].endswith("The network's balanced accuracy is not distinguishable from "
                                                    "chance, so this describes a network that has not learned the "
                                                    "task, not what it learned.")
    permuted = {n.rule: n.text for n in notes_for(tmp_path / "p", edit((E,), PERMUTED))}
    assert "labels look permuted" in permuted["separation.overall"]
    # the errors and the calibration are judged against the data's labels: both say so
    assert permuted["separation.errors"].endswith("so class names here are the data's, not what the network calls "
                                                  "them.")
    assert "how well it is calibrated on its own reading of the classes is not measured" in permuted[
        "accuracy.calibration"]
    trained = {n.rule: n.text for n in notes_for(tmp_path / "b", no_change)}
    assert "random weights" not in trained["embeddings.separation"]
    assert "look permuted" not in trained["accuracy.calibration"] + trained["separation.errors"]


@pytest.mark.parametrize("right, recall", [((30, 30, 30), "75.0%"), ((0, 0, 0), "0.0%")])
def test_classes_of_one_recall_are_not_named_lowest_and_highest(tmp_path, right, recall):
    """No class is both the lowest and the highest: equal recalls are said to be equal."""
    (note,) = [n for n in notes_for(tmp_path, edit((E,), _recalls(*right))) if n.rule == "accuracy.classes"]
    assert note.branch == "none-established"
    assert note.text.startswith("No class is weaker or stronger than the others: every class compared (zero, one "
                                f"and two) has a recall of {recall}.")
    assert "the lowest recall" not in note.text


def test_tied_confusions_are_reported_as_ties(tmp_path):
    (note,) = [n for n in notes_for(tmp_path, edit((S,), separation_doc(confusion=[[8, 2, 0], [0, 8, 2], [0, 0, 10]],
                                                                         images=20)))
               if n.rule == "separation.closest"]
    assert note.branch == "also-confused"
    assert note.text.endswith("It is also one of the 2 pairs the network confuses most (2 errors each).")
    assert note.evidence["most_confused"] == [(0, 1), (1, 2)]


def test_notes_golden(synthetic_store, golden):
    text = "".join(f"[{n.section}] {n.rule}/{n.branch}: {n.text}\n" for n in run_rules(load_findings(synthetic_store)))
    golden("synthetic_notes.txt", text)


def test_many_shape_changes_are_explained_once_per_kind(tmp_path):
    notes = [n for n in notes_for(tmp_path, edit(ROW, [_row_copy(i) for i in range(14)])) if n.rule == "shapes.step"]
    assert [n.text for n in notes] == [
        "fc1: a fully connected layer maps 36 features to 6. 13 more layers change the shape this way."]


def test_shares_never_round_to_nothing_or_everything():
    from report.render import fmt

    assert [fmt.percent(x) for x in (0, 0.0004, 0.5, 0.99996, 1)] == ["0.0%", "under 0.1%", "50.0%", "over 99.9%",
                                                                      "100.0%"]
    assert fmt.percent(0.004, 0) == "under 1%" and fmt.possessive("stripes") == "stripes'"
    assert fmt.possessive("7") == "7's"


def test_a_share_and_its_interval_show_enough_decimals_to_stay_apart_from_their_bounds():
    from report.render import fmt

    # an interval whose ends are not 100% never reads "100.0–100.0%" beside a value "over 99.9%"
    assert fmt.percent_ci(0.99993, 0.9997, 1.0) == "99.99% (95% CI 99.97–100.00%)"
    assert fmt.percent_ci(0.0004, 0.0, 0.002) == "0.04% (95% CI 0.00–0.20%)"
    # a Wilson interval of all successes ends a rounding error below 1: that end is 100%, not a reason for decimals
    assert fmt.percent_ci(1.0, 0.9631, 1 - 1e-16) == "100.0% (95% CI 96.3–100.0%)"
    assert fmt.percent_ci(0.981, 0.976, 0.985) == "98.1% (95% CI 97.6–98.5%)"
    # shares too close to 0 for any decimals (an ECE of 1e-9) add none: "0.0000–0.0000%" would say no more
    assert fmt.percent_ci(1e-9, 0.0, 3e-9) == "under 0.1% (95% CI 0.0–0.0%)"
    assert fmt.percent_range(0.99991, 0.999999) == "99.9910–99.9999%"
    for value, low, high in ((0.99996, 0.9998, 1.0), (0.9, 0.89995, 0.90005), (2e-5, 1e-6, 1e-4)):
        shown, interval = fmt.percent_with_range(value, low, high)
        ends = [float(end) for end in interval.rstrip("%").split("–")]
        assert all(0 < end < 100 for end, share in zip(ends, (low, high)) if 0 < share < 1), interval
        assert len(shown.split(".")[1].rstrip("%")) == len(interval.split("–")[0].split(".")[1]), (shown, interval)

def test_features_entering_a_layer_take_a_plural_verb(tmp_path):
    notes = {n.rule: n.text for n in notes_for(tmp_path, several(edit((V, "layer"), "input of fc2"),
                                                               edit((S, "layer"), "input of fc2")))}
    assert "Over all 30 test images, the features entering fc2 separate the classes well" in notes["separation.overall"]
    assert "lies closest together in the features entering fc2" in notes["embeddings.compactness"]


def test_a_class_with_fewer_test_images_than_the_default_says_so(tmp_path):
    change = several(edit((V, "per_class"), 1), edit((V, "fewer_than_default"), [2]))
    note = next(n for n in notes_for(tmp_path, change) if n.rule == "embeddings.sample_size")
    assert note.text.startswith("The test split holds only 1 image of class two, so 1 sample per class is embedded "
                                "instead of the default 2. Caution: with 1 sample per class")
    assert note.evidence["fewer_than_default"] == [2]


def test_the_rest_of_the_parameters_gives_each_share_once():
    from report.render.interpret.params import _rest

    # one kind beside convolutions and fully connected layers: its share is the remainder's, said once
    assert _rest({"convolution": 900, "linear": 99, "normalisation": 1}, 1000) == ("normalisation scales and shifts", 1)
    named, rest = _rest({"convolution": 800, "linear": 100, "normalisation": 60, "attention": 40}, 1000)
    assert (named, rest) == ("normalisation scales and shifts (6.0%) and attention projections (4.0%)", 100)
    assert _rest({"convolution": 900, "linear": 100}, 1000) == ("", 0)


def test_many_misclassified_samples_are_named_up_to_eight(tmp_path):
    from synthetic import embeddings_doc

    vectors = [[1.0 + i / 10, 0.0, 2.0, 0.5, float(i % 3), 1.0] for i in range(6)] + \
              [[4.0, 3.0 + i / 10, 0.0, 0.0, 2.0, float(i % 2)] for i in range(6)]
    labels = [1] * 6 + [2] * 6
    predicted = [2] * 5 + [1] + [1] * 5 + [2]  # 10 of 12 wrong
    (note,) = [n for n in notes_for(tmp_path, edit((V,), embeddings_doc(vectors, labels, predicted, per_class=6)))
               if n.rule == "embeddings.predictions"]
    assert note.text.startswith("10 of 12 samples are misclassified: #10 (a one, predicted two), ")
    assert note.text.count("predicted two)") + note.text.count("predicted one)") == 8
    assert "and 2 more, whose captions name their predictions; distances involving them" in note.text


def test_ordinals_take_their_english_suffixes():
    assert [fmt.ordinal(n) for n in (1, 2, 3, 4, 10, 11, 12, 13, 21, 22, 23, 101, 111, 1002)] == [
        "1st", "2nd", "3rd", "4th", "10th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "1,002nd"]


@pytest.mark.parametrize("names, said", [
    (("zero", "one", "two"), "the mean recall over the 3 classes of the test split, is"),
    (("zero", "one", "two", "three"),
     "the mean recall over the 3 classes of the test split (class three has no test image and is left out), is"),
    (("zero", "one", "two", "three", "four"),
     "the mean recall over the 3 classes of the test split (classes three and four have no test images and are left "
     "out), is")])
def test_classes_without_test_images_are_named_where_the_mean_recall_leaves_them_out(tmp_path, names, said):
    """The header counts the model's classes, chance counts the test split's: the difference is said."""
    (note,) = [n for n in notes_for(tmp_path, edit((E,), evaluation_doc(class_names=names)))
               if n.rule == "accuracy.overall"]
    assert said in note.text and "chance (1/3 = 33.3%)" in note.text
    assert note.evidence["untested"] == list(range(3, len(names)))


def test_points_short_of_a_hundred_never_read_a_hundred():
    """A mean confidence of 99.97% against an accuracy of 0 (labels permuted): 99.97 points, as its calibration
    error of 99.97% reads, not 100.0; a hundred itself stays 100.0."""
    from report.render.interpret.accuracy import _points

    assert _points(0.9997) == "99.97" and _points(1.0) == "100.0" and _points(0.5) == "50.0"
    assert fmt.points_range(0.9995, 0.9999) == "99.95 to 99.99"
    assert fmt.points_range(0.99, 1.0) == "99.0 to 100.0" and fmt.points_range(-0.02, 0.5) == "−2.0 to 50.0"
