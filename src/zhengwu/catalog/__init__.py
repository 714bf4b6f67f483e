"""Item catalog (政务服务事项管理库): basic catalog, implementation lists, service guides, search.

Public surface: ``service`` (``create_directory``/``update_directory``/``publish_directory``/
``change_directory_state``, ``create_task``/``update_task``/``publish_task``/``change_task_state``/
``delete_task``, ``get_public_item``, ``history``, ``get_version``, ``diff_versions``,
``validate_catalog``, synonyms), ``national`` (snapshots and ``up_task_*`` payloads in the national
column names), ``search.search`` (Chinese search behind one interface: SQLite FTS5 or PostgreSQL
tsvector), ``importexport`` (``import_file``, ``export_file``), the staff
permission dependency in ``access`` and the ``routes`` router (``/api/v1/catalog/...``). Outbox topics
are ``catalog.up_task_directory`` and ``catalog.up_task_{general|public}_{basic|extend|material|
fee_project|questions}`` (see ``events``).
"""
