"""imagineer-build: a declarative, make-like build system for image-generation pipelines."""

from .kernels import pin as _pin_cpu_kernels

_pin_cpu_kernels()  # before anything imports torch: same CPU, same bits on every x86 machine
__version__ = "0.1.0"
