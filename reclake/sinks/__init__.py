"""Publishing somewhere other than the lakehouse's Delta tables (BigQuery)."""
