"""Kinds: the domain. Each registers through the imagineer_build.kinds entry-point group."""
