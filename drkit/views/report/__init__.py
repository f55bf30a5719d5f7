"""Compliance reports: RPO/RTO attainment over a period as table, JSON, CSV, HTML and Prometheus.

`gather` reads the catalog, `model` computes (pure), the other modules render one `Report`.
"""
