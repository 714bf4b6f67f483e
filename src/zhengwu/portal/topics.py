"""The portal's exchange topics (``kernel.topics``): notices, columns and the offered style come down the
feed and are passed on to every lower node (route ``*``), like the catalog's pushes."""

from __future__ import annotations

from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import Declaration, TableHook, TopicDeclaration
from zhengwu.portal import notices


def declarations(settings: Settings) -> list[Declaration]:
    """Our own dn_ tables (the national portal's exchange format is unpublished)."""
    return [
        TopicDeclaration(
            notices.NOTICE_TOPIC,
            table=notices.NOTICE_TABLE,
            key_column="notice_key",
            label="门户通知公告和栏目 / portal notices and columns",
            route_column="*",
        ),
        TableHook(notices.NOTICE_TABLE, notices.notice_applier(settings)),
        TopicDeclaration(
            notices.STYLE_TOPIC,
            table=notices.STYLE_TABLE,
            key_column="origin",
            label="门户页面样式 / portal style",
            route_column="*",
        ),
        TableHook(notices.STYLE_TABLE, notices.style_applier(settings)),
    ]
