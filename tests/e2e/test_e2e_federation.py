"""Federation across every tier with four real nodes over HTTP — county → city → province → national.

The nodes are started and joined once for the module (``chain``): starting and joining four nodes costs
more than either test's own steps. Each test works on its own objects and asserts only about them, so
either passes alone, first or second.

``test_four_tiers_over_http``: a user registered and an item published at the county reach the national
node with their origin (county via city via province), the national overview lists the nodes beneath the
province, and a refusal at the national node comes back down to the county's abnormal feedback.

``test_federation_across_four_tiers``:

1. a basic catalog entry the national node publishes (``dn_task_directory``) changes the province's basic
   catalog and reaches the city and the county;
2. a license issued at the city travels up through the province and the national node's verification
   service answers for it;
3. a person whose account is on the national node logs in at a city department system: the city sends
   them to the province, the province to the national node (trust transfer across two hops), and the
   accounts created on the way are linked by the ID number;
4. the connection progress (``GET /api/v1/exchange/progress``) of the province and the national node
   shows each lower node's numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from clikit import run_in
from licenses_kit import BUSINESS_FACE, COMPANY
from nodekit import Node, database_urls, register_person, staff_client, start_node
from zhengwu.seed import government_credit_code

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "identity_oidc"))  # the browser and the RP
from oidc_browser import PASSWORD, approve_consent, follow, page_login
from oidc_reference_rp import RpServer, free_port, make_rp

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]  # minutes: handed out first

PASSPORT = "000101001000"
STAFF_PASSWORD = "Staff-Passw0rd-2026"
NODE_SCOPE = "openid profile phone citizen_id"


def _cli(node: Node, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A node's command (the worker's rounds too) in this process with the node's environment: the nodes
    themselves are real servers; an interpreter start per command cost this module minutes of CPU."""
    done = run_in(node.env, *args, stdin=stdin)
    assert done.returncode == 0, f"zhengwu {' '.join(args)}: {done.stdout[-1000:]} {done.stderr[-2000:]}"
    return done


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout.strip().splitlines()[-1])


def _node_json(node: Node, *args: str) -> Any:
    """What ``Node.cli`` answers, in this process."""
    return _json(_cli(node, *args, "--json"))


def _join(lower: Node, upper: Node) -> None:
    assert "requested" in _cli(lower, "exchange", "join").stdout
    _cli(upper, "exchange", "nodes", "approve", lower.name)
    assert "joined" in _cli(lower, "exchange", "join").stdout


def _work(*nodes: Node) -> None:
    """One ``zhengwu worker --until-idle`` per node, in the order given."""
    for node in nodes:
        _cli(node, "worker", "--until-idle")


class _Unit:
    """A unit of work on a node's database from the test process."""

    def __init__(self, node: Node) -> None:
        self.url = node.env["ZHENGWU_DATABASE_URL"]

    def __enter__(self) -> Any:
        from zhengwu.kernel.db import make_engine
        from zhengwu.kernel.session import make_session_factory, unit_of_work

        self.engine = make_engine(self.url)
        self.cm = unit_of_work(make_session_factory(self.engine))
        return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.cm.__exit__(*exc)
        self.engine.dispose()


def _basic_entry(node: Node) -> tuple[str, str] | None:
    from zhengwu.catalog.models import BasicItem

    with _Unit(node) as session:
        item = session.scalar(select(BasicItem).where(BasicItem.catalog_code == PASSPORT))
        return None if item is None else (item.task_name, str(item.status))


def _platform_admin(national: Node) -> httpx.Client:
    """National staff (a platform administrator with a second factor) who edit the basic catalog."""
    code = government_credit_code("110000", 7)
    _cli(national, "departments", "add", "--credit-code", code, "--name", "国务院办公厅电子政务办公室",
         "--division", "110000")  # fmt: skip
    _cli(national, "users", "add-staff", "--login-name", "catalog.admin", "--name", "目录管理员", "--department",
         code, "--role", "platform_admin", "--password-stdin", stdin=STAFF_PASSWORD + "\n")  # fmt: skip
    return staff_client(national, "catalog.admin", STAFF_PASSWORD)


