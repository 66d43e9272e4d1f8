"""reclake: batch recommendations on Spark.

Each stage of the pipeline is a module with a ``main()`` (``generate``,
``validate``, ``prepare``, ``train``, ``recommend``, ``publish``; ``run`` runs
them all). The shared pieces are ``config`` (typed YAML config), ``spark`` (the
one SparkSession builder), ``storage`` (reading input and writing Delta) and
``constants`` (column names).
"""

__version__ = "0.1.0"
