"""Kafka security settings from the environment, without Spark: `reclake ingest` (Spark's Kafka source) and
`reclake serve` (kafka-python, following users' recent events) read the same variables.

The settings never come from the config file: a password does not belong in a file under version control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The environment variables security settings come from, and what each sets.
SECURITY_PROTOCOL_ENV = "RECLAKE_KAFKA_SECURITY_PROTOCOL"  # e.g. SASL_SSL; unset: the client's default (PLAINTEXT)
SASL_MECHANISM_ENV = "RECLAKE_KAFKA_SASL_MECHANISM"  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; unset: PLAIN
SASL_USERNAME_ENV = "RECLAKE_KAFKA_SASL_USERNAME"
SASL_PASSWORD_ENV = "RECLAKE_KAFKA_SASL_PASSWORD"


@dataclass(frozen=True)
class KafkaLogin:
    """What the environment says about connecting: each field None where its variable is unset or empty."""

    security_protocol: str | None
    sasl_mechanism: str | None
    username: str | None
    password: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> KafkaLogin:
        def get(name: str) -> str | None:
            return environ.get(name) or None

        return cls(get(SECURITY_PROTOCOL_ENV), get(SASL_MECHANISM_ENV), get(SASL_USERNAME_ENV), get(SASL_PASSWORD_ENV))

    @property
    def mechanism(self) -> str:
        """The SASL mechanism a login uses: the one set, else PLAIN."""
        return self.sasl_mechanism or "PLAIN"
