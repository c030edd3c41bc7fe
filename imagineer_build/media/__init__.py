"""Shared image helpers: safe decoding, perceptual-hash dedup, album manifests, contact sheets."""
