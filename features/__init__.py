"""Input contract, validation, the signal catalog, the feature builders and the KPIs.

This stage imports neither ``training`` nor ``serving`` (nor ``simulator``, which builds on it).
"""
