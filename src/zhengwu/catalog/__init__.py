"""Item catalog (政务服务事项管理库): basic catalog, implementation lists, service guides, search.

Public surface: ``service`` (create/update/publish/suspend/cancel of basic and implementation items,
``get_public_item``, ``history``, ``diff_versions``, ``validate_catalog``), ``search.search``
(Chinese search behind one interface: SQLite FTS5 or PostgreSQL tsvector), ``importexport``
(``import_file``, ``export_file``), ``demo.seed_catalog`` and the ``routes`` router
(``/api/v1/catalog/...``). JSON uses the national column names of the ``up_task_*`` tables.
"""
