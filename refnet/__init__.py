"""refnet: a neural-network library written from scratch in NumPy, to be read and trusted.

Everything public is importable from here, e.g. ``from refnet import Dense, NeuralNetwork``.
"""

from refnet.attention import MultiHeadAttention
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
from refnet.functions import GELU, Activation, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Softmax, Tanh, get_activation
from refnet.graph import Add, Concatenate, GraphError, GraphModel, Input, Merge, Multiply, Node
from refnet.initializers import glorot_uniform, he_normal
from refnet.layer import Dense
from refnet.layernorm import LayerNorm
from refnet.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from refnet.network import NeuralNetwork
from refnet.neuron import Neuron
from refnet.optimizers import SGD, Adam, Optimizer
from refnet.positional import PositionalEmbedding
from refnet.regularizers import ElasticNet
from refnet.transformer import tiny_gpt, transformer_block

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here

__all__ = [
    "GELU",
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
    "LayerNorm",
    "LeakyReLU",
    "LearningRateScheduler",
    "Loss",
    "Merge",
    "ModelCheckpoint",
    "ModelFileError",
    "MultiHeadAttention",
    "Multiply",
    "NeuralNetwork",
    "Neuron",
    "Node",
    "NonFiniteError",
    "Optimizer",
    "PositionalEmbedding",
    "ReLU",
    "ShapeError",
    "SiLU",
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
    "tiny_gpt",
    "transformer_block",
]
