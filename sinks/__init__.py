"""Stage 4: where results go. The Parquet archive, alert delivery (webhooks), the dashboard."""
