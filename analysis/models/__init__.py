"""Networks: the assignment's CNN, building any source, checkpoints (weights only, validated metadata),
which layers the report looks into, and batched inference."""
