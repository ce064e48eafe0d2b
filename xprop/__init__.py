"""xprop: a multilayer perceptron with explicit backpropagation and a numerical gradient check,
written once against the Python Array API standard and run unchanged on NumPy, CuPy, PyTorch, JAX
and array-api-strict."""

from xprop._version import __version__
from xprop.activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    make_activation,
    register_activation,
)
from xprop.backend import (
    Backend,
    BackendError,
    BackendUnavailableError,
    DeviceMismatchError,
    backend_info,
    backend_of,
    probe_cupy,
    resolve_backend,
    to_backend,
    to_numpy,
    use_backend,
)
from xprop.checkpoint import CheckpointError
from xprop.config import FitConfig
from xprop.gradcheck import (
    GradcheckReport,
    check_activation,
    check_gradients,
    check_loss,
    gradcheck,
)
from xprop.losses import LOSSES, Loss, get_loss, make_loss, register_loss
from xprop.mlp import MLP, load
from xprop.optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm, get_optimizer
from xprop.tracing import Trace, trace
from xprop.train import History, TrainingDivergedError, fit

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "CheckpointError",
    "DeviceMismatchError",
    "FitConfig",
    "GradcheckReport",
    "History",
    "Loss",
    "Optimizer",
    "Trace",
    "TrainingDivergedError",
    "__version__",
    "backend_info",
    "backend_of",
    "check_activation",
    "check_gradients",
    "check_loss",
    "clip_grad_norm",
    "fit",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "gradcheck",
    "load",
    "make_activation",
    "make_loss",
    "probe_cupy",
    "register_activation",
    "register_loss",
    "resolve_backend",
    "to_backend",
    "to_numpy",
    "trace",
    "use_backend",
]
