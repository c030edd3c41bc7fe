"""Labelers: each turns album images into Labels (caption, tags, NSFW rating) its own way."""
