"""A trained model's prediction side: what a model folder holds and how it is read and applied.

The feature spec and matrix (:mod:`.matrix`), calibrated boosters (:mod:`.booster`,
:mod:`.calibrator`), the health scorecard and its file (:mod:`.scorecard_core`,
:mod:`.scorecard_file`), exact TreeSHAP (:mod:`.treeshap`) and loading a verified folder
(:mod:`.folder`). Serving imports this package and never the fitting code (scikit-learn,
``training.train``); the training stage fits these objects and writes the folder
(:mod:`training.artifact`).
"""
