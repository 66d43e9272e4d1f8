"""Where data lives: table names (``tables``), raw input (``raw``), Delta reads and writes
(``lakehouse``), the published layout (``layout``), the runs table (``runs``) and table
upkeep (``maintenance``). Only ``tables`` is importable without Spark.
"""