def _admin_token(node: Node, scope: str) -> str:
    client = _json(_cli(node, "identity", "clients", "create", "--name", "运维接口（测试）", "--grant",
                        "client_credentials", "--scope", scope, "--json"))  # fmt: skip
    answer = httpx.post(f"{node.url}/oidc/token", data={"grant_type": "client_credentials", "scope": scope},
                        auth=(client["client_id"], client["client_secret"]), timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _trust(upper: Node, lower: Node, name: str) -> None:
    """``upper`` registers ``lower`` as a node client; ``lower`` registers it as its upstream provider."""
    client = _node_json(
        upper,
        "identity", "clients", "create", "--name", name, "--kind", "node", "--grant", "authorization_code",
        "--redirect-uri", f"{lower.url}/oidc/federation/callback",
        "--backchannel-logout-uri", f"{lower.url}/oidc/federation/backchannel-logout",
        "--scope", NODE_SCOPE, "--citizen-id",
    )  # fmt: skip
    _node_json(lower, "identity", "upstream", "register", "--client-id", client["client_id"],
               "--client-secret", client["client_secret"])  # fmt: skip


def _provider_link(page: httpx.Response, *, onward: bool = False) -> str:
    """The "使用…账号登录" link of a node's login page (the person's next step, with ``next`` kept); with
    ``onward`` the one passed on through every tier to the national node."""
    links = [
        m.replace("&amp;", "&") for m in re.findall(r'<a href="(/oidc/federation/login\?[^"]+)">', page.text)
    ]
    found = [link for link in links if ("onward=1" in link) == onward]
    assert found, page.text[:1500]
    return found[0]


def _issue_city_license(city: Node, tmp: Path) -> str:
    from zhengwu.seed.licenses import seed_license_types

    department = government_credit_code("130100", 31)
    _cli(city, "pki", "init")
    _cli(city, "departments", "add", "--credit-code", department, "--name", "石家庄市市场监督管理局",
         "--division", "130100")  # fmt: skip
    _cli(
        city, "seals", "create", "--department", department, "--name", "石家庄市市场监督管理局行政审批专用章"
    )
    with _Unit(city) as session:
        seed_license_types(session)
    types = _json(_cli(city, "licenses", "types", "list", "--json"))
    type_code = next(t["code"] for t in types if t["name"] == "营业执照")
    face = tmp / "face.json"
    face.write_text(json.dumps(BUSINESS_FACE, ensure_ascii=False), encoding="utf-8")
    issued = _json(_cli(city, "licenses", "issue", "--type", type_code, "--holder-code", COMPANY,
                        "--holder-name", "石家庄演示科技有限公司", "--data", str(face), "--department",
                        department, "--json"))  # fmt: skip
    return str(issued["identifier"])


def _catalog_push(national: Node, province: Node, city: Node, county: Node, tmp_path: Path) -> None:
    """National staff publish a basic catalog entry; it is applied at every tier below."""
    staff = _platform_admin(national)
    try:
        made = staff.post("/api/v1/catalog/directory", json={
            "catalog_code": PASSPORT, "task_name": "普通护照签发", "task_type": "01", "use_level": "2^3^4",
            "by_law": "《中华人民共和国护照法》第五条",
        })  # fmt: skip
        assert made.status_code == 201, made.text
        assert staff.post(f"/api/v1/catalog/directory/{PASSPORT}/publish").status_code == 200
        assert _basic_entry(province) is None
        _work(national, province, city, county)
        for node in (province, city, county):
            assert _basic_entry(node) == ("普通护照签发", "published"), node.name
        suspended = staff.post(f"/api/v1/catalog/directory/{PASSPORT}/suspend", json={"reason": "国家调整"})
        assert suspended.status_code == 200, suspended.text
    finally:
        staff.close()
    _work(national, province, city, county)
    for node in (province, city, county):
        assert _basic_entry(node) == ("普通护照签发", "suspended"), node.name


def _city_license_nationally(
    national: Node, province: Node, city: Node, county: Node, tmp_path: Path
) -> None:
    """A license issued at the city verifies at the national node."""
    identifier = _issue_city_license(city, tmp_path)
    _work(county, city, province, national)
    verifier = {"Authorization": f"Bearer {_admin_token(national, 'verify:license')}"}

    def national_says(holder: str) -> bool:
        answer = httpx.post(f"{national.url}/api/v1/verify/license", headers=verifier, timeout=10,
                            json={"identifier": identifier, "holder": holder})  # fmt: skip
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["match"])

    assert national_says(COMPANY) is True
    assert national_says("石家庄演示科技有限公司") is True
    assert national_says(government_credit_code("130100", 32)) is False


