"""refnet: a neural-network library written from scratch in NumPy, to be read and trusted.

Everything public is importable from here, e.g. ``from refnet import Dense, NeuralNetwork``.
"""

from refnet import onnx as onnx  # refnet.onnx.export / load; onnx itself is imported only when they run
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
    linear_warmup,
    step_decay,
)
from refnet.diagnosis import Diagnosis
from refnet.diagnostics import DiagnosticsCallback, diagnose
from refnet.dropout import Dropout
from refnet.embedding import Embedding  # issue 20
from refnet.errors import CallOrderError, ModelFileError, NonFiniteError, ShapeError, TrainingDivergedError
from refnet.functions import (
    ELU,
    SELU,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from refnet.graph import Add, Concatenate, GraphError, GraphModel, Input, Merge, Multiply, Node
from refnet.initializers import glorot_normal, glorot_uniform, he_normal, he_uniform, lecun_normal, orthogonal
from refnet.layer import Dense
from refnet.losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Huber, Loss, MulticlassHinge
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.optimizers import SGD, AdaGrad, Adam, Optimizer, RMSProp
from refnet.regularizers import ElasticNet

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here

__all__ = [
    "ELU",
    "MAE",
    "MSE",
    "SELU",
    "SGD",
    "Activation",
    "AdaGrad",
    "Adam",
    "Add",
    "BatchNorm",
    "BinaryCrossEntropy",
    "CallOrderError",
    "Callback",
    "Concatenate",
    "CrossEntropy",
    "Dense",
    "Diagnosis",
    "DiagnosticsCallback",
    "Dropout",
    "EarlyStopping",
    "ElasticNet",
    "Embedding",
    "GraphError",
    "GraphModel",
    "History",
    "Huber",
    "Identity",
    "Input",
    "Layer",
    "LeakyReLU",
    "LearningRateScheduler",
    "Loss",
    "Merge",
    "ModelCheckpoint",
    "ModelFileError",
    "MulticlassHinge",
    "Multiply",
    "NeuralNetwork",
    "Neuron",
    "Node",
    "NonFiniteError",
    "Optimizer",
    "RMSProp",
    "ReLU",
    "ShapeError",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "TerminateOnNaN",
    "TrainingDivergedError",
    "cosine_decay",
    "diagnose",
    "exponential_decay",
    "get_activation",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "linear_warmup",
    "orthogonal",
    "step_decay",
]
