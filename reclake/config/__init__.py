"""One typed, validated configuration for every job.

``models`` holds the sections with the one set of defaults and, in each
``Field(description=...)``, what every key means; ``loading`` reads a YAML file
(e.g. ``conf/local.yaml``, which sets only the keys that differ) and applies
``--set section.key=value`` overrides per run; ``reference`` generates
``docs/configuration.md`` from the models (``python -m reclake.config``).
Unknown keys, wrong types and impossible values are rejected at load time with a
message naming the key, so a typo never silently falls back to a default.
"""

from reclake.config.loading import load_config, parse_override
from reclake.config.models import (
    AlsSection,
    BadRowKind,
    BigQuerySection,
    CatalogueSection,
    ColumnMapping,
    Config,
    EvaluateSection,
    EventsSection,
    EventType,
    GenerateSection,
    InputFormat,
    InputSection,
    KafkaSection,
    LakehouseSection,
    LocalPath,
    MonitoringSection,
    PrepareSection,
    PublishSection,
    RankingMetric,
    RecommendSection,
    RunSection,
    Section,
    SparkSection,
    TableName,
    TimestampFormat,
    TuneSection,
    ValidationSection,
)

__all__ = [
    "AlsSection",
    "BadRowKind",
    "BigQuerySection",
    "CatalogueSection",
    "ColumnMapping",
    "Config",
    "EvaluateSection",
    "EventType",
    "EventsSection",
    "GenerateSection",
    "InputFormat",
    "InputSection",
    "KafkaSection",
    "LakehouseSection",
    "LocalPath",
    "MonitoringSection",
    "PrepareSection",
    "PublishSection",
    "RankingMetric",
    "RecommendSection",
    "RunSection",
    "Section",
    "SparkSection",
    "TableName",
    "TimestampFormat",
    "TuneSection",
    "ValidationSection",
    "load_config",
    "parse_override",
]