def _national_login_at_city(national: Node, province: Node, city: Node, county: Node, tmp_path: Path) -> None:
    """A national account logs in at a city department system: city → province → national."""
    _trust(national, province, "河北省政务服务平台")
    _trust(province, city, "石家庄市政务服务平台")
    number, _ = register_person(national, 7301, "国家账号用户", PASSWORD)
    rp_port = free_port("127.0.0.3")
    rp_url = f"http://127.0.0.3:{rp_port}"
    rp_client = _node_json(
        city,
        "identity", "clients", "create", "--name", "石家庄市人社局业务系统", "--grant", "authorization_code",
        "--redirect-uri", f"{rp_url}/callback", "--backchannel-logout-uri", f"{rp_url}/backchannel-logout",
        "--scope", "openid profile",
    )  # fmt: skip
    app, _state = make_rp(city.url, rp_client["client_id"], rp_client["client_secret"], rp_url)
    with RpServer(app, "127.0.0.3", rp_port), httpx.Client(timeout=30, follow_redirects=False) as browser:
        at_city = follow(browser, browser.get(f"{rp_url}/login"))
        assert at_city.url.host == "127.0.0.2" and "/identity/login" in at_city.url.path, at_city.text[:300]
        # One click at the city: the province, with no session for the person, passes them straight on.
        at_national = follow(browser, browser.get(at_city.url.join(_provider_link(at_city, onward=True))))
        assert at_national.url.host == "localhost" and "/identity/login" in at_national.url.path
        done = follow(browser, page_login(browser, at_national, number))
        if done.status_code == 200 and "授权确认" in done.text:  # the department system asks consent
            done = follow(browser, approve_consent(browser, done))
        assert done.status_code == 200 and done.url.host == "127.0.0.3", done.text[:500]
        assert done.json()["claims"]["name"] == "国家账号用户"
        for node in (province, city):
            me = browser.get(f"{node.url}/api/v1/identity/me").json()
            assert me["account"]["display_name"] == "国家账号用户" and "fed" in me["session"]["amr"]


