"""The `churn` command line: thin wiring over the features, training and serving stages."""
