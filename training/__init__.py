"""Labels and snapshots, model training, calibration, the health scorecard and MLflow logging.

Imports ``features``, never ``serving``.
"""
