"""imagineer-build: a declarative, make-like build system for image-generation pipelines."""
__version__ = "0.1.0"
