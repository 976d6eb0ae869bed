"""Neural-network building blocks: primitives in ``functional``, layers built from them."""

from mytorch.nn import functional
from mytorch.nn.activation import GELU, Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from mytorch.nn.conv import AvgPool1d, AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool1d, MaxPool2d
from mytorch.nn.linear import Linear
from mytorch.nn.loss import BCELoss, BCEWithLogitsLoss, Loss, MSELoss, NLLLoss, SoftmaxCrossEntropy
from mytorch.nn.models import MLP, Sequential
from mytorch.nn.module import Module
from mytorch.nn.rnn import GRU, RNN, GRUCell, RNNCell

__all__ = [
    "functional", "Module",
    "Linear",
    "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "GELU", "Softmax", "LogSoftmax",
    "Loss", "MSELoss", "SoftmaxCrossEntropy", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "Conv1d", "Conv2d", "Flatten", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "RNNCell", "GRUCell", "RNN", "GRU",
    "Sequential", "MLP",
]
