"""Stage 4: where results go.

- ``archive.py``: the Parquet archive (screened manifests with their results, rejections),
  an in-pipeline sink flushed before each batch's commit; ``cargowatch archive compact``.
- ``webhook.py``: alert delivery to webhooks, its own consumer of ``alerts``.
- ``dashboard/``: the officers' and operations teams' live alert board.
- ``metrics.py``: Prometheus metrics of delivery and the dashboard.
- ``base.py``: the small surface every in-pipeline sink implements.
"""
