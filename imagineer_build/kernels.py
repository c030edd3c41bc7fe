"""CPU kernels pinned to one instruction set, so a CPU build gives the same bytes on any x86 machine.

torch, oneDNN and MKL choose their kernels for the CPU they find (AVX-512 on a server, AVX2 on a
laptop), and those kernels round differently: the demo LoRA trained on an AVX-512 machine had other
bytes than the one trained on an AVX2 machine from the same spec and lock. Pinned to AVX2, which
every x86-64 machine of the last decade has, both give the same bytes. The libraries read these
variables when they load, so `imagineer_build/__init__.py` calls `pin()` before anything imports
torch. `IMAGINEER_CPU_ISA=native` leaves them alone (AVX-512 kernels are faster); builds on the
CPU then declare themselves non-deterministic, as GPU builds do.
"""

from __future__ import annotations

import os
import sys

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
_state = {"kernels": "native"}


def pin() -> None:
    """Set the pinning variables unless asked not to, or unless torch is loaded already (then
    it is too late: a library that imported torch first keeps the machine's own kernels)."""
    wanted = os.environ.get("IMAGINEER_CPU_ISA", "avx2").strip().lower() != "native"
    x86 = os.uname().machine.lower() in ("x86_64", "amd64")  # not `platform`: every command imports this
    if wanted and x86 and "torch" not in sys.modules:
        os.environ.update(PINNED)
        _state["kernels"] = "avx2"


def cpu_kernels() -> str:
    """'avx2' when pinned, else 'native' (this machine's choice: not comparable across machines)."""
    return _state["kernels"]
