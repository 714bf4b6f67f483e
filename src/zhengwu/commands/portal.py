"""``zhengwu portal``: publish notices and columns for this node's portal and its lower nodes', offer and
adopt the header style, register the department H5 apps of the mobile front end. Exit codes: 0 done; 1 a refusal the operator must fix (message on the console)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zhengwu.commands.node import node_unit
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.commands.seals import ReportingGroup, settings
from zhengwu.kernel.clock import BEIJING
from zhengwu.portal import rights as portal_rights

app = typer.Typer(
    cls=ReportingGroup,
    help="门户 / portal: notices, columns and the header style across tiers.",
    no_args_is_help=True,
)
notices_app = typer.Typer(
    cls=ReportingGroup, help="通知公告和栏目 / notices and columns.", no_args_is_help=True
)
style_app = typer.Typer(cls=ReportingGroup, help="页面样式 / the header style.", no_args_is_help=True)
app.add_typer(notices_app, name="notices")
apps_app = typer.Typer(
    cls=ReportingGroup, help="接入应用 / department H5 apps opened with single sign-on.", no_args_is_help=True
)
app.add_typer(style_app, name="style")
app.add_typer(apps_app, name="apps")
console = Console()


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@notices_app.command("publish")
def publish(
    title: Annotated[str, typer.Option("--title", help="标题 (1-200).")],
    body: Annotated[str, typer.Option("--body", help="正文 (a notice: required; a column: one line).")] = "",
    column: Annotated[
        bool, typer.Option("--column", help="A column entry (栏目) instead of a notice.")
    ] = False,
    url: Annotated[
        str | None, typer.Option("--url", help="The column's link: http(s):// or a path /…")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Publish a notice (or a column entry) here; lower nodes receive it through the downward feed."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import notices
    from zhengwu.portal.schemas import read_notice

    config = settings()
    with node_unit(config) as (_node, session):
        notice = notices.publish(
            session, config, kind="column" if column else "notice", title=title, body=body, url=url,
            actor=actor_of(None, cli=True),
        )  # fmt: skip
        shown = read_notice(notice, config.node_id).model_dump(mode="json")
    if as_json:
        _out(shown)
        return
    console.print(f"已发布 / published {shown['id']}：{escape(shown['title'])}")


@notices_app.command("withdraw")
def withdraw(notice_id: Annotated[str, typer.Argument(help="The entry's id.")]) -> None:
    """Withdraw an entry this node published, here and on the lower nodes."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import notices

    config = settings()
    with node_unit(config) as (_node, session):
        notice = notices.withdraw(session, config, notice_id, actor=actor_of(None, cli=True))
        title = notice.title
    console.print(f"已撤回 / withdrawn：{escape(title)}")


