#!/usr/bin/env python3
"""Generate the sample leads and reps for the four sample templates under ``templates/``.

Deterministic: every template has its own ``random.Random(seed)``, so running this script twice
writes byte-identical files (UTF-8 without BOM, ``\\n`` line endings). Standard library only.

    python examples/generate_examples.py            # writes examples/<template>/{leads,reps}.csv

Timestamps are relative to the reference time used by the golden runs,
``2026-11-23T09:00:00+08:00`` (a Monday), so the same leads are due for a reminder or a
reclaim whenever the goldens run with ``--now 2026-11-23T09:00:00+08:00``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
TODAY = NOW.date()

LEAD_BUILTINS = ["created_at", "owner", "assigned_at", "first_followup_at", "last_followup_at",
                 "followup_count", "previous_owner", "reclaimed_at"]
REP_BUILTINS = ["team", "status", "leave_from", "leave_to", "load", "points", "assigned_today",
                "assigned_week", "held_from_pool", "claims_today", "manager"]

# ---------------------------------------------------------------------------------------------
# Shared vocabulary
# ---------------------------------------------------------------------------------------------

SURNAMES = [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
            ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
            ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
            ("罗", "luo"), ("高", "gao"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
            ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
            ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("潘", "pan"),
            ("袁", "yuan"), ("蔡", "cai"), ("蒋", "jiang"), ("余", "yu"), ("叶", "ye"), ("程", "cheng"),
            ("苏", "su"), ("吕", "lv"), ("魏", "wei"), ("丁", "ding"), ("沈", "shen"), ("姚", "yao")]
GIVEN = [("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("磊", "lei"),
         ("强", "qiang"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"),
         ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
         ("辉", "hui"), ("玲", "ling"), ("婷", "ting"), ("斌", "bin"), ("宇", "yu"), ("浩", "hao"),
         ("凯", "kai"), ("鹏", "peng"), ("丹", "dan"), ("琳", "lin"), ("晨", "chen"), ("欣", "xin"),
         ("建华", "jianhua"), ("海燕", "haiyan"), ("志强", "zhiqiang"), ("晓东", "xiaodong"),
         ("丽娟", "lijuan"), ("建国", "jianguo"), ("文博", "wenbo"), ("子涵", "zihan"), ("雨萱", "yuxuan"),
         ("俊杰", "junjie"), ("思远", "siyuan"), ("佳怡", "jiayi"), ("国栋", "guodong"), ("春梅", "chunmei"),
         ("永刚", "yonggang"), ("立新", "lixin"), ("红霞", "hongxia"), ("振宇", "zhenyu")]
MOBILE_PREFIXES = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
                   "182", "183", "187", "188", "130", "131", "132", "155", "156", "185", "186", "133",
                   "153", "180", "181", "189", "177", "199", "166", "176"]
ROADS = ["中山路", "人民路", "建设路", "解放路", "新华路", "朝阳路", "滨江路", "东风路", "文化路", "青年路",
         "工业大道", "迎宾路", "长安路", "和平路", "光明路", "学府路", "金湖路", "湖滨路", "胜利路", "五一路"]
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def iso(t: dt.datetime | None) -> str:
    """ISO 8601 with the +08:00 offset, to the second."""
    return "" if t is None else t.replace(microsecond=0).isoformat()


def ago(days: float) -> dt.datetime:
    """``NOW`` minus a number of days, rounded to the minute."""
    t = NOW - dt.timedelta(days=days)
    return t.replace(second=0, microsecond=0)


def in_office_hours(t: dt.datetime) -> bool:
    return dt.time(8, 0) <= t.time() <= dt.time(21, 30)


def office_time(rng: random.Random, days_back_min: float, days_back_max: float) -> dt.datetime:
    """A timestamp between the two ages (in days before ``NOW``), during working hours."""
    t = ago(rng.uniform(days_back_min, days_back_max))
    for _ in range(200):
        if in_office_hours(t):
            break
        t = ago(rng.uniform(days_back_min, days_back_max))
    return min(t, NOW - dt.timedelta(minutes=5))


def age(t: dt.datetime) -> float:
    """Days between ``t`` and ``NOW``."""
    return (NOW - t).total_seconds() / 86400


class Names:
    """Chinese person names and unique mobile numbers for one template."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()

    def person(self) -> tuple[str, str]:
        s, sp = self.rng.choice(SURNAMES)
        g, gp = self.rng.choice(GIVEN)
        return s + g, f"{gp}.{sp}"

    def mobile(self) -> str:
        while True:
            p = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if p not in self.phones:
                self.phones.add(p)
                return p


def maybe(rng: random.Random, p_empty: float, value: Any) -> Any:
    """``value``, or empty with probability ``p_empty``."""
    return "" if rng.random() < p_empty else value


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def tags(values: Iterable[str]) -> str:
    return ";".join(values)


def fmt_bool(v: bool | None) -> str:
    return "" if v is None else ("true" if v else "false")


def round_to(x: float, step: int) -> int:
    return int(round(x / step) * step)


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    """Many small values, a few large ones (how store sizes and purchases are spread)."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


# ---------------------------------------------------------------------------------------------
# Ownership: the built-in columns of a lead, by scenario
# ---------------------------------------------------------------------------------------------

def ownership(rng: random.Random, *, owner: str | None, assigned_days: tuple[float, float] | None = None,
              last_fu_days: tuple[float, float] | None = None, created_days: tuple[float, float] | None = None,
              previous_owner: str | None = None, reclaimed_days: tuple[float, float] | None = None
              ) -> dict[str, Any]:
    """Built-in columns consistent with each other: created <= assigned <= first <= last <= now.

    ``assigned_days`` is how long ago the lead was assigned; ``last_fu_days`` how long ago the
    last follow-up was (None: never followed up); ``created_days`` forces the creation age.
    """
    row: dict[str, Any] = {k: "" for k in LEAD_BUILTINS}
    if owner is None:
        lo, hi = created_days or (0.05, 2.5)
        created = office_time(rng, lo, hi)
        row["created_at"] = iso(created)
        if previous_owner:
            rlo, rhi = reclaimed_days or (0.5, 10)
            reclaimed = office_time(rng, min(rlo, age(created) - 0.5), min(rhi, age(created) - 0.5))
            row["previous_owner"] = previous_owner
            row["reclaimed_at"] = iso(reclaimed)
            row["followup_count"] = 0
            # Reclaimed for going stale: the previous owner's follow-ups stay on the lead.
            if age(created) - age(reclaimed) > 8 and rng.random() < 0.7:
                last = office_time(rng, age(reclaimed) + 7.05, min(age(created) - 0.5, age(reclaimed) + 30))
                first = office_time(rng, age(last), age(created) - 0.02)
                count = 1 if first == last else rng.randint(2, 5)
                row.update(first_followup_at=iso(min(first, last)), last_followup_at=iso(last), followup_count=count)
        return row
    assert assigned_days is not None
    assigned = office_time(rng, *assigned_days)
    if last_fu_days is not None:
        # the last follow-up cannot be older than the assignment
        lo, hi = last_fu_days
        hi = min(hi, age(assigned) - 0.05)
        lo = min(lo, hi)
        last = max(office_time(rng, lo, hi), assigned + dt.timedelta(minutes=20))
        span = (last - assigned).total_seconds() / 86400
        count = 1 if span < 0.5 else rng.randint(2, max(2, min(9, int(span / 2) + 2)))
        first = last
        if count > 1:
            first = office_time(rng, age(last) + 0.01, age(assigned) - min(0.02, span / 2))
            first = min(max(first, assigned + dt.timedelta(minutes=10)), last)
        row.update(first_followup_at=iso(first), last_followup_at=iso(last), followup_count=count)
    else:
        row["followup_count"] = 0
    if created_days is not None:
        lo, hi = created_days
        created = office_time(rng, max(lo, age(assigned) + 0.003), max(hi, age(assigned) + 0.01))
    else:
        created = office_time(rng, age(assigned) + 0.003, age(assigned) + 2)
    row.update(created_at=iso(created), owner=owner, assigned_at=iso(assigned))
    if previous_owner:
        reclaimed = office_time(rng, age(assigned) + 0.02, min(age(created) - 0.01, age(assigned) + 3))
        row["previous_owner"] = previous_owner
        row["reclaimed_at"] = iso(max(reclaimed, created))
    return row


def write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n", extrasaction="raise")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k, "")) for k in header})


def finish_leads(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order by creation time and number the leads L00001, L00002, ..."""
    rows.sort(key=lambda r: r["created_at"])
    for r in rows:
        if r["previous_owner"] and not r["owner"] and r["followup_count"] == 0:
            # reclaimed for never being followed up: still a new lead
            r["stage"] = "new"
            if "lost_reason" in r:
                r["lost_reason"] = ""
    for i, r in enumerate(rows, 1):
        r["id"] = f"L{i:05d}"
    return rows


