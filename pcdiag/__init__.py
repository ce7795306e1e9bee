"""pcdiag: see where the energy goes in predictive coding networks.

The face of the package: everything a researcher calls from a notebook or a script. The
modules behind it are private to its layout (see the README's Layout section).
"""

from pcdiag._version import __version__
from pcdiag.config import Config, ConfigError
from pcdiag.dataset import SchemaError, open_dataset, save, validate
from pcdiag.diagnosis import Diagnosis, diagnose
from pcdiag.engine.checkpoint import load_params
from pcdiag.errors import BadInputError, PcdiagError, TransientError
from pcdiag.nets import Net
from pcdiag.nets import register as register_net
from pcdiag.runs import load_device_data, open_store, sweep, train, train_with_timing

__all__ = [
    "BadInputError",
    "Config",
    "ConfigError",
    "Diagnosis",
    "Net",
    "PcdiagError",
    "SchemaError",
    "TransientError",
    "diagnose",
    "__version__",
    "load_device_data",
    "load_params",
    "open_dataset",
    "open_store",
    "register_net",
    "save",
    "sweep",
    "train",
    "train_with_timing",
    "validate",
]