@notices_app.command("list")
def list_entries(
    column: Annotated[bool, typer.Option("--column", help="Columns instead of notices.")] = False,
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Include withdrawn entries.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """This node's and the upper nodes' notices (or columns), newest first."""
    from zhengwu.portal import notices
    from zhengwu.portal.schemas import read_notice

    config = settings()
    with node_unit(config) as (_node, session):
        rows, total = notices.current(
            session, "column" if column else "notice", limit=500, withdrawn=withdrawn
        )
        shown = [read_notice(n, config.node_id).model_dump(mode="json") for n in rows]
    if as_json:
        _out({"total": total, "entries": shown})
        return
    table = Table(title=f"{'栏目' if column else '通知公告'} ({total})")
    for name in ("编号", "发布时间（北京时间）", "来源", "标题", "状态"):
        table.add_column(name)
    for row, entry in zip(rows, shown, strict=True):
        table.add_row(
            entry["id"], row.published_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
            "本平台" if entry["local"] else escape(entry["origin_name"]), escape(entry["title"]),
            "已撤回" if entry["withdrawn_at"] else "有效",
        )  # fmt: skip
    console.print(table)


def _icon(path: Path | None) -> bytes | None:
    """An image file's bytes (an icon or a logo; checked by the portal), or exit 1 naming the problem."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        console.print(f"[red]无法读取图片文件 / cannot read the image: {escape(str(exc))}[/red]")
        raise typer.Exit(1) from None


@style_app.command("offer")
def offer(
    logo: Annotated[
        Path | None, typer.Option("--logo", help="The logo image to send (PNG or JPEG, at most 64 KB).")
    ] = None,
) -> None:
    """Offer this node's look (header text, logo, colour, footer) to the lower nodes."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import notices

    config = settings()
    image = _icon(logo)
    with node_unit(config) as (_node, session):
        payload = notices.offer_style(session, config, actor=actor_of(None, cli=True), logo=image)
    console.print(f"已下发页面样式 / style offered: {escape(payload['title'])} {payload['header_colour']}")


@style_app.command("adopt")
def adopt(
    origin: Annotated[str | None, typer.Argument(help="The upper node whose style to adopt.")] = None,
    own: Annotated[bool, typer.Option("--own", help="Go back to this node's own look.")] = False,
) -> None:
    """Adopt the style an upper node offered (or, with --own, this node's own look again)."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import notices

    if (origin is None) == (not own):
        console.print("[red]请指定上级节点 或 --own / give exactly one of ORIGIN and --own[/red]")
        raise typer.Exit(1)
    config = settings()
    with node_unit(config) as (_node, session):
        notices.adopt_style(session, None if own else origin, actor=actor_of(None, cli=True))
    console.print("已采用 / adopted" if origin else "已恢复本平台样式 / own look")


@style_app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The look the pages show now and the styles upper nodes offered."""
    from zhengwu.portal import notices
    from zhengwu.portal.schemas import read_offer

    config = settings()
    with node_unit(config) as (_node, session):
        look = notices.effective_look(session, config)
        offered = [read_offer(s).model_dump(mode="json") for s in notices.offers(session)]
    if as_json:
        _out({"look": look, "offers": offered})
        return
    console.print(f"当前样式 / look: {escape(look['title'])} {look['header_colour']}")
    for o in offered:
        console.print(
            f"  {escape(o['origin_name'])} ({o['origin']}) {o['header_colour']}{' 已采用' if o['adopted'] else ''}"
        )


_ITEM_HELP = "A served item: its implementation code or basic catalog code (repeat the option)."


@apps_app.command("add")
@privileged(portal_rights.APPS)
def add_app(
    name: Annotated[str, typer.Option("--name", help="应用名称 (1-60).")],
    entry_url: Annotated[str, typer.Option("--entry-url", help="The app's login-initiation address.")],
    client_id: Annotated[str, typer.Option("--client-id", help="Its OIDC client at this node.")],
    item: Annotated[list[str] | None, typer.Option("--item", help=_ITEM_HELP)] = None,
    description: Annotated[str, typer.Option("--description", help="一句话简介 (≤200).")] = "",
    icon: Annotated[Path | None, typer.Option("--icon", help="PNG or JPEG, at most 64 KB.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a department's H5 app: listed in the mobile front end, opened with single sign-on."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import apps
    from zhengwu.portal.schemas import read_app

    config = settings()
    with node_unit(config) as (_node, session):
        spec = apps.AppSpec(
            name=name, entry_url=entry_url, client_id=client_id, description=description, items=item or [],
            allow_http=not config.production,
        )  # fmt: skip
        made = apps.register(session, spec, icon=_icon(icon), actor=operator_actor(actor_of(None, cli=True)))
        shown = read_app(made).model_dump(mode="json")
    if as_json:
        _out(shown)
        return
    console.print(f"已登记 / registered {shown['id']}：{escape(shown['name'])}")


@apps_app.command("list")
def list_apps(
    withdrawn: Annotated[bool, typer.Option("--withdrawn", help="Include apps taken down.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The registered apps by name."""
    from zhengwu.portal import apps
    from zhengwu.portal.schemas import read_app

    config = settings()
    with node_unit(config) as (_node, session):
        shown = [read_app(a).model_dump(mode="json") for a in apps.listing(session, withdrawn=withdrawn)]
    if as_json:
        _out(shown)
        return
    table = Table(title=f"接入应用 ({len(shown)})")
    for column in ("编号", "名称", "入口地址", "客户端", "服务事项", "状态"):
        table.add_column(column)
    for a in shown:
        table.add_row(a["id"], escape(a["name"]), escape(a["entry_url"]), a["client_id"], str(len(a["items"])),
                      "已下架" if a["status"] == "withdrawn" else "在用")  # fmt: skip
    console.print(table)


@apps_app.command("withdraw")
@privileged(portal_rights.APPS)
def withdraw_app(app_id: Annotated[str, typer.Argument(help="The app's id.")]) -> None:
    """Take an app off the mobile front end (its OIDC client is disabled with `identity clients`)."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.portal import apps

    config = settings()
    with node_unit(config) as (_node, session):
        name = apps.withdraw(session, app_id, actor=operator_actor(actor_of(None, cli=True))).name
    console.print(f"已下架 / taken down：{escape(name)}")
