"""Input contract, validation, the synthetic world generator and the feature builders.

This stage imports neither ``training`` nor ``serving``.
"""
