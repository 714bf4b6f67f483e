"""Chinese search over published implementation items, behind one interface for SQLite and PostgreSQL.

Public surface: ``search(session, q, filters, offset=, limit=, scope=)`` → ``SearchResult``,
``SearchFilters``, ``SearchHit``; index maintenance in ``index`` (``index_item``, ``unindex_item``,
``BulkIndexer``); the per-dialect full-text parts in ``sqlite`` and ``postgres``.
"""

from zhengwu.catalog.search.engine import SearchFilters, SearchHit, SearchResult, forget_synonyms, search

__all__ = ["SearchFilters", "SearchHit", "SearchResult", "forget_synonyms", "search"]
