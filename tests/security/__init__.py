"""Adversarial tests: one per finding of issue 20."""