def rep_row(rid: str, name: str, fields: dict[str, Any], team: str, *, status: str = "active",
            leave: tuple[str, str] | None = None, load: float | str = "", points: int = 0,
            assigned_today: int = 0, assigned_week: int = 0, held_from_pool: int = 0,
            claims_today: int = 0, manager: str = "") -> dict[str, Any]:
    row = {"id": rid, "name": name, **fields, "team": team, "status": status,
           "leave_from": leave[0] if leave else "", "leave_to": leave[1] if leave else "",
           "load": load, "points": points, "assigned_today": assigned_today,
           "assigned_week": assigned_week, "held_from_pool": held_from_pool,
           "claims_today": claims_today, "manager": manager}
    return row


# ---------------------------------------------------------------------------------------------
# 1. b2b_software
# ---------------------------------------------------------------------------------------------

B2B_CITIES = {
    "north": [("北京", "110105"), ("天津", "120116"), ("石家庄", "130102"), ("太原", "140105"),
              ("唐山", "130203"), ("保定", "130602"), ("呼和浩特", "150102")],
    "east": [("上海", "310115"), ("杭州", "330106"), ("南京", "320106"), ("苏州", "320505"),
             ("宁波", "330212"), ("无锡", "320214"), ("合肥", "340104"), ("济南", "370102"),
             ("青岛", "370212"), ("厦门", "350206")],
    "south": [("广州", "440106"), ("深圳", "440305"), ("东莞", "441900"), ("佛山", "440604"),
              ("珠海", "440402"), ("南宁", "450103"), ("海口", "460106")],
    "central": [("武汉", "420106"), ("长沙", "430104"), ("郑州", "410105"), ("南昌", "360111"),
                ("宜昌", "420502"), ("洛阳", "410305")],
    "west": [("成都", "510107"), ("重庆", "500112"), ("西安", "610113"), ("昆明", "530102"),
             ("贵阳", "520103"), ("兰州", "620102")],
}
B2B_BRANDS = [("恒信", "hengxin"), ("华拓", "huatuo"), ("瑞丰", "ruifeng"), ("鼎盛", "dingsheng"),
              ("远航", "yuanhang"), ("盛达", "shengda"), ("金桥", "jinqiao"), ("天禾", "tianhe"),
              ("博远", "boyuan"), ("汇通", "huitong"), ("启明", "qiming"), ("新元", "xinyuan"),
              ("宏图", "hongtu"), ("德润", "derun"), ("联创", "lianchuang"), ("安泰", "antai"),
              ("凯越", "kaiyue"), ("明阳", "mingyang"), ("嘉和", "jiahe"), ("信达", "xinda"),
              ("同创", "tongchuang"), ("鑫源", "xinyuan"), ("海纳", "haina"), ("丰源", "fengyuan"),
              ("云帆", "yunfan"), ("星辰", "xingchen"), ("蓝海", "lanhai"), ("万象", "wanxiang"),
              ("长风", "changfeng"), ("易达", "yida"), ("驰远", "chiyuan"), ("永安", "yongan"),
              ("广汇", "guanghui"), ("泽润", "zerun"), ("锦程", "jincheng"), ("普惠", "puhui"),
              ("宏达", "hongda"), ("致远", "zhiyuan"), ("卓信", "zhuoxin"), ("华胜", "huasheng"),
              ("中恒", "zhongheng"), ("润泽", "runze"), ("天成", "tiancheng"), ("东升", "dongsheng"),
              ("百川", "baichuan"), ("正元", "zhengyuan"), ("瀚海", "hanhai"), ("骏达", "junda")]
B2B_INDUSTRY_WORDS = {
    "manufacturing": ["精密机械", "汽车零部件", "电子科技", "新材料", "智能装备", "化工", "电气"],
    "finance": ["融资租赁", "商业保理", "保险代理", "资产管理", "小额贷款"],
    "healthcare": ["医疗科技", "生物医药", "医药连锁", "健康管理", "医疗器械"],
    "retail": ["商贸", "连锁超市", "服饰", "餐饮管理", "家居"],
    "logistics": ["物流", "供应链管理", "冷链物流", "国际货运代理"],
    "internet": ["网络科技", "信息技术", "数据科技", "互动娱乐"],
    "education": ["教育科技", "职业培训学校", "教育咨询"],
}
B2B_GOV_UNITS = ["城市投资发展集团有限公司", "水务集团有限公司", "公共资源交易中心", "市政工程管理处",
                 "交通投资集团有限公司", "政务服务数据管理局", "燃气集团有限公司", "人民医院"]
B2B_NOTES = ["客户正在做年度 IT 规划，预计明年一季度立项", "展会留资，对移动审批和报表感兴趣",
             "现用老系统五年了，考虑整体替换", "要求私有化部署，需要过信息安全评审",
             "老客户转介绍，信任度高", "采购走招标流程，参数需要提前沟通", "老板很重视，IT 部门态度一般",
             "竞品报价低 20%，客户在比价", "需要和现有 ERP、OA 对接", "预算在走审批，年底前能批下来",
             "分公司多，先在总部试点", "客户希望先做两周 POC"]


def b2b_company(rng: random.Random, industry: str, city: str) -> tuple[str, str]:
    brand, py = rng.choice(B2B_BRANDS)
    if industry == "government":
        return f"{city}市{rng.choice(B2B_GOV_UNITS)}", f"{py}.gov.cn"
    word = rng.choice(B2B_INDUSTRY_WORDS[industry])
    if word.endswith("学校"):
        return f"{city}{brand}{word}", f"{py}edu.com"
    suffix = weighted(rng, [("有限公司", 6), ("股份有限公司", 2), ("集团有限公司", 1)])
    return f"{city}{brand}{word}{suffix}", f"{py}.com.cn" if rng.random() < 0.4 else f"{py}-tech.com"


def b2b_credit_code(rng: random.Random, area: str, gov: bool, used: set[str]) -> str:
    while True:
        code = ("11" if gov else "91") + area + "".join(rng.choice(CREDIT_CHARS) for _ in range(10))
        if code not in used:
            used.add(code)
            return code


def b2b_reps() -> list[dict[str, Any]]:
    # (id, name, level, regions, team, extras)
    spec: list[tuple[str, str, str, list[str], str, dict[str, Any]]] = [
        ("r01", "王磊", "expert", ["east"], "华东组", dict(points=186)),
        ("r02", "李静", "senior", ["east"], "华东组", dict(load=6, points=142, manager="r01")),
        ("r03", "张伟", "mid", ["east"], "华东组", dict(points=96, manager="r01")),
        ("r04", "陈晓东", "mid", ["east", "central"], "华东组", dict(status="paused", points=51, manager="r01")),
        ("r05", "刘洋", "junior", ["east"], "华东组", dict(points=38, manager="r01")),
        ("r06", "赵建国", "expert", ["north"], "华北组", dict(points=201)),
        ("r07", "孙丽娟", "senior", ["north"], "华北组", dict(load=9, points=133, manager="r06")),
        ("r08", "周鹏", "mid", ["north"], "华北组", dict(points=88, manager="r06")),
        ("r09", "吴婷", "senior", ["north", "central"], "华北组",
         dict(leave=("2026-11-18", "2026-11-27"), points=120, manager="r06")),
        ("r10", "郑凯", "junior", ["north"], "华北组", dict(points=27, manager="r06")),
        ("r11", "黄志强", "senior", ["south"], "华南组", dict(points=158)),
        ("r12", "林佳怡", "mid", ["south"], "华南组", dict(points=74, manager="r11")),
        ("r13", "梁浩", "mid", ["south"], "华南组", dict(leave=("2026-11-23", "2026-11-24"), points=69, manager="r11")),
        ("r14", "何欣", "junior", ["south"], "华南组", dict(points=31, manager="r11")),
        ("r15", "杨文博", "senior", ["central", "west"], "中西部组", dict(points=147)),
        ("r16", "邓丹", "mid", ["west"], "中西部组", dict(points=82, manager="r15")),
        ("r17", "彭宇", "mid", ["central"], "中西部组", dict(leave=("2026-12-01", "2026-12-05"), points=65, manager="r15")),
        ("r18", "曾子涵", "junior", ["west", "central"], "中西部组", dict(points=22, manager="r15")),
        ("r19", "许晨", "junior", ["east", "south"], "电销组", dict(points=19, manager="r01", assigned_today=2)),
        ("r20", "冯立新", "junior", ["north"], "电销组", dict(status="inactive", points=0, manager="r06")),
        ("r21", "唐雨萱", "junior", ["east", "north"], "电销组", dict(points=24, manager="r01", assigned_today=1)),
        ("r22", "韩俊杰", "mid", ["east"], "华东组", dict(points=57, manager="r01")),
        ("r23", "曹思远", "senior", ["south", "east"], "华南组", dict(points=129, manager="r11")),
        ("r24", "蔡佳怡", "junior", ["central", "south"], "中西部组", dict(points=16, manager="r15")),
    ]
    rows = []
    for rid, name, level, regions, team, extra in spec:
        extra = dict(extra)
        extra.setdefault("load", 0)
        rows.append(rep_row(rid, name, {"level": level, "regions": tags(regions)}, team, **extra))
    return rows