def _progress(national: Node, province: Node, city: Node, county: Node, tmp_path: Path) -> None:
    """Connection progress on the province and the national node, after the count reports travel."""
    # Count reports are hourly; operators (here the test) queue one now, bottom up, each carrying the
    # counts its lower nodes reported.
    for node in (county, city, province):
        _cli(node, "exchange", "progress", "--report")
        _work(node)
    province_view = httpx.get(f"{province.url}/api/v1/exchange/progress", timeout=10, headers={
        "Authorization": f"Bearer {_admin_token(province, 'exchange:admin')}"}).json()  # fmt: skip
    national_view = httpx.get(f"{national.url}/api/v1/exchange/progress", timeout=10, headers={
        "Authorization": f"Bearer {_admin_token(national, 'exchange:admin')}"}).json()  # fmt: skip
    # The province: the city's line, with the county beneath it and the city department's numbers.
    (sjz,) = [n for n in province_view["nodes"] if n["node_id"] == "sjz"]
    licenses = sjz["kinds"]["licenses"]
    assert (licenses["exists"], licenses["accepted"], licenses["rejected"]) == (1, 1, 0), sjz
    assert sjz["lower_nodes"] == ["zhengding"] and sjz["last_contact"] and sjz["counts_reported_at"]
    department = government_credit_code("130100", 31)
    (market,) = [d for d in sjz["departments"] if d["department_code"] == department]
    assert market["department_name"] == "石家庄市市场监督管理局"
    assert (market["kinds"]["licenses"]["exists"], market["kinds"]["licenses"]["accepted"]) == (1, 1)
    # The national node: the province's subtree as one line, the city's counts carried within it.
    (hebei,) = [n for n in national_view["nodes"] if n["node_id"] == "hebei"]
    assert (hebei["kinds"]["licenses"]["exists"], hebei["kinds"]["licenses"]["accepted"]) == (1, 1), hebei
    assert sorted(hebei["lower_nodes"]) == ["sjz", "zhengding"] and hebei["last_contact"]
    (market,) = [d for d in hebei["departments"] if d["department_code"] == department]
    assert market["kinds"]["licenses"]["coverage"] == 1.0


@dataclass
class Chain:
    """The four joined nodes."""

    national: Node
    province: Node
    city: Node
    county: Node


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """County → city → province → national, started and joined once for the module."""
    tmp = tmp_path_factory.mktemp("tiers")
    urls = database_urls(tmp, ["national", "hebei", "sjz", "zhengding"])
    started: list[Node] = []
    # One host per node: a browser keeps each node's session cookie apart by host, not by port.
    try:
        national = start_node("national", "localhost", tmp, urls["national"], None, national=True)
        started.append(national)
        province = start_node("hebei", "127.0.0.1", tmp, urls["hebei"], national.url, national=False)
        started.append(province)
        city = start_node("sjz", "127.0.0.2", tmp, urls["sjz"], province.url, national=False, extra_env={
            "ZHENGWU_TIER": "city", "ZHENGWU_DIVISION_CODE": "130100",
            "ZHENGWU_NODE_NAME": "石家庄市政务服务平台（测试）"})  # fmt: skip
        started.append(city)
        county = start_node("zhengding", "127.0.0.4", tmp, urls["zhengding"], city.url, national=False,
                            extra_env={"ZHENGWU_TIER": "county", "ZHENGWU_DIVISION_CODE": "130123",
                                       "ZHENGWU_NODE_NAME": "正定县政务服务平台（测试）",
                                       "ZHENGWU_EXCHANGE__DATA_SOURCE": "413"})  # fmt: skip
        started.append(county)
        _join(province, national)
        _join(city, province)
        _join(county, city)
        yield Chain(national, province, city, county)
    finally:
        for node in reversed(started):
            node.proc.terminate()
            try:
                node.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.proc.kill()


def _inbox(node: Node) -> list[Any]:
    from zhengwu.exchange.models import ExchangeInbox

    with _Unit(node) as session:
        return [
            (
                r.table_name,
                r.row_guid,
                r.sender,
                r.origin,
                r.origin_division,
                r.route,
                r.data_source,
                r.status,
            )
            for r in session.scalars(select(ExchangeInbox))
        ]


