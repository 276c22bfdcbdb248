"""The assignment's CNN, defined once.

Activations and pooling are modules (not ``F.relu`` calls) so forward hooks see
every step of the shape trace. They hold no parameters, so a state_dict saved
from the usual definition (conv1, conv2, fc1, fc2, fc3) loads as is.
"""

from __future__ import annotations

from torch import nn

from analysis.models.hints import ModelHints

NUM_CLASSES = 10
# The module whose output is "layer X after its ReLU", for embeddings and maps.
ACTIVATION_OF = {"conv1": "relu1", "conv2": "relu2", "fc1": "relu3", "fc2": "relu4", "fc3": "fc3"}


class AssignmentCNN(nn.Module):
    report_hints = ModelHints(
        map_layers=(  # the assignment's four figures
            ("relu1", "conv1 after ReLU"),
            ("pool1", "conv1 after ReLU and 2×2 max pooling"),
            ("relu2", "conv2 after ReLU"),
            ("pool2", "conv2 after ReLU and 2×2 max pooling"),
        ),
        filter_layers=(("relu1", "conv1 after ReLU"), ("relu2", "conv2 after ReLU")),
        depth_layers=(("pool1", "conv1 (pooled)"), ("pool2", "conv2 (pooled)"), ("relu3", "fc1"),
                      ("relu4", "fc2"), ("fc3", "logits")),
        embedding_layer="fc2",
        activation_of=ACTIVATION_OF,
    )

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 64)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)

