"""Rules explaining each change of shape in the trace, each operation for what it is."""

from __future__ import annotations

from analysis.store.schema import ACTIVATION_TYPES
from report.render import fmt
from report.render.findings import Findings, TraceRow
from report.render.interpret.notes import Note


def _a(number: int) -> str:
    """The article before a number read aloud: an 8×8, an 11×11, a 3×3."""
    return "an" if str(number).startswith("8") or number in (11, 18) or 80 <= number < 90 else "a"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pixels(n: int) -> str:
    return f"{n} pixel{'' if n == 1 else 's'}"


def _conv_sentence(row: TraceRow) -> tuple[str, str]:
    g = row.geometry
    (k, _), (s, _), (p, _) = _pair(g.get("kernel_size", 1)), _pair(g.get("stride", 1)), _pair(g.get("padding", 0))
    h_in, h_out = row.input_shape[-1], row.output_shape[-1]
    channels = f" and gives {row.output_shape[0]} channels, one per kernel"
    if k == 1 and p == 0 and s == 1:
        return "conv-pointwise", (f"{row.name}: a 1×1 convolution keeps each side ({h_in} → {h_out}) and mixes the "
                                  f"{row.input_shape[0]} input channels at each pixel{channels}.")
    if p == 0 and s == 1:
        return "conv-valid", (f"{row.name}: {_a(k)} {k}×{k} convolution without padding removes {k - 1} pixels from "
                              f"each side length ({h_in} → {h_out}){channels}.")
    return "conv-padded", (f"{row.name}: {_a(k)} {k}×{k} convolution with padding {p} and stride {s} makes each "
                           f"side ⌊({h_in} + 2·{p} − {k}) / {s}⌋ + 1 = {_pixels(h_out)}{channels}.")


def _pool_sentence(row: TraceRow) -> tuple[str, str]:
    kind = "max" if "Max" in row.type else "average" if "Avg" in row.type else "pooling"
    h_in, h_out = row.input_shape[-1], row.output_shape[-1]
    if row.type.startswith("Adaptive"):
        return "pool-adaptive", (f"{row.name}: adaptive {kind} pooling always gives {h_out}×{h_out} maps, whatever the "
                                 f"input size ({h_in} → {h_out}); the channels stay {row.output_shape[0]}.")
    g = row.geometry
    (k, _), (p, _) = _pair(g.get("kernel_size", 2)), _pair(g.get("padding", 0))
    (s, _) = _pair(g.get("stride", g.get("kernel_size", 2)) or k)
    if p:
        return "pool-padded", (f"{row.name}: {k}×{k} {kind} pooling with padding {p} and stride {s} gives "
                               f"⌊({h_in} + 2·{p} − {k}) / {s}⌋ + 1 = {_pixels(h_out)} per side.")
    if h_in % s == 0:
        return "pool-exact", (f"{row.name}: {k}×{k} {kind} pooling with stride {s} divides each side by {s} "
                              f"({h_in} → {h_out}); the channels stay {row.output_shape[0]}.")
    return "pool-floor", (f"{row.name}: {k}×{k} {kind} pooling with stride {s} divides each side by {s} and rounds "
                          f"down ({h_in} / {s} = {h_in / s:g} → {h_out}): the last row and column are dropped.")


# --- how a trace shape is written ---------------------------------------------------------------------------

BATCH_MARK, FULL_MARK = "N", "†"  # the batch where it is not the first dimension; a shape shown in full
NO_SHAPE = "—"


def shape_text(shape: list[int] | None, batch: int | None, mark_first: bool = False) -> str:
    """A trace shape as the report writes it: without the batch where the batch is the first dimension, with N
    where an operation moved it elsewhere, in full with a dagger where no dimension is the batch alone.
    mark_first writes N at dimension 0 too: for a call that moves the batch, so that both sides show it and
    "(17, 3, 4, 8) → (3, N, 4, 17, 8)" does not read as four dimensions becoming five."""
    if shape is None:
        return NO_SHAPE
    if batch == 0 and not mark_first:
        return fmt.shape(shape)
    if batch is None:
        return f"{fmt.shape(shape)} {FULL_MARK}"
    return fmt.shape([*shape[:batch], BATCH_MARK, *shape[batch:]])


def moves_batch(row: TraceRow) -> bool:
    return row.input_batch is not None and row.output_batch is not None and row.input_batch != row.output_batch


