"""Data quality: the expectation suites (package data), their Spark translation for row rules,
the GX runs for source and batch rules, and the batch split into valid and quarantined rows."""