def b2b_leads(rng: random.Random, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = Names(rng)
    used_codes: set[str] = set()
    by_level = {lv: [r["id"] for r in reps if r["level"] == lv and r["status"] != "inactive"]
                for lv in ("junior", "mid", "senior", "expert")}
    rows: list[dict[str, Any]] = []

    def lead(profile: str) -> dict[str, Any]:
        region = weighted(rng, [("east", 34), ("north", 22), ("south", 20), ("central", 12), ("west", 12)])
        city, area = rng.choice(B2B_CITIES[region])
        industry = weighted(rng, [("manufacturing", 26), ("finance", 10), ("healthcare", 10), ("retail", 14),
                                  ("logistics", 10), ("internet", 14), ("education", 8), ("government", 8)])
        company, domain = b2b_company(rng, industry, city)
        person, py = names.person()
        if profile == "enterprise":
            employees = rng.randint(800, 30000)
            deal = round_to(rng.uniform(700_000, 4_500_000), 10_000)
            if rng.random() < 0.15:
                # a group subsidiary buying what headquarters already uses: big but simple
                decision, competitor, custom = rng.randint(1, 2), "none", "standard"
            else:
                decision = rng.randint(3, 9)
                competitor = weighted(rng, [("several", 4), ("one", 4), ("none", 2)])
                custom = weighted(rng, [("heavy", 4), ("light", 4), ("standard", 2)])
            budget_ok = rng.random() < 0.55
            role = weighted(rng, [("cio", 4), ("ceo", 2), ("it_manager", 3), ("business_head", 2), ("procurement", 1)])
        elif profile == "mid":
            employees = rng.randint(100, 1500)
            deal = round_to(rng.uniform(150_000, 900_000), 5_000)
            decision = rng.randint(2, 5)
            competitor = weighted(rng, [("several", 2), ("one", 5), ("none", 3)])
            custom = weighted(rng, [("heavy", 1), ("light", 5), ("standard", 4)])
            budget_ok = rng.random() < 0.35
            role = weighted(rng, [("cio", 1), ("ceo", 2), ("it_manager", 5), ("business_head", 3), ("staff", 2)])
        else:
            employees = rng.randint(8, 400)
            deal = round_to(rng.uniform(12_000, 230_000), 1_000)
            decision = rng.randint(1, 3)
            competitor = weighted(rng, [("several", 1), ("one", 3), ("none", 6)])
            custom = weighted(rng, [("heavy", 1), ("light", 3), ("standard", 6)])
            budget_ok = rng.random() < 0.3
            role = weighted(rng, [("ceo", 4), ("it_manager", 2), ("business_head", 2), ("staff", 3)])
        source = weighted(rng, [("website", 30), ("referral", 15), ("partner", 12), ("event", 20), ("outbound", 23)])
        close = TODAY + dt.timedelta(days=rng.randint(15, 240))
        row = {
            "company": company,
            "credit_code": maybe(rng, 0.15, b2b_credit_code(rng, area, industry == "government", used_codes)),
            "industry": industry,
            "employees": maybe(rng, 0.08, employees),
            "region": region,
            "city": maybe(rng, 0.04, city),
            "contact": person,
            "contact_role": maybe(rng, 0.1, role),
            "phone": names.mobile(),
            "email": maybe(rng, 0.35, f"{py}@{domain}"),
            "source": maybe(rng, 0.05, source),
            "deal_size": maybe(rng, 0.05, deal),
            "budget_confirmed": fmt_bool(budget_ok) if rng.random() > 0.1 else "",
            "decision_makers": maybe(rng, 0.1, decision),
            "competitor": maybe(rng, 0.1, competitor),
            "customization": maybe(rng, 0.08, custom),
            "stage": "new",
            "expected_close_date": maybe(rng, 0.45, close.isoformat()),
            "lost_reason": "",
            "notes": rng.choice(B2B_NOTES) if rng.random() < 0.25 else "",
        }
        return row

    def profile() -> str:
        return weighted(rng, [("enterprise", 11), ("mid", 33), ("smb", 56)])

    def owner_for(p: str) -> str:
        if p == "enterprise":
            return rng.choice(by_level["senior"] + by_level["expert"])
        if p == "mid":
            return rng.choice(by_level["mid"] if rng.random() < 0.75 else by_level["senior"])
        return rng.choice(by_level["junior"] if rng.random() < 0.7 else by_level["mid"])

    # New, unassigned leads: the batch the simulation assigns.
    for _ in range(150):
        rows.append({**lead(profile()), **ownership(rng, owner=None, created_days=(0.02, 3))})
    # Pool leads reclaimed earlier (the previous owner is in cooldown).
    for _ in range(22):
        p = profile()
        prev = owner_for(p)
        r = {**lead(p), **ownership(rng, owner=None, created_days=(12, 45), previous_owner=prev, reclaimed_days=(0.5, 20))}
        r["stage"] = weighted(rng, [("contacted", 5), ("qualified", 2), ("lost", 2)])
        if r["stage"] == "lost":
            r["lost_reason"] = rng.choice(["price", "competitor", "no_budget", "no_decision", "product_gap"])
        rows.append(r)
    # Owned leads, by reclaim situation at NOW (3-day first follow-up, 7-day follow-up rules).
    scenarios: list[tuple[int, dict[str, Any], Callable[[], str]]] = [
        (10, dict(assigned_days=(0.1, 1.9)), lambda: "new"),                                   # within 3 days
        (7, dict(assigned_days=(2.05, 2.95)), lambda: "new"),                                  # reminder: first follow-up due
        (9, dict(assigned_days=(3.2, 9)), lambda: "new"),                                      # reclaim: no first follow-up
        (28, dict(assigned_days=(2, 40), last_fu_days=(0, 4.9)),
         lambda: weighted(rng, [("contacted", 4), ("qualified", 3), ("proposal", 2), ("negotiation", 1)])),
        (9, dict(assigned_days=(6, 40), last_fu_days=(5.05, 6.95)),
         lambda: weighted(rng, [("contacted", 3), ("qualified", 3), ("proposal", 2)])),       # reminder: stale
        (14, dict(assigned_days=(9, 60), last_fu_days=(7.2, 25)),
         lambda: weighted(rng, [("contacted", 4), ("qualified", 3), ("proposal", 2), ("lost", 1)])),  # reclaim: stale
        (14, dict(assigned_days=(15, 90), last_fu_days=(8, 40)),
         lambda: weighted(rng, [("negotiation", 2), ("won", 3)])),                             # protected
    ]
    for count, kw, stage in scenarios:
        for _ in range(count):
            p = weighted(rng, [("enterprise", 10), ("mid", 35), ("smb", 55)])
            r = {**lead(p), **ownership(rng, owner=owner_for(p), **kw)}
            r["stage"] = stage()
            if r["stage"] == "lost":
                r["lost_reason"] = rng.choice(["price", "competitor", "no_budget", "no_decision"])
            if r["stage"] in ("negotiation", "won") and not r["expected_close_date"]:
                r["expected_close_date"] = (TODAY + dt.timedelta(days=rng.randint(-20, 45))).isoformat()
            rows.append(r)
    # Key accounts gone quiet: the 7-day rule reassigns them instead of pooling them.
    for _ in range(4):
        r = {**lead("enterprise"), **ownership(rng, owner=owner_for("enterprise"), assigned_days=(12, 50),
                                               last_fu_days=(7.5, 14))}
        r["stage"] = weighted(rng, [("qualified", 2), ("proposal", 3)])
        r["budget_confirmed"] = "true"
        rows.append(r)
    # A few older leads that were reclaimed once and are now with a new owner.
    for _ in range(4):
        p = profile()
        owner = owner_for(p)
        prev = rng.choice([x for x in by_level["junior"] + by_level["mid"] if x != owner])
        r = {**lead(p), **ownership(rng, owner=owner, assigned_days=(1, 6), last_fu_days=(0, 1),
                                     created_days=(20, 50), previous_owner=prev)}
        r["stage"] = "contacted"
        rows.append(r)
    return finish_leads(rows)


# ---------------------------------------------------------------------------------------------
# 2. medical_devices
# ---------------------------------------------------------------------------------------------

MED_CITIES = {
    "shanghai": [("上海", ["浦东新区", "徐汇区", "闵行区", "嘉定区", "松江区", "宝山区", "杨浦区", "青浦区"])],
    "jiangsu": [("南京", ["江宁区", "浦口区", "六合区"]), ("苏州", ["昆山市", "常熟市", "张家港市", "吴江区"]),
                ("无锡", ["江阴市", "宜兴市"]), ("常州", ["溧阳市", "金坛区"]), ("南通", ["海门区", "如皋市"]),
                ("徐州", ["邳州市", "沛县"]), ("扬州", ["高邮市", "仪征市"]), ("盐城", ["东台市", "建湖县"])],
    "zhejiang": [("杭州", ["萧山区", "余杭区", "桐庐县"]), ("宁波", ["慈溪市", "余姚市", "宁海县"]),
                 ("温州", ["瑞安市", "乐清市"]), ("绍兴", ["诸暨市", "嵊州市"]), ("嘉兴", ["桐乡市", "海宁市"]),
                 ("金华", ["义乌市", "东阳市"]), ("台州", ["临海市", "温岭市"]), ("湖州", ["长兴县", "德清县"])],
    "anhui": [("合肥", ["肥东县", "肥西县", "巢湖市"]), ("芜湖", ["无为市", "南陵县"]), ("蚌埠", ["怀远县"]),
              ("安庆", ["桐城市", "怀宁县"]), ("马鞍山", ["当涂县"]), ("阜阳", ["界首市", "太和县"])],
}
MED_PRIVATE = ["仁爱", "博爱", "康华", "瑞康", "德济", "惠民", "长和", "华美", "安康", "永和"]
MED_PRIVATE_KIND = ["医院", "骨科医院", "心血管病医院", "国际医院", "综合医院"]
MED_STREETS = ["城南街道", "城北街道", "新城街道", "东湖街道", "西湖街道", "长江路街道", "青山街道", "南苑街道"]
MED_SUPPLIERS = ["罗氏", "迈瑞", "西门子医疗", "GE 医疗", "强生", "美敦力", "雅培", "微创", "联影", "安图",
                 "威高", "飞利浦", "贝克曼", "新华医疗", "乐普"]
MED_NOTES = ["科室主任有意向，设备科还没立项", "院里今年有新院区开业，需求较大", "上次带量采购没中，这次想提前布局",
             "副院长分管设备，对国产替代态度积极", "竞品维护得很好，需要找突破口", "参数已经给到科室，等挂标",
             "检验科新主任刚上任，值得尽快拜访", "集采后价格压力大，客户关注配套服务", "需要先完成省平台挂网"]


def med_hospital(rng: random.Random, grade: str, city: str, county: str) -> str:
    if city == "上海":
        return {
            "grade_3a": f"上海市第{rng.choice('一六九十')}人民医院" if rng.random() < 0.6 else f"上海市{rng.choice(['中西医结合', '胸科', '肿瘤', '骨伤'])}医院",
            "grade_3b": f"上海市{county}中心医院",
            "grade_2a": f"上海市{county}人民医院" if rng.random() < 0.5 else f"上海市{county}中医医院",
            "grade_2b": f"上海市{county}妇幼保健院",
            "private": f"上海{rng.choice(MED_PRIVATE)}{rng.choice(MED_PRIVATE_KIND)}",
            "primary": f"上海市{county}{rng.choice(MED_STREETS)}社区卫生服务中心",
        }[grade]
    return {
        "grade_3a": rng.choice([f"{city}市第一人民医院", f"{city}市人民医院", f"{city}市中医院", f"{city}市中心医院"]),
        "grade_3b": rng.choice([f"{city}市第二人民医院", f"{city}市第三人民医院", f"{city}市中西医结合医院",
                                f"{city}市肿瘤医院"]),
        "grade_2a": rng.choice([f"{county}人民医院", f"{county}中医院"]),
        "grade_2b": rng.choice([f"{county}第二人民医院", f"{county}妇幼保健院"]),
        "private": f"{city}{rng.choice(MED_PRIVATE)}{rng.choice(MED_PRIVATE_KIND)}",
        "primary": f"{city}市{county}{rng.choice(MED_STREETS)}社区卫生服务中心" if county.endswith("区")
        else f"{county}{rng.choice(MED_STREETS)}社区卫生服务中心",
    }[grade]


def med_reps() -> list[dict[str, Any]]:
    spec = [
        # id, name, level, product lines, exec rapport, cycle, provinces, years, capacity, team, extras
        ("r01", "沈建华", "expert", ["imaging", "cardiology"], True, "long_cycle", ["shanghai", "jiangsu"], 16, 28, "大客户部", dict(points=230)),
        ("r02", "顾海燕", "senior", ["ivd"], True, "long_cycle", ["shanghai"], 11, 22, "上海区", dict(points=175, manager="r01")),
        ("r03", "陆俊杰", "mid", ["ivd", "cardiology"], False, "short_cycle", ["shanghai"], 5, 18, "上海区", dict(points=96, manager="r02")),
        ("r04", "钱思远", "junior", ["orthopaedic_consumables"], False, "short_cycle", ["shanghai", "jiangsu"], 2, 10, "上海区", dict(points=41, manager="r02")),
        ("r05", "朱国栋", "senior", ["orthopaedic_consumables", "imaging"], True, "long_cycle", ["jiangsu"], 12, 22, "江苏区", dict(points=168)),
        ("r06", "蒋丽娟", "mid", ["ivd"], False, "short_cycle", ["jiangsu"], 6, 18, "江苏区", dict(points=88, manager="r05", load=6.5)),
        ("r07", "吕晨", "senior", ["cardiology", "imaging"], True, "long_cycle", ["jiangsu", "anhui"], 7, 20, "江苏区", dict(points=102, manager="r05")),
        ("r08", "徐婷", "junior", ["ivd", "orthopaedic_consumables"], False, "short_cycle", ["jiangsu"], 1, 8, "江苏区", dict(points=25, manager="r05")),
        ("r09", "叶振宇", "expert", ["imaging", "ivd"], True, "long_cycle", ["zhejiang"], 18, 28, "浙江区", dict(points=244)),
        ("r10", "潘春梅", "senior", ["cardiology", "orthopaedic_consumables"], True, "short_cycle", ["zhejiang"], 10, 22, "浙江区",
         dict(points=151, manager="r09", leave=("2026-11-16", "2026-11-27"))),
        ("r11", "袁斌", "mid", ["orthopaedic_consumables"], False, "short_cycle", ["zhejiang"], 4, 18, "浙江区", dict(points=77, manager="r09")),
        ("r12", "蔡玲", "junior", ["ivd"], False, "short_cycle", ["zhejiang", "shanghai"], 2, 10, "浙江区", dict(points=33, manager="r09", status="paused")),
        ("r13", "程永刚", "senior", ["ivd", "imaging", "cardiology"], True, "long_cycle", ["anhui"], 13, 22, "安徽区", dict(points=160)),
        ("r14", "丁欣", "mid", ["orthopaedic_consumables", "ivd"], False, "short_cycle", ["anhui"], 5, 18, "安徽区", dict(points=70, manager="r13")),
        ("r15", "魏志强", "junior", ["cardiology"], False, "long_cycle", ["anhui", "jiangsu"], 3, 10, "安徽区", dict(points=29, manager="r13")),
        ("r16", "姚文博", "senior", ["imaging"], False, "long_cycle", ["zhejiang", "anhui"], 9, 22, "浙江区", dict(points=0, manager="r09", status="inactive")),
    ]
    rows = []
    for rid, name, level, lines, rapport, cycle, provs, years, cap, team, extra in spec:
        extra = dict(extra)
        extra.setdefault("load", 0)
        rows.append(rep_row(rid, name, {"level": level, "product_lines": tags(lines), "exec_rapport": fmt_bool(rapport),
                                        "cycle": cycle, "provinces": tags(provs), "years_experience": years,
                                        "capacity": cap}, team, **extra))
    return rows


def med_leads(rng: random.Random, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = Names(rng)
    live = [r for r in reps if r["status"] != "inactive"]
    rows: list[dict[str, Any]] = []
    dept_lines = {"laboratory": ["ivd"], "orthopaedics": ["orthopaedic_consumables"], "radiology": ["imaging"],
                  "cardiology": ["cardiology"], "icu": ["cardiology", "ivd"], "equipment": ["imaging", "cardiology", "ivd"]}

    def lead() -> dict[str, Any]:
        province = weighted(rng, [("shanghai", 22), ("jiangsu", 32), ("zhejiang", 30), ("anhui", 16)])
        city, counties = rng.choice(MED_CITIES[province])
        county = rng.choice(counties)
        grade = weighted(rng, [("grade_3a", 24), ("grade_3b", 14), ("grade_2a", 24), ("grade_2b", 10),
                               ("private", 16), ("primary", 12)])
        dept = weighted(rng, [("laboratory", 26), ("orthopaedics", 20), ("radiology", 18), ("cardiology", 16),
                              ("icu", 8), ("equipment", 12)])
        lines = list(dept_lines[dept])
        if dept in ("icu", "equipment"):
            lines = rng.sample(lines, rng.randint(1, len(lines)))
        elif rng.random() < 0.12:
            lines.append(rng.choice([x for x in ["ivd", "orthopaedic_consumables", "imaging", "cardiology"] if x not in lines]))
        scale = {"grade_3a": 2.2, "grade_3b": 1.5, "grade_2a": 1.0, "grade_2b": 0.7, "private": 1.1, "primary": 0.35}[grade]
        base = {"ivd": 600_000, "orthopaedic_consumables": 400_000, "imaging": 2_800_000, "cardiology": 1_200_000}
        budget = round_to(max(base[x] for x in lines) * scale * rng.uniform(0.3, 2.2), 10_000)
        if "orthopaedic_consumables" in lines and len(lines) == 1 and grade != "private" and rng.random() < 0.55:
            procurement = "volume_based"
        elif grade == "private":
            procurement = weighted(rng, [("direct", 8), ("tender", 2)])
        elif budget >= 1_000_000 or "imaging" in lines:
            procurement = weighted(rng, [("tender", 8), ("direct", 2)])
        else:
            procurement = weighted(rng, [("direct", 6), ("tender", 3), ("volume_based", 1)])
        tender_deadline = ""
        if procurement == "tender" and rng.random() < 0.7:
            tender_deadline = (TODAY + dt.timedelta(days=rng.randint(4, 75))).isoformat()
        title = weighted(rng, [("dept_head", 30), ("equipment_head", 18), ("physician", 18), ("president", 10),
                               ("head_nurse", 8), ("purchaser", 16)])
        person, _ = names.person()
        return {
            "hospital": med_hospital(rng, grade, city, county),
            "hospital_grade": grade,
            "province": province,
            "city": city,
            "department": maybe(rng, 0.06, dept),
            "product_lines": tags(lines),
            "procurement": procurement,
            "budget": maybe(rng, 0.07, budget),
            "tender_deadline": tender_deadline,
            "listed_on_platform": weighted(rng, [("true", 68), ("false", 27), ("", 5)]),
            "existing_supplier": rng.choice(MED_SUPPLIERS) if rng.random() < 0.45 else "",
            "stage": "new",
            "contact": maybe(rng, 0.12, person),
            "contact_title": maybe(rng, 0.1, title),
            "phone": maybe(rng, 0.15, names.mobile()),
            "notes": rng.choice(MED_NOTES) if rng.random() < 0.3 else "",
        }

    def owner_for(r: dict[str, Any]) -> str:
        cands = [x["id"] for x in live if r["province"] in x["provinces"].split(";")]
        skilled = [c for c in cands if set(r["product_lines"].split(";")) & set(next(x for x in live if x["id"] == c)["product_lines"].split(";"))]
        return rng.choice(skilled or cands)

    for _ in range(134):
        rows.append({**lead(), **ownership(rng, owner=None, created_days=(0.02, 3))})
    for _ in range(14):
        r = lead()
        r.update(ownership(rng, owner=None, created_days=(35, 90), previous_owner=owner_for(r), reclaimed_days=(1, 30)))
        r["stage"] = weighted(rng, [("contacted", 5), ("qualified", 3), ("lost", 2)])
        rows.append(r)

    def strategic_lead() -> dict[str, Any]:
        while True:
            r = lead()
            if r["hospital_grade"] == "grade_3a":
                return r

    def other_lead() -> dict[str, Any]:
        while True:
            r = lead()
            if r["hospital_grade"] != "grade_3a":
                return r

    scenarios: list[tuple[int, Callable[[], dict[str, Any]], dict[str, Any], Callable[[], str]]] = [
        (8, lead, dict(assigned_days=(0.1, 1.8)), lambda: "new"),                                  # fine
        (3, strategic_lead, dict(assigned_days=(2.1, 2.9)), lambda: "new"),                        # reminder (3-day rule)
        (4, other_lead, dict(assigned_days=(3.1, 4.9)), lambda: "new"),                            # reminder (5-day rule)
        (4, strategic_lead, dict(assigned_days=(3.3, 6)), lambda: "new"),                          # reassign (3A, 3 days)
        (5, other_lead, dict(assigned_days=(5.3, 12)), lambda: "new"),                             # reclaim (5 days)
        (18, lead, dict(assigned_days=(4, 80), last_fu_days=(0, 10.9)),
         lambda: weighted(rng, [("contacted", 4), ("qualified", 3), ("proposal", 3)])),            # fine
        (7, lead, dict(assigned_days=(15, 80), last_fu_days=(11.1, 13.9)),
         lambda: weighted(rng, [("contacted", 3), ("qualified", 2), ("proposal", 2)])),            # reminder (14 days)
        (10, lead, dict(assigned_days=(20, 100), last_fu_days=(14.5, 35)),
         lambda: weighted(rng, [("contacted", 4), ("qualified", 3), ("proposal", 2), ("lost", 1)])),  # reclaim (14 days)
        (9, lead, dict(assigned_days=(30, 120), last_fu_days=(15, 40)),
         lambda: weighted(rng, [("tendering", 4), ("negotiation", 3), ("won", 2)])),              # protected by stage
        (20, lead, dict(assigned_days=(60, 200), last_fu_days=(5, 60)), lambda: "won"),            # won this year, kept for the record
    ]
    for count, make, kw, stage in scenarios:
        for _ in range(count):
            r = make()
            r.update(ownership(rng, owner=owner_for(r), **kw))
            r["stage"] = stage()
            rows.append(r)
    # Protected by the attention flag: tender closing within 3 weeks, no follow-up for 3 weeks.
    for _ in range(4):
        while True:
            r = lead()
            if r["procurement"] == "tender":
                break
        r["tender_deadline"] = (TODAY + dt.timedelta(days=rng.randint(3, 18))).isoformat()
        r.update(ownership(rng, owner=owner_for(r), assigned_days=(40, 90), last_fu_days=(15, 25)))
        r["stage"] = "proposal"
        rows.append(r)
    for r in rows:
        if r["tender_deadline"] and r["stage"] in ("negotiation", "won", "lost"):
            # the tender already closed: its deadline lies between creation and today
            created = dt.datetime.fromisoformat(r["created_at"]).date()
            r["tender_deadline"] = (created + dt.timedelta(days=rng.randint(0, max(0, (TODAY - created).days - 3)))).isoformat()
    return finish_leads(rows)


# ---------------------------------------------------------------------------------------------
# 3. consumer_goods_regional
# ---------------------------------------------------------------------------------------------

CG_REGIONS = {
    "gz_fs": ("guangdong", [("广州", ["天河区", "海珠区", "白云区", "番禺区", "越秀区", "花都区"]),
                            ("佛山", ["禅城区", "南海区", "顺德区"])]),
    "sz_dg": ("guangdong", [("深圳", ["福田区", "南山区", "宝安区", "龙岗区", "龙华区"]),
                            ("东莞", ["南城街道", "东城街道", "长安镇", "虎门镇", "塘厦镇"])]),
    "east_gd": ("guangdong", [("汕头", ["金平区", "龙湖区", "潮阳区"]), ("潮州", ["湘桥区", "潮安区"]),
                              ("揭阳", ["榕城区", "普宁市"]), ("梅州", ["梅江区"])]),
    "west_gd": ("guangdong", [("湛江", ["赤坎区", "霞山区"]), ("茂名", ["茂南区", "电白区"]), ("阳江", ["江城区"])]),
    "fujian": ("fujian", [("福州", ["鼓楼区", "台江区", "仓山区"]), ("厦门", ["思明区", "湖里区"]),
                          ("泉州", ["丰泽区", "晋江市"]), ("漳州", ["芗城区"])]),
    "guangxi": ("guangxi", [("南宁", ["青秀区", "西乡塘区"]), ("柳州", ["城中区", "鱼峰区"]), ("桂林", ["七星区", "秀峰区"])]),
}
CG_SUPERMARKETS = ["惠万家", "天天鲜", "百佳乐", "家家福", "优品汇", "佳佳乐", "好邻里", "万嘉", "新佳宜", "旺客隆"]
CG_CONVENIENCE = ["邻里", "快客多", "顺心", "天天见", "乐家", "惠友", "24 鲜", "小确幸", "优选", "近邻"]
CG_WHOLESALE = ["旺达", "顺发", "鸿运", "金源", "联丰", "兴隆", "广进", "合利"]
CG_BRANDS = ["粤海", "南粤", "嘉禾", "恒丰", "汇源", "泰和", "永盛", "海丰", "鹏程", "华润", "百顺", "利源"]
CG_ESTATES = ["碧桂园", "保利花园", "万科城", "恒大绿洲", "星河湾", "华发新城", "富力城", "中海锦城"]
CG_NOTES = ["老板说月底前给答复", "隔壁竞品在做买赠活动", "要求首单铺货支持", "门口有堆头位置可谈",
            "只收现款，不接受账期", "店里冷柜是竞品投放的", "刚换了老板娘管进货", "想做社区团购渠道",
            "二批商，下面有 60 多家小店", "想要区域独家"]


def cg_reps() -> list[dict[str, Any]]:
    spec = [
        # id, name, role, regions, provinces, team, extras
        ("r01", "梁建国", "territory_rep", ["gz_fs", "sz_dg"], ["guangdong"], "广东大区", dict(points=160)),
        ("r02", "陈志强", "territory_rep", ["gz_fs"], ["guangdong"], "广佛组", dict(points=120, manager="r01", held_from_pool=30, claims_today=2)),
        ("r03", "黄丽娟", "territory_rep", ["gz_fs"], ["guangdong"], "广佛组", dict(points=98, manager="r01", load=10)),
        ("r04", "李俊杰", "territory_rep", ["sz_dg"], ["guangdong"], "深莞组", dict(points=131, manager="r01")),
        ("r05", "何婷", "territory_rep", ["sz_dg"], ["guangdong"], "深莞组", dict(points=87, manager="r01", claims_today=5, held_from_pool=12)),
        ("r06", "吴浩", "territory_rep", ["sz_dg"], ["guangdong"], "深莞组", dict(points=64, manager="r01", status="paused")),
        ("r07", "郑海燕", "territory_rep", ["east_gd"], ["guangdong"], "粤东组", dict(points=110, manager="r01")),
        ("r08", "林晓东", "territory_rep", ["east_gd"], ["guangdong"], "粤东组", dict(points=72, manager="r01")),
        ("r09", "谢永刚", "territory_rep", ["west_gd"], ["guangdong"], "粤西组", dict(points=93, manager="r01", leave=("2026-11-16", "2026-11-29"))),
        ("r10", "张春梅", "territory_rep", ["fujian"], ["fujian"], "闽桂大区", dict(points=145)),
        ("r11", "苏宇", "territory_rep", ["fujian"], ["fujian"], "福建组", dict(points=101, manager="r10")),
        ("r12", "韦斌", "territory_rep", ["guangxi"], ["guangxi"], "广西组", dict(points=83, manager="r10", leave=("2026-11-23", "2026-11-30"))),
        ("r13", "蒙凯", "territory_rep", ["guangxi"], ["guangxi"], "广西组", dict(points=0, manager="r10", status="inactive")),
        ("r14", "罗文博", "channel_manager", ["gz_fs", "sz_dg", "east_gd", "west_gd"], ["guangdong"], "渠道部", dict(points=176, manager="r01", load=9)),
        ("r15", "曾佳怡", "channel_manager", ["gz_fs", "sz_dg", "east_gd", "west_gd"], ["guangdong"], "渠道部", dict(points=139, manager="r01")),
        ("r16", "邱立新", "channel_manager", ["fujian", "guangxi"], ["fujian", "guangxi"], "渠道部", dict(points=128, manager="r10")),
        ("r17", "钟欣", "territory_rep", ["gz_fs"], ["guangdong"], "广佛组", dict(points=45, manager="r01")),
        ("r18", "覃思远", "territory_rep", ["west_gd", "guangxi"], ["guangdong", "guangxi"], "粤西组", dict(points=38, manager="r10")),
    ]
    rows = []
    for rid, name, role, regions, provs, team, extra in spec:
        extra = dict(extra)
        extra.setdefault("load", 0)
        rows.append(rep_row(rid, name, {"role": role, "regions": tags(regions), "provinces": tags(provs)}, team, **extra))
    return rows


def cg_leads(rng: random.Random, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = Names(rng)
    live = [r for r in reps if r["status"] != "inactive"]
    rows: list[dict[str, Any]] = []
    used_names: set[str] = set()

    def outlet_name(kind: str, channel: str, city: str, district: str, person: str) -> str:
        for _ in range(50):
            road = rng.choice(ROADS)
            if kind == "distributor":
                n = f"{city}{rng.choice(CG_BRANDS)}{rng.choice(['商贸有限公司', '食品贸易有限公司', '供应链管理有限公司', '贸易商行'])}"
            elif channel == "supermarket":
                short_road = road[:-1] if road.endswith("路") else road
                n = f"{rng.choice(CG_SUPERMARKETS)}超市（{district}{short_road}店）"
            elif channel == "convenience":
                n = f"{rng.choice(CG_CONVENIENCE)}便利店（{road}{rng.randint(1, 300)}号店）"
            elif channel == "wholesale":
                n = f"{city}{district}{rng.choice(CG_WHOLESALE)}{rng.choice(['副食批发部', '食品批发行', '粮油副食商行'])}"
            else:
                n = rng.choice([f"{rng.choice(CG_ESTATES)}社区团购（{person}团长）",
                                f"{city}{rng.choice(CG_BRANDS)}零食折扣店（线上小店）"])
            if n not in used_names:
                used_names.add(n)
                return n
        raise RuntimeError("could not find a unique outlet name")

    def lead(kind: str | None = None) -> dict[str, Any]:
        region = weighted(rng, [("gz_fs", 26), ("sz_dg", 24), ("east_gd", 12), ("west_gd", 9), ("fujian", 17), ("guangxi", 12)])
        province, cities = CG_REGIONS[region]
        city, districts = rng.choice(cities)
        district = rng.choice(districts)
        kind = kind or weighted(rng, [("store", 92), ("distributor", 8)])
        person, _ = names.person()
        if kind == "distributor":
            channel = weighted(rng, [("wholesale", 7), ("supermarket", 2), ("online", 1)])
            area = ""
            purchase = round_to(rng.uniform(60_000, 1_200_000), 1_000)
            outlets = rng.randint(40, 1200)
        else:
            channel = weighted(rng, [("supermarket", 22), ("convenience", 38), ("wholesale", 22), ("online", 18)])
            area = {"supermarket": int(log_uniform(rng, 150, 6000)), "convenience": rng.randint(30, 150),
                    "wholesale": rng.randint(60, 600), "online": ""}[channel]
            lo, hi = {"supermarket": (3_000, 90_000), "convenience": (800, 9_000),
                      "wholesale": (4_000, 80_000), "online": (500, 25_000)}[channel]
            purchase = round_to(log_uniform(rng, lo, hi), 500)
            outlets = ""
        cats = sorted(rng.sample(["beverages", "snacks", "dairy", "instant_food", "personal_care"], rng.randint(1, 3)))
        introduced = ""
        if kind == "store" and rng.random() < 0.1:
            same = [r["id"] for r in reps if region in r["regions"].split(";") and r["role"] == "territory_rep"]
            introduced = rng.choice(same) if rng.random() < 0.8 else rng.choice([r["id"] for r in reps])
        return {
            "store_name": outlet_name(kind, channel, city, district, person),
            "lead_kind": kind,
            "channel": channel,
            "province": province,
            "city": city,
            "district": maybe(rng, 0.05, district),
            "address": maybe(rng, 0.2, f"{district}{rng.choice(ROADS)}{rng.randint(1, 888)}号"),
            "region": region,
            "contact": maybe(rng, 0.1, person),
            "phone": names.mobile(),
            "store_area": maybe(rng, 0.1, area) if area != "" else "",
            "monthly_purchase": maybe(rng, 0.12, purchase),
            "outlets_covered": outlets,
            "categories": maybe(rng, 0.15, tags(cats)),
            "introduced_by": introduced,
            "stage": "new",
            "notes": rng.choice(CG_NOTES) if rng.random() < 0.2 else "",
        }

    def owner_for(r: dict[str, Any]) -> str:
        if r["lead_kind"] == "distributor":
            cands = [x["id"] for x in live if x["role"] == "channel_manager" and r["province"] in x["provinces"].split(";")]
        else:
            cands = [x["id"] for x in live if x["role"] == "territory_rep" and r["region"] in x["regions"].split(";")]
        return rng.choice(cands)

    for _ in range(190):
        rows.append({**lead(), **ownership(rng, owner=None, created_days=(0.02, 2.5))})
    # Reclaimed into the pool recently: previous owners are in the 7-day cooldown (or just out of it).
    for _ in range(28):
        r = lead("store")
        r.update(ownership(rng, owner=None, created_days=(15, 60), previous_owner=owner_for(r), reclaimed_days=(0.3, 12)))
        r["stage"] = weighted(rng, [("visited", 6), ("sampling", 2), ("new", 2)])
        rows.append(r)

    def stores_stage() -> str:
        return weighted(rng, [("visited", 5), ("sampling", 3), ("signed", 2)])

    scenarios: list[tuple[int, str | None, dict[str, Any], Callable[[], str]]] = [
        (45, None, dict(assigned_days=(1, 60), last_fu_days=(0, 4.9)), stores_stage),            # fine
        (8, None, dict(assigned_days=(0.1, 4.9)), lambda: "new"),                                 # fine, not yet visited
        (13, None, dict(assigned_days=(6, 60), last_fu_days=(5.05, 6.95)), stores_stage),         # reminder
        (4, None, dict(assigned_days=(5.05, 6.95)), lambda: "new"),                               # reminder, never visited
        (16, None, dict(assigned_days=(10, 80), last_fu_days=(7.2, 25)), stores_stage),           # reclaim
        (3, "store", dict(assigned_days=(20, 60), last_fu_days=(8, 20)), lambda: "lost"),        # reclaim: given up, back to the pool
        (6, None, dict(assigned_days=(7.2, 15)), lambda: "new"),                                  # reclaim, never visited
        (4, "store", dict(assigned_days=(38, 42), last_fu_days=(0, 3), created_days=(40.2, 44.8)), lambda: "visited"),  # reminder, 45 days
        (4, "store", dict(assigned_days=(44, 60), last_fu_days=(0, 3), created_days=(45.5, 60)), lambda: "visited"),    # reclaim, 45 days
        (7, "distributor", dict(assigned_days=(30, 200), last_fu_days=(8, 40)), lambda: "signed"),  # protected
        (5, "distributor", dict(assigned_days=(3, 50), last_fu_days=(0, 9)),
         lambda: weighted(rng, [("visited", 3), ("sampling", 2)])),
    ]
    for count, kind, kw, stage in scenarios:
        for _ in range(count):
            r = lead(kind)
            r.update(ownership(rng, owner=owner_for(r), **kw))
            r["stage"] = stage()
            rows.append(r)
    return finish_leads(rows)


# ---------------------------------------------------------------------------------------------
# 4. finance_points
# ---------------------------------------------------------------------------------------------

FIN_CITIES = [("杭州", 70), ("绍兴", 12), ("嘉兴", 10), ("湖州", 8)]
FIN_CORP_WORDS = ["纺织", "电子", "机电", "建材", "跨境电商", "进出口", "化纤", "医药", "汽配", "新能源", "食品", "物流"]
FIN_BRANDS = ["恒润", "钱江", "西子", "之江", "新安", "富春", "天目", "运河", "禾丰", "越州", "南浔", "嘉禾",
              "东港", "同力", "万向达", "浙辰", "吴越", "兰亭"]
FIN_INSTITUTIONS = ["实验中学", "职业技术学院", "慈善基金会", "商会", "中心医院", "工会委员会", "外国语学校", "科技馆"]
FIN_NOTES = ["客户在他行有大额到期理财，月底到期", "关注养老规划和子女教育金", "企业明年有扩产计划，需要授信",
             "出口业务多，关心汇率避险", "老客户介绍，希望私行专属服务", "比较看重收益，对净值波动敏感",
             "代发工资 300 多人，可以带动个人业务", "需要上门办理，老人不方便来网点"]


def fin_reps() -> list[dict[str, Any]]:
    spec = [
        # id, name, role, level, licences, new leads per day, load cap, team, extras
        ("r01", "方晓东", "qualifier", "mid", ["fund"], 45, 50, "线索筛选组", dict(points=58, manager="r09", assigned_week=96)),
        ("r02", "金雨萱", "qualifier", "junior", [], 35, 40, "线索筛选组", dict(points=41, manager="r09", assigned_week=88)),
        ("r03", "邵婷", "qualifier", "junior", ["fund"], 35, 40, "线索筛选组", dict(points=37, manager="r09", assigned_today=3, assigned_week=71)),
        ("r04", "俞斌", "qualifier", "junior", [], 20, 30, "线索筛选组", dict(points=22, manager="r09", status="paused")),
        ("r05", "章佳怡", "wealth_rm", "mid", ["fund", "insurance"], 6, 12, "财富管理部", dict(points=265, manager="r09", assigned_week=9)),
        ("r06", "楼海燕", "wealth_rm", "senior", ["fund", "insurance", "afp"], 6, 12, "财富管理部", dict(points=318, manager="r09", load=4, assigned_week=11)),
        ("r07", "蒋俊杰", "wealth_rm", "junior", ["fund"], 5, 10, "财富管理部", dict(points=96, manager="r09", assigned_week=6)),
        ("r08", "汪丽娟", "wealth_rm", "mid", ["insurance"], 6, 12, "财富管理部", dict(points=188, manager="r09", leave=("2026-11-20", "2026-11-26"))),
        ("r09", "胡建华", "private_banker", "expert", ["fund", "insurance", "cfp"], 4, 12, "私人银行中心", dict(points=402, assigned_week=5)),
        ("r10", "应思远", "private_banker", "senior", ["fund", "afp"], 4, 12, "私人银行中心", dict(points=402, manager="r09", assigned_today=4, assigned_week=9)),
        ("r11", "陈春梅", "private_banker", "senior", ["fund", "insurance", "cfp"], 4, 12, "私人银行中心", dict(points=355, manager="r09", assigned_week=7)),
        ("r12", "孙国栋", "corporate_rm", "expert", [], 5, 15, "对公业务部", dict(points=376, assigned_week=20)),
        ("r13", "钱永刚", "corporate_rm", "senior", ["fund"], 5, 15, "对公业务部", dict(points=341, manager="r12", assigned_week=8)),
        ("r14", "吴振宇", "corporate_rm", "senior", [], 5, 15, "对公业务部", dict(points=290, manager="r12", status="paused")),
        ("r15", "徐立新", "corporate_rm", "mid", ["fund"], 5, 15, "对公业务部", dict(points=214, manager="r12", load=8, assigned_week=12)),
        ("r16", "杜文博", "corporate_rm", "mid", [], 5, 15, "对公业务部", dict(points=150, manager="r12", assigned_week=4)),
        ("r17", "冯欣", "corporate_rm", "junior", [], 4, 10, "对公业务部", dict(points=12, manager="r12", status="inactive")),
        ("r18", "严志强", "qualifier", "mid", ["fund"], 35, 40, "线索筛选组", dict(points=63, manager="r09", leave=("2026-11-23", "2026-11-23"))),
        ("r19", "任佳怡", "qualifier", "junior", [], 30, 40, "线索筛选组", dict(points=18, manager="r09", assigned_week=64)),
    ]
    rows = []
    for rid, name, role, level, lic, daily, cap, team, extra in spec:
        extra = dict(extra)
        extra.setdefault("load", 0)
        rows.append(rep_row(rid, name, {"role": role, "level": level, "licenses": tags(lic), "daily_capacity": daily,
                                        "load_cap": cap}, team, **extra))
    return rows


def fin_leads(rng: random.Random, reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = Names(rng)
    live = [r for r in reps if r["status"] != "inactive"]
    rows: list[dict[str, Any]] = []

    def lead(ctype: str | None = None, big: bool | None = None) -> dict[str, Any]:
        ctype = ctype or weighted(rng, [("individual_hnw", 55), ("corporate", 37), ("institution", 8)])
        city = weighted(rng, FIN_CITIES)
        big = (rng.random() < 0.1) if big is None else big
        person, _ = names.person()
        row: dict[str, Any] = {"client_type": ctype, "city": maybe(rng, 0.05, city), "phone": names.mobile(),
                               "contact": "", "risk_profile": "", "annual_revenue": "", "decision_makers": "",
                               "needs_credit": "", "stage": "new", "expected_close_date": "", "notes": ""}
        if ctype == "individual_hnw":
            row["client_name"] = person
            row["deal_size"] = round_to(log_uniform(rng, 6_000_000, 40_000_000) if big else log_uniform(rng, 200_000, 5_800_000), 10_000)
            row["products"] = tags(sorted(rng.sample(["structured_deposit", "wealth_product", "fund", "insurance", "trust"],
                                                     rng.randint(1, 4 if big else 3))))
            row["risk_profile"] = maybe(rng, 0.1, weighted(rng, [("c1", 8), ("c2", 22), ("c3", 35), ("c4", 25), ("c5", 10)]))
            row["cross_border"] = fmt_bool(rng.random() < (0.2 if big else 0.05))
            row["source"] = weighted(rng, [("branch_referral", 30), ("client_referral", 25), ("salon", 20),
                                           ("payroll", 10), ("online", 15)])
        else:
            if ctype == "corporate":
                row["client_name"] = f"{city}{rng.choice(FIN_BRANDS)}{rng.choice(FIN_CORP_WORDS)}有限公司"
                prods = ["loan", "cash_management", "trade_finance", "payroll_service", "structured_deposit"]
            else:
                row["client_name"] = f"{city}市{rng.choice(FIN_BRANDS)}{rng.choice(FIN_INSTITUTIONS)}"
                prods = ["cash_management", "payroll_service", "structured_deposit"]
            row["contact"] = person
            row["deal_size"] = round_to(log_uniform(rng, 30_000_000, 300_000_000) if big else log_uniform(rng, 300_000, 28_000_000), 100_000)
            chosen = sorted(rng.sample(prods, rng.randint(1, min(4 if big else 2, len(prods)))))
            row["products"] = tags(chosen)
            row["annual_revenue"] = maybe(rng, 0.2, round_to(row["deal_size"] * rng.uniform(2, 12), 1_000_000))
            row["decision_makers"] = maybe(rng, 0.15, rng.randint(3, 7) if big else rng.randint(1, 4))
            row["cross_border"] = fmt_bool("trade_finance" in chosen or rng.random() < 0.1)
            row["needs_credit"] = fmt_bool("loan" in chosen or ("trade_finance" in chosen and rng.random() < 0.5))
            row["source"] = weighted(rng, [("branch_referral", 20), ("client_referral", 25), ("cold_call", 35), ("online", 20)])
        if rng.random() < 0.05:
            row["deal_size"] = ""
        row["bank_relationship"] = weighted(rng, [("none", 35), ("other_bank_main", 30), ("ours_minor", 25), ("ours_main", 10)])
        row["source"] = maybe(rng, 0.05, row["source"])
        if rng.random() < 0.35:
            row["expected_close_date"] = (TODAY + dt.timedelta(days=rng.randint(7, 120))).isoformat()
        if rng.random() < 0.25:
            row["notes"] = rng.choice(FIN_NOTES)
        return row

    def rm_for(r: dict[str, Any]) -> str:
        roles = ["wealth_rm", "private_banker"] if r["client_type"] == "individual_hnw" else ["corporate_rm"]
        return rng.choice([x["id"] for x in live if x["role"] in roles])

    def desk() -> str:
        return rng.choice([x["id"] for x in live if x["role"] == "qualifier"])

    for _ in range(165):
        rows.append({**lead(), **ownership(rng, owner=None, created_days=(0.02, 2))})
    # Counter staff at the branches already confirmed the need (网点柜面转介): qualified, no owner yet.
    for _ in range(12):
        r = lead(big=False)
        r.update(ownership(rng, owner=None, created_days=(0.5, 4)))
        r["stage"] = "qualified"
        r["source"] = "branch_referral"
        rows.append(r)
    for _ in range(14):
        r = lead()
        r.update(ownership(rng, owner=None, created_days=(20, 70), previous_owner=rm_for(r), reclaimed_days=(0.5, 15)))
        r["stage"] = weighted(rng, [("contacted", 6), ("qualified", 3), ("lost", 1)])
        rows.append(r)

    scenarios: list[tuple[int, Callable[[dict[str, Any]], str], bool | None, dict[str, Any], Callable[[], str]]] = [
        (6, lambda r: desk(), False, dict(assigned_days=(0.05, 0.7)), lambda: "new"),              # desk, fine
        (4, lambda r: desk(), False, dict(assigned_days=(0.78, 0.97)), lambda: "new"),             # desk, reminder (6 hours)
        (6, lambda r: desk(), False, dict(assigned_days=(1.1, 4)), lambda: "new"),                 # desk, reassign
        (4, rm_for, True, dict(assigned_days=(0.1, 1.9)), lambda: "new"),                          # RM, fine
        (3, rm_for, True, dict(assigned_days=(2.05, 2.95)), lambda: "new"),                        # RM, reminder
        (3, rm_for, True, dict(assigned_days=(3.2, 8)), lambda: "new"),                            # RM, no contact: reassign
        (24, rm_for, None, dict(assigned_days=(3, 60), last_fu_days=(0, 6.9)),
         lambda: weighted(rng, [("contacted", 3), ("qualified", 3), ("proposal", 3), ("negotiation", 1)])),
        (8, rm_for, None, dict(assigned_days=(10, 60), last_fu_days=(7.05, 9.95)),
         lambda: weighted(rng, [("contacted", 3), ("qualified", 2), ("proposal", 2)])),          # reminder (10 days)
        (11, rm_for, None, dict(assigned_days=(14, 80), last_fu_days=(10.3, 30)),
         lambda: weighted(rng, [("contacted", 3), ("qualified", 3), ("proposal", 2), ("lost", 1)])),  # reclaim
        (10, rm_for, None, dict(assigned_days=(20, 120), last_fu_days=(11, 45)),
         lambda: weighted(rng, [("negotiation", 3), ("won", 2)])),                                # protected
    ]
    for count, who, big, kw, stage in scenarios:
        for _ in range(count):
            r = lead(big=big)
            r.update(ownership(rng, owner=who(r), **kw))
            r["stage"] = stage()
            rows.append(r)
    return finish_leads(rows)


# ---------------------------------------------------------------------------------------------

TEMPLATES: dict[str, tuple[int, Callable[[], list[dict[str, Any]]],
                           Callable[[random.Random, list[dict[str, Any]]], list[dict[str, Any]]], list[str], list[str]]] = {
    "b2b_software": (20261101, b2b_reps, b2b_leads,
                     ["company", "credit_code", "industry", "employees", "region", "city", "contact", "contact_role",
                      "phone", "email", "source", "deal_size", "budget_confirmed", "decision_makers", "competitor",
                      "customization", "stage", "expected_close_date", "lost_reason", "notes"],
                     ["level", "regions"]),
    "medical_devices": (20261102, med_reps, med_leads,
                        ["hospital", "hospital_grade", "province", "city", "department", "product_lines", "procurement",
                         "budget", "tender_deadline", "listed_on_platform", "existing_supplier", "stage", "contact",
                         "contact_title", "phone", "notes"],
                        ["level", "product_lines", "exec_rapport", "cycle", "provinces", "years_experience", "capacity"]),
    "consumer_goods_regional": (20261103, cg_reps, cg_leads,
                                ["store_name", "lead_kind", "channel", "province", "city", "district", "address", "region",
                                 "contact", "phone", "store_area", "monthly_purchase", "outlets_covered", "categories",
                                 "introduced_by", "stage", "notes"],
                                ["role", "regions", "provinces"]),
    "finance_points": (20261104, fin_reps, fin_leads,
                       ["client_name", "client_type", "contact", "phone", "city", "source", "bank_relationship", "products",
                        "deal_size", "risk_profile", "annual_revenue", "decision_makers", "cross_border", "needs_credit",
                        "stage", "expected_close_date", "notes"],
                       ["role", "level", "licenses", "daily_capacity", "load_cap"]),
}


def main() -> None:
    for name, (seed, make_reps, make_leads, lead_fields, rep_fields) in TEMPLATES.items():
        rng = random.Random(seed)
        reps = make_reps()
        leads = make_leads(rng, reps)
        out = HERE / name
        write_csv(out / "reps.csv", ["id", "name", *rep_fields, *REP_BUILTINS], reps)
        write_csv(out / "leads.csv", ["id", *lead_fields, *LEAD_BUILTINS], leads)
        print(f"{name}: {len(leads)} leads, {len(reps)} reps -> {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