def _in(row: TraceRow) -> str:
    return shape_text(row.input_shape, row.input_batch, moves_batch(row))


def _out(row: TraceRow) -> str:
    return shape_text(row.output_shape, row.output_batch, moves_batch(row))


def _changes(row: TraceRow) -> bool:
    return (row.input_shape, row.input_batch) != (row.output_shape, row.output_batch)


def _values(shape: list[int]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


# --- what a functional call is, by its name ---------------------------------------------------------------

def _op(row: TraceRow) -> str:
    """The operation's own name: permute for Tensor.permute, [] for operator […], + for operator +."""
    if row.name.startswith("operator "):
        return row.name.removeprefix("operator ")
    return row.name.rsplit(".", 1)[-1].rstrip("_")


FAMILIES = {
    "index": {"[…]", "__getitem__", "select", "index_select", "narrow", "gather", "take_along_dim", "masked_select"},
    "reorder": {"permute", "transpose", "movedim", "moveaxis", "swapaxes", "swapdims", "t", "T", "mT", "adjoint"},
    "reshape": {"reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as", "ravel"},
    "expand": {"expand", "expand_as", "broadcast_to", "repeat", "tile", "repeat_interleave"},
    "join": {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack"},
    "split": {"unbind", "chunk", "split", "tensor_split", "split_with_sizes"},
    "attention": {"scaled_dot_product_attention", "multi_head_attention_forward"},
    "reduce": {"mean", "sum", "amax", "amin", "max", "min", "prod", "logsumexp", "norm", "std", "var", "argmax"},
    "product": {"matmul", "@", "bmm", "mm", "einsum", "linear", "bilinear", "baddbmm", "addmm"},
    "create": {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "zeros_like", "ones_like",
               "full_like", "empty_like", "rand_like", "randn_like", "arange", "zeros", "ones", "full"},
}
VIEWS = {"expand", "expand_as", "broadcast_to"}  # expand without copying: every image sees the same memory


def family(row: TraceRow) -> str:
    op = _op(row)
    return next((name for name, ops in FAMILIES.items() if op in ops), "function")


# Element-wise: each output value depends on the value at the same place only. Normalisation, softmax and
# attention keep the shape but are not element-wise (they combine values across features, a dimension or positions).
ELEMENTWISE_TYPES = set(ACTIVATION_TYPES) | {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                             "Identity", "Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "ELU", "CELU",
                                             "SELU", "Mish", "Softplus", "PReLU", "RReLU", "Threshold", "Tanhshrink"}
ELEMENTWISE_OPS = {"relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "leaky_relu",
                   "elu", "selu", "mish", "softplus", "dropout", "add", "sub", "mul", "div", "+", "+=", "−", "−=",
                   "×", "×=", "/", "/=", "−x", "**", "neg", "exp", "log", "sqrt", "rsqrt", "abs", "clamp", "clip",
                   "pow", "contiguous", "clone", "to", "float", "half", "type_as", "detach", "where", "erf",
                   "identity", "square", "reciprocal", "sign", "maximum", "minimum"}


def _unchanged_kind(row: TraceRow) -> str:
    if row.kind == "function":
        op = _op(row)
        if op in ELEMENTWISE_OPS:
            return "element-wise"
        if family(row) == "attention":
            return "attention"
        if family(row) == "product":
            return "linear"
        if "norm" in op:
            return "normalisation"
        if "pool" in op:
            return "pooling"
        if "softmax" in op:
            return "softmax"
        return "other"
    if row.type in ELEMENTWISE_TYPES:
        return "element-wise"
    if row.type in ("Linear", "Bilinear"):
        return "linear"
    if "Pool" in row.type:
        return "pooling"
    if row.type.startswith("Conv"):
        return "convolution"
    if "Attention" in row.type:
        return "attention"
    if "Norm" in row.type:
        return "normalisation"
    if "Softmax" in row.type:
        return "softmax"
    return "other"


UNCHANGED_KINDS = {  # kind -> how the sentence names it
    "element-wise": "element-wise operations (each value from the value at the same place: activations, "
                    "additions, dropout)",
    "normalisation": "normalisation (rescales across channels or features)",
    "linear": "layers and products that map features to as many features (each output combines all inputs of "
              "its position)",
    "convolution": "convolutions padded to keep the size (each output combines a neighbourhood of every input "
                   "channel)",
    # an adaptive pooling whose input already has the output size keeps it too, whatever its "stride"
    "pooling": "pooling that keeps the size (each output the maximum or mean of a neighbourhood)",
    "attention": "attention (each position's output mixes the values of all positions)",
    "softmax": "softmax (values rescaled across a dimension to sum to 1)",
    "other": "other operations",
}


# --- indexing and where the class token sits ----------------------------------------------------------------

def _index_items(arguments: str) -> list[str] | None:
    """The items of an index written [a, b, c]; None for anything else (a tensor index, an Ellipsis)."""
    if not (arguments.startswith("[") and arguments.endswith("]")) or "..." in arguments or "tensor" in arguments:
        return None
    return [item.strip() for item in arguments[1:-1].split(",")]


def _picked(row: TraceRow) -> tuple[int, int] | None:
    """For an index that picks one position along one dimension (x[:, 0]): that dimension of the full shape and
    the position; None for any other index."""
    items = _index_items(row.arguments)
    if items is None:
        return None
    picks = [(d, item) for d, item in enumerate(items) if item.lstrip("-").isdigit()]
    if len(picks) != 1 or any(item != ":" for d, item in enumerate(items) if d != picks[0][0]):
        return None
    return picks[0][0], int(picks[0][1])


def _full(row: TraceRow, side: str) -> list[int] | None:
    shape, batch = (row.input_shape, row.input_batch) if side == "in" else (row.output_shape, row.output_batch)
    if shape is None:
        return None
    return shape if batch is None else [*shape[:batch], 1, *shape[batch:]]


def _dim(arguments: str) -> int | None:
    """The dimension a join or split names (dim=1, or its last plain number)."""
    if "dim=" in arguments:
        text = arguments.split("dim=", 1)[1].split(",")[0].rstrip(")")
        return int(text) if text.lstrip("-").isdigit() else None
    numbers = [p.strip("() ") for p in arguments.split(",")]
    numbers = [n for n in numbers if n.lstrip("-").isdigit()]
    return int(numbers[-1]) if numbers else 0 if arguments.startswith("(tensor") or not arguments else None


def _parameter_behind(f: Findings, row: TraceRow) -> str | None:
    """The parameter a row's first input is, directly or through one expand or repeat (a class token expanded
    to the batch)."""
    if row.source_tensor:
        return row.source_tensor
    by_order = {r.order: r for r in f.trace.rows}
    source = by_order.get(row.source) if row.source is not None else None
    if source is not None and family(source) == "expand" and source.source_tensor:
        return source.source_tensor
    return None


def _roles(f: Findings) -> dict[str, str]:
    """Parameter name (qualified) -> its role, from the parameter table."""
    roles = {}
    for layer in f.parameters.layers:
        for tensor in layer.tensors:
            roles[f"{layer.name}.{tensor.name}" if layer.name else tensor.name] = tensor.role
    return roles


def class_token_first(f: Findings) -> tuple[str, int] | None:
    """Where a join put a class token first: (the token's name, the dimension of the join); None when the
    trace shows no join whose first input is a parameter with the role of class token."""
    roles = _roles(f)
    for row in f.trace.rows:
        if row.kind != "function" or family(row) != "join":
            continue
        name = _parameter_behind(f, row)
        if name is not None and roles.get(name) == "class token":
            dim = _dim(row.arguments)
            if dim is not None:
                rank = len(_full(row, "out") or [])
                return name, dim % rank if rank else dim
    return None


def _index_sentence(f: Findings, row: TraceRow, where: str) -> tuple[str, str]:
    items = _index_items(row.arguments)
    if items and "None" in items and set(items) <= {":", "None"}:
        return "index-new-axis", (f"{where}: indexing {row.arguments} adds dimensions of size 1, {_in(row)} → "
                                  f"{_out(row)}: the same values, ready to broadcast.")
    picked, full_in = _picked(row), _full(row, "in")
    if picked is None or full_in is None or picked[0] >= len(full_in):
        return "index", (f"{where}: indexing {row.arguments or ''} selects part of its input, {_in(row)} → "
                         f"{_out(row)}: values are picked, not combined.").replace("indexing  ", "indexing ")
    dim, position = picked
    if row.input_batch == dim:
        return "index", (f"{where}: indexing {row.arguments} picks one image of the batch, {_in(row)} → "
                         f"{_out(row)}.")
    length = full_in[dim]
    which = f"position {position}{' (the last)' if position == -1 else ''}"
    text = (f"{where}: indexing {row.arguments} takes {which} of the {length} along dimension {dim} "
            f"and drops that dimension, {_in(row)} → {_out(row)}: the other positions are left out, not combined "
            "(no flattening).")
    token = class_token_first(f)
    if token is not None and position == 0 and token[1] == dim:
        return "index-class-token", (text[:-1] + f"; position 0 is where the forward put the class token "
                                     f"{token[0]}, so what follows reads the class token's features alone.")
    return "index", text


# --- one sentence per kind of functional call -----------------------------------------------------------------

def _batch_move(row: TraceRow) -> str:
    if row.input_batch == row.output_batch or row.input_batch is None or row.output_batch is None:
        return ""
    return f"; the batch moves from dimension {row.input_batch} to {row.output_batch} (N in the table)"


def _moves(row: TraceRow) -> str:
    """A branch suffix for a call that moves the batch: explained apart from those that do not."""
    return "-batch" if _batch_move(row) else ""


def _function_sentence(f: Findings, row: TraceRow, model: str) -> tuple[str, str]:
    where = f"{row.name} in {row.caller}'s forward" if row.caller else f"{row.name} in {model}'s forward"
    kind = family(row)
    args = row.arguments
    if kind == "index":
        return _index_sentence(f, row, where)
    if kind == "reorder":
        return "reorder" + _moves(row), (f"{where}: {_op(row)}{args} reorders the dimensions, {_in(row)} → "
                                         f"{_out(row)}: the same "
                           f"values, arranged differently{_batch_move(row)}.")
    if kind == "expand":
        parameter = row.source_tensor
        copy = "a view, nothing copied" if _op(row) in VIEWS else "copied"
        if parameter:
            role = _roles(f).get(parameter)
            return "expand-parameter", (f"{where}: {_op(row)} repeats the parameter {parameter}"
                                        f"{f' (the {role})' if role and role != 'other' else ''}, "
                                        f"{_in(row)}, for every image of the batch ({copy}): each image gets the "
                                        f"same {_out(row)}.")
        if _op(row) in VIEWS:
            return "expand", (f"{where}: {_op(row)}{args} repeats {_in(row)} along its dimensions of size 1 to "
                              f"{_out(row)} (a view, nothing copied).")
        return "expand", f"{where}: {_op(row)}{args} tiles {_in(row)} to {_out(row)}, copying the values."
    if kind == "join":
        parameter = _parameter_behind(f, row)
        along = f"dimension {_dim(args)}" if _dim(args) is not None else "a dimension"
        source = f", comes from the parameter {parameter}" if parameter else ""
        return "join", (f"{where}: {_op(row)}{args} joins tensors along {along}: the first, {_in(row)}{source}; "
                        f"with the others they make {_out(row)}.")
    if kind == "split":
        return "split" + _moves(row), (f"{where}: {_op(row)}{args} splits {_in(row)} into parts; the first of them is "
                         f"{_out(row)}{_batch_move(row)}.")
    if kind == "create":
        return "create", (f"{where}: {_op(row)}{args} makes a new tensor of {_out(row)}; of its input {_in(row)} "
                          "it takes only the type and device.")
    if _op(row) in ELEMENTWISE_OPS:
        return "broadcast", (f"{where}: {_op(row)} combines its inputs element by element, broadcasting: the first, "
                             f"{_in(row)}, is repeated along its dimensions of size 1 to {_out(row)}.")
    if kind == "attention":
        return "attention", (f"{where}: attention mixes the values of all positions for each query, "
                             f"{_in(row)} (the queries) → {_out(row)}.")
    if kind == "reshape":
        full_in, full_out = _full(row, "in"), _full(row, "out")
        same = full_in is not None and full_out is not None and _values(full_in) == _values(full_out)
        if (row.input_batch == row.output_batch == 0 and len(row.output_shape) == 1 and len(row.input_shape) > 1
                and same):
            return "flatten", (f"{where}: flattening turns {' × '.join(map(str, row.input_shape))} maps into one "
                               f"vector of {fmt.integer(row.output_shape[0])} values.")
        return "reshape" + _moves(row), (f"{where}: {_op(row)}{args} regroups the same values into another shape, "
                           f"{_in(row)} → {_out(row)}{_batch_move(row)}.")
    if ("pool" in row.name and row.input_batch == row.output_batch == 0
            and len(row.input_shape) == len(row.output_shape) == 3):
        h_in, h_out = row.input_shape[-1], row.output_shape[-1]
        return "pool-function", (f"{where}: pooling changes each side from {h_in} to {h_out}; the channels stay "
                                 f"{row.output_shape[0]}.")
    if kind == "reduce":
        return "reduce", f"{where}: {_op(row)}{args} combines values over dimensions, {_in(row)} → {_out(row)}."
    if kind == "product":
        return "product", f"{where}: a matrix product maps {_in(row)} to {_out(row)}."
    return "function", f"{where} changes {_in(row)} to {_out(row)}."


def _sentence(row: TraceRow, model: str = "the model", f: Findings | None = None) -> tuple[str, str]:
    if row.kind == "function":
        return _function_sentence(f, row, model)
    if row.input_batch != 0 or row.output_batch != 0:  # the sentences below read channels and sides
        return "other", f"{row.name} ({row.type}) changes {_in(row)} to {_out(row)}."
    if row.type.startswith("Conv"):
        return _conv_sentence(row)
    if "Pool" in row.type:
        return _pool_sentence(row)
    if row.type == "Flatten":
        return "flatten", (f"{row.name}: flattening turns {' × '.join(map(str, row.input_shape))} maps into one "
                           f"vector of {fmt.integer(row.output_shape[0])} values.")
    if row.type == "Linear":
        return "linear", (f"{row.name}: a fully connected layer maps {fmt.integer(row.input_shape[-1])} "
                          f"features to {fmt.integer(row.output_shape[-1])}.")
    if "Attention" in row.type:
        return "attention", (f"{row.name} ({row.type}): attention mixes the values of all positions, "
                             f"{_in(row)} → {_out(row)}.")
    return "other", f"{row.name} ({row.type}) changes {_in(row)} to {_out(row)}."


DETAIL_UP_TO = 12  # shape changes explained one by one; beyond this, the first of each kind and a count
UNCHANGED_NAMED = 6  # calls that keep the shape named one by one; beyond, counted by kind


def steps(f: Findings) -> list[Note]:
    notes = []
    changing = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None
                and row.output_shape is not None and _changes(row)]
    sentences = {row.order: _sentence(row, f.model_class, f) for row in changing}
    by_kind: dict[str, list[TraceRow]] = {}
    for row in changing:
        by_kind.setdefault(sentences[row.order][0], []).append(row)
    for row in changing:
        branch, text = sentences[row.order]
        if len(changing) > DETAIL_UP_TO:
            same = by_kind[branch]
            if row is not same[0]:
                continue
            if len(same) > 1:
                more, unit = len(same) - 1, "layer" if all(r.kind == "module" for r in same) else "call"
                text += (f" {more} more {unit}{'s' if more != 1 else ''} change{'s' if more == 1 else ''} the shape "
                         "this way.")
        notes.append(Note("shapes.step", branch, "shapes", text,
                          {"layer": row.name, "in": row.input_shape, "out": row.output_shape,
                           "in_batch": row.input_batch, "out_batch": row.output_batch, "arguments": row.arguments}))
    kept = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None and not _changes(row)]
    if kept:
        notes.append(_unchanged(kept))
    return notes


