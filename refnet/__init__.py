"""refnet: a neural-network library written from scratch in NumPy, to be read and trusted.

Everything public is importable from here, e.g. ``from refnet import Dense, NeuralNetwork``.
"""

from refnet.base import Layer
from refnet.batchnorm import BatchNorm
from refnet.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    TerminateOnNaN,
    cosine_decay,
    exponential_decay,
    step_decay,
)
from refnet.dropout import Dropout
from refnet.embedding import Embedding  # issue 20
from refnet.errors import CallOrderError, ModelFileError, NonFiniteError, ShapeError, TrainingDivergedError
from refnet.functions import Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from refnet.graph import Add, Concatenate, GraphError, GraphModel, Input, Merge, Multiply, Node
from refnet.initializers import glorot_uniform, he_normal
from refnet.layer import Dense
from refnet.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.optimizers import SGD, Adam, Optimizer
from refnet.regularizers import ElasticNet

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here

__all__ = [
    "MSE",
    "SGD",
    "Activation",
    "Adam",
    "Add",
    "BatchNorm",
    "BinaryCrossEntropy",
    "CallOrderError",
    "Callback",
    "Concatenate",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "ElasticNet",
    "Embedding",
    "GraphError",
    "GraphModel",
    "History",
    "Identity",
    "Input",
    "Layer",
    "LeakyReLU",
    "LearningRateScheduler",
    "Loss",
    "Merge",
    "ModelCheckpoint",
    "ModelFileError",
    "Multiply",
    "NeuralNetwork",
    "Neuron",
    "Node",
    "NonFiniteError",
    "Optimizer",
    "ReLU",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TerminateOnNaN",
    "TrainingDivergedError",
    "cosine_decay",
    "exponential_decay",
    "get_activation",
    "glorot_uniform",
    "he_normal",
    "step_decay",
]
