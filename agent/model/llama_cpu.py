"""Keep llama.cpp off CPU paths this machine advertises but cannot run.

Some virtual machines (Firecracker among them) report Intel AMX in the CPU
flags and grant the kernel permission for it, yet fault on the first AMX
instruction: llama.cpp then dies with SIGILL on the first token. AMX reaches
llama.cpp through its "extra buffer types" (weights repacked for a special
kernel); loading the model without them runs the plain AVX kernels instead.
For the default SmolLM2 GGUF (Q4_1) nothing is repacked anyway, so nothing is
lost. Set GREENLOOP_LLAMA_AMX=1 on a machine whose AMX works.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["avoid_broken_cpu_paths"]

_FORCE = "GREENLOOP_LLAMA_AMX"


def _advertises_amx() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and " amx_tile" in line for line in text.splitlines())


def avoid_broken_cpu_paths() -> None:
    """Load models without extra buffer types where AMX is advertised (idempotent).

    Patches llama-cpp-python's default model parameters, which `Llama()` reads
    when it loads a model; call it before loading one.
    """
    if os.environ.get(_FORCE) == "1" or not _advertises_amx():
        return
    import llama_cpp.llama_cpp as native

    if getattr(native.llama_model_default_params, "_greenloop", False):
        return
    original = native.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    defaults._greenloop = True  # type: ignore[attr-defined]
    native.llama_model_default_params = defaults
