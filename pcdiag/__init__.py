"""pcdiag: see where the energy goes in predictive coding networks."""

__version__ = "0.1.0"

from pcdiag.config import Config, ConfigError  # noqa: E402
from pcdiag.dataset import SchemaError, open_dataset, save, validate  # noqa: E402
from pcdiag.run import load_device_data, train  # noqa: E402
from pcdiag.sweep import sweep  # noqa: E402

__all__ = [
    "Config",
    "ConfigError",
    "SchemaError",
    "load_device_data",
    "open_dataset",
    "save",
    "sweep",
    "train",
    "validate",
]
