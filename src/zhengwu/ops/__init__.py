"""Operations (运维): ``/_status`` with dependencies and ``/metrics`` in Prometheus text format."""
