"""The model: ALS fit, splits, tuning, ranking metrics, the quality gate, the registry and the report."""
