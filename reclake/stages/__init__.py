"""One module per job: the only place where lakehouse I/O meets the transforms.

Each module has ``run(spark, config, ctx) -> StageResult``, a ``STAGE`` and a
``main(argv)`` (what ``spark-submit jobs/<job>.py`` and ``reclake <job>`` call).
No stage imports another stage; ``reclake.pipeline`` composes them.
"""
