"""Catalog import and export (JSON lines, XLSX, the 前置库 ``dn_task_*`` layout).

Public surface: ``import_file``, ``import_records``, ``ImportOptions``, ``ImportReport``, ``Reject``,
``RejectWriter`` (importer); ``export_file``, ``count_items`` (exporter); ``detect`` (formats).
"""

from zhengwu.catalog.importexport.exporter import ExportReport, count_items, export_file
from zhengwu.catalog.importexport.formats import detect
from zhengwu.catalog.importexport.importer import (
    ImportOptions,
    ImportReport,
    Reject,
    RejectWriter,
    directory_records,
    import_file,
    import_records,
    task_records,
)

__all__ = [
    "ExportReport",
    "ImportOptions",
    "ImportReport",
    "Reject",
    "RejectWriter",
    "count_items",
    "detect",
    "directory_records",
    "export_file",
    "import_file",
    "import_records",
    "task_records",
]
