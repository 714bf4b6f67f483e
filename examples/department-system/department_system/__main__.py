"""``python -m department_system serve|catch-up``."""

from __future__ import annotations

import argparse
import logging

from department_system.config import Config


def main(argv: list[str] | None = None) -> None:
    """Serve the pages and the webhook receiver, or catch up through the pull feed once."""
    parser = argparse.ArgumentParser(prog="department-system", description="参考部门业务系统")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="启动网页与推送接收")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    commands.add_parser("catch-up", help="通过拉取接口补齐错过的事件")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from department_system.app import create_app

    app = create_app(Config.from_env())
    if args.command == "catch-up":
        read, new = app.state.catch_up()
        print(f"读取 {read} 条事件，新事件 {new} 条")
        return
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
