"""MyTorch: a NumPy deep-learning library with a tape-based reverse-mode autograd engine."""

from mytorch.autograd_engine import Autograd, Constant, Operation, constant, current_engine, no_grad
from mytorch.utils import MemoryBuffer

__version__ = "0.1.0"
__all__ = ["Autograd", "Operation", "MemoryBuffer", "Constant", "constant", "current_engine", "no_grad"]

# The differentiation toolkit: operator front end, forward mode, Jacobians (issue 6).
from mytorch.tensor import Tensor  # noqa: E402
from mytorch.forward_mode import Dual, derivative, jvp  # noqa: E402
from mytorch.jacobian import jacobian  # noqa: E402

__all__ += ["Tensor", "Dual", "derivative", "jvp", "jacobian"]