def _publish_item(county: Node) -> str:
    """A department of the county and one published implementation item; its task code."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))  # catalog_kit's guides
    from catalog_kit import guide, make_basic
    from zhengwu.catalog import service as catalog

    code = government_credit_code("130123", 41)
    _cli(county, "departments", "add", "--credit-code", code, "--name", "正定县行政审批局",
         "--division", "130123")  # fmt: skip
    with _Unit(county) as session:
        make_basic(session, "000132001000", "建筑施工特种作业人员操作资格认定", "01")
        item = catalog.create_task(session, guide(code, "000132001000"), actor="e2e")
        return catalog.publish_task(session, item.task_code, actor="e2e").task_code


def test_four_tiers_over_http(chain: Chain) -> None:
    national, province, city, county = chain.national, chain.province, chain.city, chain.county
    register_person(county, 5151, "演示县民", PASSWORD)
    _publish_item(county)
    _work(county, city, province)

    at_national = _inbox(national)
    from_county = [r for r in at_national if r[3] == "zhengding"]
    tables = {r[0] for r in from_county}
    assert "up_uc_province_user" in tables and "up_task_general_basic" in tables, at_national
    assert {(r[2], r[4], r[5], r[6], r[7]) for r in from_county} == {
        ("hebei", "130123", "zhengding/sjz/hebei", "413", "applied")
    }
    # Each national-table row arrived once, under the county's own row_guid.
    guids = [r[1] for r in from_county if r[0].startswith("up_")]
    assert len(guids) == len(set(guids))
    # Every national-table row the city took from the county, and only those.
    at_city = [r for r in _inbox(city) if r[2] == "zhengding" and r[0].startswith("up_")]
    county_guids = {r[1] for r in at_city if r[7] == "applied"}
    assert set(guids) == county_guids, [r for r in at_city if r[1] not in guids]

    # The nodes' own status reports go all the way up too: the county's (queued by its first worker
    # round) reaches the national node through the city and the province. (Whether the city's and
    # province's own statuses went in the same rounds depends on when their housekeeping ran.)
    statuses = json.loads(_cli(national, "ops", "nodes", "--json").stdout)
    seen = {(n["node_id"], n["tier"], n["route"], n["via"]) for n in statuses}
    assert ("zhengding", "county", "zhengding/sjz/hebei", "hebei") in seen, statuses
    assert seen <= {
        ("hebei", "province", "hebei", None),
        ("sjz", "city", "sjz/hebei", "hebei"),
        ("zhengding", "county", "zhengding/sjz/hebei", "hebei"),
    }, statuses

    tree = httpx.get(f"{national.url}/api/v1/exchange/overview", timeout=10).json()
    (hebei,) = [n for n in tree["nodes"] if n["node_id"] == "hebei"]
    (sjz,) = [n for n in hebei["lower"] if n["node_id"] == "sjz"]
    (zhengding,) = [n for n in sjz["lower"] if n["node_id"] == "zhengding"]
    assert zhengding["division_code"] == "130123" and zhengding["tier"] == "county"
    assert {t["table"] for t in zhengding["tables"]} >= {"up_uc_province_user", "up_task_general_basic"}

    # The national node refuses the county's user row; the refusal travels back down to the county.
    (user_guid,) = [r[1] for r in from_county if r[0] == "up_uc_province_user"]
    assert (
        "refused=1"
        in _cli(national, "exchange", "refuse", user_guid, "--reason", "国家核查：用户信息不完整").stdout
    )
    _work(province, city, county)
    feedback = [
        json.loads(line) for line in _cli(county, "exchange", "feedback", "--json").stdout.splitlines()
    ]
    mine = [f for f in feedback if f["row_guid"] == user_guid]
    assert len(mine) == 1, feedback
    assert mine[0]["source"] == "upstream" and mine[0]["table"] == "up_uc_province_user"
    assert "国家核查" in mine[0]["reason"] and "national" in mine[0]["reason"]


def test_federation_across_four_tiers(chain: Chain, tmp_path: Path) -> None:
    nodes = (chain.national, chain.province, chain.city, chain.county)
    _catalog_push(*nodes, tmp_path)
    _city_license_nationally(*nodes, tmp_path)
    _national_login_at_city(*nodes, tmp_path)
    _progress(*nodes, tmp_path)
