"""What a run leaves for operators: Prometheus metrics (``metrics``), see docs/monitoring.md."""
