"""XLA's compiled programs kept on disk between runs of the `pcdiag` command."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from pcdiag.data import cache_root


def use_compilation_cache() -> Path | None:
    """Keep XLA's compiled programs on disk, so a later run of the same shapes (the same
    command again, another seed or gamma) starts without compiling: $PCDIAG_XLA_CACHE, else
    <user cache>/xla (see pcdiag.data); PCDIAG_XLA_CACHE=off turns it off. Returns the folder."""
    setting = os.environ.get("PCDIAG_XLA_CACHE", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(setting) if setting else cache_root() / "xla"
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder
