"""Storyous: how its payloads map onto our model."""