def _unchanged(kept: list[TraceRow]) -> Note:
    """The calls that keep the shape, by what they do: only element-wise ones are called element-wise."""
    kinds: dict[str, list[TraceRow]] = {}
    for row in kept:
        kinds.setdefault(_unchanged_kind(row), []).append(row)
    order = [kind for kind in UNCHANGED_KINDS if kind in kinds]
    if len(kept) <= UNCHANGED_NAMED:
        names = _distinct_names(kept)
        parts = ([UNCHANGED_KINDS[order[0]]] if len(order) == 1 else
                 [f"{UNCHANGED_KINDS[kind]}: {_distinct_names(kinds[kind])}" for kind in order])
    else:
        names = f"{len(kept)} calls"
        parts = [f"{UNCHANGED_KINDS[kind]}: {len(kinds[kind])} "
                 f"({', '.join(sorted({row.type if row.kind == 'module' else row.name for row in kinds[kind]})[:4])})"
                 for kind in order]
    keep = "keeps" if len(kept) == 1 else "keep"
    return Note("shapes.step", "unchanged", "shapes", f"{names} {keep} the shape: {'; '.join(parts)}.",
                {"layers": [row.name for row in kept], "kinds": {kind: len(kinds[kind]) for kind in order}})


def _distinct_names(rows: list[TraceRow]) -> str:
    """Each name once, in order, with how many calls share it ("torch.relu (2 calls)", not "torch.relu and
    torch.relu": a function called twice has one name)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.name] = counts.get(row.name, 0) + 1
    return fmt.listing(name if n == 1 else f"{name} ({_calls(n)})" for name, n in counts.items())


def _calls(n: int) -> str:
    return f"{n} call{'s' if n != 1 else ''}"


def batch(f: Findings) -> Note | None:
    """Where the batch is not the first dimension of a traced shape: moved by an operation (marked N), or no
    dimension is the batch alone (shown in full). None where every shape has the batch first (or the store
    predates the question: its shapes were all read that way)."""
    rows = f.trace.rows
    moved = [row for row in rows if any(b not in (0, None) for b in (row.input_batch, row.output_batch))]
    full = [row for row in rows if any(b is None and shape is not None for shape, b in
                                       ((row.input_shape, row.input_batch), (row.output_shape, row.output_batch)))]
    if not moved and not full:
        return None
    evidence = {"moved": [row.order for row in moved], "full": [row.order for row in full],
                "criterion": "the dimension that is 1 in a pass of one image and 2 in a pass of two"}
    parts = []
    if moved:
        first = moved[0]
        parts.append(f"{_calls(len(moved))} {'carries' if len(moved) == 1 else 'carry'} the batch in another "
                     "dimension than the first, such as "
                     f"{first.name}{f' in {first.caller}' if first.caller else ''} ({_in(first)} → {_out(first)}): "
                     "the table writes N where the batch sits")
    if full:
        parameters = sorted({row.source_tensor for row in full if row.source_tensor})
        others = [row for row in full if not row.source_tensor]
        why = []
        if parameters:
            many = len(parameters) > 1
            why.append(f"{'it is' if len(full) == 1 else 'some are'} the parameter{'s' if many else ''} "
                       f"{fmt.listing(parameters[:3])}, which {'have' if many else 'has'} no batch dimension")
        if others:
            why.append(f"in {_calls(len(others))} the batch is folded into another dimension or could not be told "
                       "apart")
        parts.append(f"{_calls(len(full))} {'takes or gives' if len(full) == 1 else 'take or give'} a tensor in which "
                     f"no dimension is the batch alone ({'; '.join(why)}): the table shows those shapes in full, "
                     "marked †")
    branch = "moved" if moved and not full else "full" if full and not moved else "both"
    text = "; ".join(parts)
    return Note("shapes.batch", branch, "shapes",
                "Which dimension is the batch was found in every traced shape, by tracing a second pass of two images "
                f"and seeing which dimension follows the batch size. {text[0].upper()}{text[1:]}.", evidence)


def _producer(f: Findings, row: TraceRow) -> TraceRow | None:
    return next((r for r in f.trace.rows if r.order == row.source), None) if row.source is not None else None


def gaps(f: Findings) -> Note:
    """Where the next call's input differs from the previous output: a parameter entering the computation, a
    branch fed from an earlier output, or (in stores traced with module hooks only) a functional call the trace
    could not see."""
    leaves = [row for row in f.trace.rows if row.is_leaf and row.input_shape is not None]
    found = [(a, b) for a, b in zip(leaves, leaves[1:])
             if (a.output_shape, a.output_batch) != (b.input_shape, b.input_batch)]
    hooks_only = f.trace.counting == "module-hooks"
    if not found:
        return Note("shapes.gaps", "none", "shapes",
                    "Every shape change happens inside a recorded call, so the trace has no gaps."
                    + (" This store was traced with forward hooks, which see modules only: functional calls such as "
                       "F.relu or torch.flatten would not appear as rows." if hooks_only else ""), {"gaps": 0})
    count = f"{len(found)} such gap{'s' if len(found) != 1 else ''} in all."
    if hooks_only:
        a, b = found[0]
        return Note("shapes.gaps", "functional", "shapes",
                    f"Between {a.name} and {b.name} the shape changes from {_out(a)} to "
                    f"{_in(b)} outside any module: a functional call (such as F.max_pool2d or "
                    "torch.flatten), which forward hooks cannot see, or a branch that feeds a module from an earlier "
                    f"output (as in a residual block). {count}", {"gaps": len(found)})
    fed = [(a, b) for a, b in found if b.source_tensor]
    branches = [(a, b) for a, b in found if not b.source_tensor]
    evidence = {"gaps": len(found), "parameters": [b.source_tensor for _, b in fed],
                "branches": [[b.name, b.source] for _, b in branches]}
    parameter_text = ""
    if fed:
        names = sorted({b.source_tensor for _, b in fed})
        callers = [f"{b.name} in {b.caller}" if b.kind == "function" and b.caller else b.name for _, b in fed[:2]]
        callers += [f"{len(fed) - 2} more calls"] if len(fed) > 2 else []
        parameter_text = (f"{fmt.listing(callers)} take{'s' if len(fed) == 1 else ''} the "
                          f"parameter{'s' if len(names) != 1 else ''} {fmt.listing(names[:4])} as "
                          f"{'its' if len(fed) == 1 else 'their'} first input, "
                          "not the output of the call before: parameters enter the computation there (a class "
                          "token or a position embedding does).")
    if not branches:
        return Note("shapes.gaps", "parameters", "shapes", f"{parameter_text} {count}", evidence)
    a, b = branches[0]
    producer = _producer(f, b)
    source = (f"the output of {producer.name} (call {producer.order + 1}), an earlier one" if producer is not None
              else "the model's input" if b.source == -1 else "an earlier output")
    return Note("shapes.gaps", "branch", "shapes",
                f"{b.name} takes {_in(b)}, not the {_out(a)} that {a.name} just gave: it is fed from {source}, a "
                "branch (as in a residual shortcut or the parallel paths of an Inception block). Functional calls "
                f"are rows of the trace, so no step is hidden.{f' {parameter_text}' if parameter_text else ''} "
                f"{count}", evidence)


def macs(f: Findings) -> Note:
    """How the MACs were counted, and whether any heavy operation ran without a formula."""
    t = f.trace
    total = f"{fmt.count(t.total_macs)} ({fmt.integer(t.total_macs)})"
    if t.counting == "module-hooks" and not t.total_macs:
        return Note("shapes.macs", "not-recorded", "shapes",
                    "This store predates the counting of multiply-accumulates and records none; rebuilding the "
                    "report counts every operation.", {"counting": t.counting, "total_macs": 0})
    if t.counting == "module-hooks":
        return Note("shapes.macs", "hooks", "shapes",
                    f"This store counted {total} multiply-accumulates per image with module hooks: Conv and Linear "
                    "modules only, so matrix products made by functional calls (attention, for one) are missing and "
                    "the figure may be low. Rebuilding the report counts every operation.",
                    {"counting": t.counting, "total_macs": t.total_macs})
    if t.uncounted:
        ops = sorted({u.op for u in t.uncounted})
        places = sorted({u.where for u in t.uncounted if u.where})
        return Note("shapes.macs", "incomplete", "shapes",
                    f"{fmt.listing(ops[:4])} ran without a counting formula"
                    f"{f' (in {fmt.listing(places[:3])})' if places else ''}, so the {total} multiply-accumulates "
                    "per image are a lower bound: those operations' work is not in it.",
                    {"counting": t.counting, "total_macs": t.total_macs, "uncounted": ops})
    return Note("shapes.macs", "complete", "shapes",
                f"The network does {total} multiply-accumulates per image. They were counted where PyTorch "
                "dispatches its operations (torch.utils.flop_counter), so convolutions, matrix products and "
                "attention count wherever they are called, functional calls included; every such operation that "
                "ran has a counting formula.", {"counting": t.counting, "total_macs": t.total_macs, "uncounted": []})


def output(f: Findings) -> Note | None:
    if not f.trace.output_taken:
        return None
    taken = f.trace.output_taken
    if "logits" in taken:
        return Note("shapes.output", "logits", "shapes",
                    f"The forward pass returns more than the class scores; the report reads {taken}.",
                    {"output_taken": taken})
    return Note("shapes.output", "first", "shapes",
                f"The forward pass returns more than the class scores and names none of them logits; the report "
                f"reads {taken} as the class scores. If that is not them, wrap the model so that its forward pass "
                "returns the logits alone.", {"output_taken": taken})
