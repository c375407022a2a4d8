"""Errors the CLI turns into one clear line on stderr and an exit code."""


class EdgeError(Exception):
    """A runtime failure with a message meant for the operator (exit code 1)."""

    exit_code = 1


class ConfigError(EdgeError):
    """Invalid configuration or usage (exit code 2)."""

    exit_code = 2


class ModelError(EdgeError):
    """A model file is missing, corrupt or does not match the manifest."""
