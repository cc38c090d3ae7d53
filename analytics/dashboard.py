"""The GMV dashboard: a Streamlit app over the database mcn uses (``MCN_DATABASE_URL``: SQLite or Postgres).

``mcn dashboard`` runs it (``streamlit run`` on loopback). Pages, picked in the sidebar or by ``?page=``:

* money - GMV by pay day and settled commission by settle day, kept apart (settlement lags by days);
* funnel - plays -> product clicks -> orders -> settled by product x hook x account x day;
* refunds - refunds by refund day and the refund rate per product;
* posts - the top and bottom posts by estimated commission, their clips playable;
* policy - the posterior per product (mean, 90 % interval, P(best)) beside tomorrow's allocation;
* attribution - orders that could not be joined to a post, by reason.

With ``MCN_DASHBOARD_PASSWORD`` set it asks for the password first; served off loopback without one it shows
nothing but the reason. The figures come from :mod:`analytics.dashboard_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from analytics import dashboard_data as data
from mcn.db import DatabaseUnavailable
from mcn.settings import get_settings

_TOP = 5


def yuan(fen: float) -> str:
    """``¥1,234.56`` for an amount in fen."""
    return f"¥{fen / 100:,.2f}"


def _frame(rows: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows])


def _empty(what: str) -> None:
    st.info(f"No {what} yet: run `mcn collect` or `mcn orders import FILE`.")


# ------------------------------------------------------------------------------------------------ pages


def page_money() -> None:
    st.header("GMV and settled commission")
    days = data.money_by_day()
    if not days:
        _empty("orders")
        return
    cols = st.columns(4)
    cols[0].metric("GMV (by pay time)", yuan(sum(d.gmv for d in days)))
    cols[1].metric("Attributed GMV", yuan(sum(d.attributed_gmv for d in days)))
    cols[2].metric("Settled commission (by settle time)", yuan(sum(d.settled_commission for d in days)))
    cols[3].metric("Paid orders", f"{sum(d.paid_orders for d in days):,}")
    frame = _frame(days)
    frame["day"] = pd.to_datetime(frame["day"])
    gmv = frame.melt("day", ["gmv", "attributed_gmv"], "series", "fen")
    gmv["yuan"] = gmv["fen"] / 100
    st.subheader("GMV by pay day (CST)")
    st.altair_chart(
        alt.Chart(gmv)
        .mark_line(point=True)
        .encode(x="day:T", y=alt.Y("yuan:Q", title="yuan"), color="series:N", tooltip=["day:T", "series", "yuan"]),
        width="stretch",
    )
    st.subheader("Settled commission by settle day (CST)")
    frame["settled_yuan"] = frame["settled_commission"] / 100
    st.altair_chart(
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x="day:T",
            y=alt.Y("settled_yuan:Q", title="yuan"),
            tooltip=["day:T", "settled_yuan", "settled_orders"],
        ),
        width="stretch",
    )
    st.caption("Settlement comes days after payment: a day's commission belongs to orders paid earlier.")
    shown = frame.assign(day=frame["day"].dt.date)
    for column in ("gmv", "attributed_gmv", "settled_commission", "refunded_amount"):
        shown[column] = shown[column] / 100
    st.dataframe(shown.drop(columns=["settled_yuan"]), hide_index=True, key="money_table")


def page_funnel() -> None:
    st.header("Funnel: plays → clicks → orders → settled")
    rows = data.funnel(data.post_results())
    if not rows:
        _empty("posts")
        return
    frame = _frame(rows)
    frame["product_id"] = frame["product_id"].fillna("(none)")
    frame["hook_style"] = frame["hook_style"].fillna("(none)")
    left, middle, right = st.columns(3)
    products = left.multiselect("Product", sorted(frame["product_id"].unique()), key="funnel_products")
    hooks = middle.multiselect("Hook", sorted(frame["hook_style"].unique()), key="funnel_hooks")
    accounts = right.multiselect("Account", sorted(frame["account"].unique()), key="funnel_accounts")
    for column, chosen in (("product_id", products), ("hook_style", hooks), ("account", accounts)):
        if chosen:
            frame = frame[frame[column].isin(chosen)]
    stages = ["plays", "clicks", "orders", "settled"]
    totals = {s: int(frame[s].sum()) for s in stages}
    cols = st.columns(5)
    cols[0].metric("Posts", f"{int(frame['posts'].sum()):,}")
    for col, stage in zip(cols[1:], stages, strict=True):
        col.metric(stage.capitalize(), f"{totals[stage]:,}")
    steps = pd.DataFrame({"stage": stages, "count": [totals[s] for s in stages]})
    st.altair_chart(
        alt.Chart(steps)
        .mark_bar()
        .encode(
            x=alt.X("stage:N", sort=stages),
            y=alt.Y("count:Q", scale=alt.Scale(type="symlog"), title="count (symlog)"),
            tooltip=["stage", "count"],
        ),
        width="stretch",
    )
    by_day = frame.groupby(["day", "product_id"], as_index=False)["orders"].sum()
    by_day["day"] = pd.to_datetime(by_day["day"])
    st.subheader("Attributed orders by post day and product")
    st.altair_chart(
        alt.Chart(by_day).mark_bar().encode(x="day:T", y="orders:Q", color="product_id:N"),
        width="stretch",
    )
    frame = frame.assign(
        ctr=(frame["clicks"] / frame["plays"]).where(frame["plays"] > 0),
        conversion=(frame["orders"] / frame["clicks"]).where(frame["clicks"] > 0),
        estimated_commission=frame["estimated_commission"] / 100,
        settled_commission=frame["settled_commission"] / 100,
    )
    st.dataframe(frame, hide_index=True, key="funnel_table")


def page_refunds() -> None:
    st.header("Refunds")
    days = data.money_by_day()
    rates = data.refund_rates(data.post_results())
    cols = st.columns(2)
    cols[0].metric("Refunded orders", f"{sum(d.refunds for d in days):,}")
    cols[1].metric("Refunded amount", yuan(sum(d.refunded_amount for d in days)))
    if not any(d.refunds for d in days):
        _empty("refunds")
        return
    frame = _frame(days)[["day", "refunds", "refunded_amount"]]
    frame["day"] = pd.to_datetime(frame["day"])
    frame["refunded_yuan"] = frame["refunded_amount"] / 100
    st.subheader("Refunds by refund day (CST)")
    st.altair_chart(
        alt.Chart(frame).mark_bar().encode(x="day:T", y="refunds:Q", tooltip=["day:T", "refunds", "refunded_yuan"]),
        width="stretch",
    )
    if rates:
        table = pd.DataFrame(
            [
                {"product_id": r.product_id or "(none)", "orders": r.orders, "settled": r.settled,
                 "refunded": r.refunded, "refund_rate": r.rate}
                for r in rates
            ]
        )  # fmt: skip
        st.subheader("Refund rate per product (attributed orders that resolved)")
        st.altair_chart(
            alt.Chart(table)
            .mark_bar()
            .encode(x=alt.X("product_id:N", sort="-y"), y=alt.Y("refund_rate:Q", axis=alt.Axis(format="%"))),
            width="stretch",
        )
        st.dataframe(table, hide_index=True, key="refund_table")


def _posts_frame(posts: list[data.PostResult]) -> pd.DataFrame:
    frame = _frame(posts)
    frame["estimated_commission"] = frame["estimated_commission"] / 100
    frame["settled_commission"] = frame["settled_commission"] / 100
    return frame.drop(columns=["video_path"])


def _players(posts: list[data.PostResult]) -> None:
    for p in posts:
        with st.expander(f"{p.post_id}: {p.title} ({yuan(p.estimated_commission)})"):
            if Path(p.video_path).is_file():
                st.video(p.video_path)
            else:
                st.caption(f"clip file not on this machine: {p.video_path}")
            if p.remote_url:
                st.markdown(f"[on the platform]({p.remote_url})")


def page_posts() -> None:
    st.header("Top and bottom posts")
    posts = data.post_results()
    if not posts:
        _empty("posts")
        return
    count = min(_TOP, len(posts))
    top = posts[:count]
    bottom = sorted(posts, key=lambda p: (p.estimated_commission, p.orders, p.plays, p.post_id))[:count]
    chart = pd.DataFrame(
        [{"post": p.post_id, "yuan": p.estimated_commission / 100, "group": "top"} for p in top]
        + [{"post": p.post_id, "yuan": p.estimated_commission / 100, "group": "bottom"} for p in bottom]
    )
    st.altair_chart(
        alt.Chart(chart)
        .mark_bar()
        .encode(
            y=alt.Y("post:N", sort="-x"),
            yOffset="group:N",  # a post in both lists (few posts) gets a bar in each, side by side
            x=alt.X("yuan:Q", title="estimated commission (yuan)"),
            color="group:N",
        ),
        width="stretch",
    )
    left, right = st.columns(2)
    with left:
        st.subheader(f"Top {count}")
        st.dataframe(_posts_frame(top), hide_index=True, key="top_posts")
        _players(top)
    with right:
        st.subheader(f"Bottom {count}")
        st.dataframe(_posts_frame(bottom), hide_index=True, key="bottom_posts")
        _players(bottom)


def page_policy() -> None:
    st.header("What the policy believes, and tomorrow's allocation")
    view = data.policy_view()
    if not view.rows:
        _empty("products")
        return
    horizon = "not yet known" if view.horizon_days is None else f"{view.horizon_days:.1f} days"
    st.caption(
        f"Tomorrow = {view.day} (CST, platform clock {view.now:%Y-%m-%d %H:%M} UTC); pay lag fitted "
        f"{view.lag_days or 0:.2f} days; settlement horizon {horizon}. Score: settled commission per post."
    )
    frame = pd.DataFrame(
        [
            {
                "product_id": r.product_id,
                "name": r.name,
                "mean_yuan": r.mean / 100,
                "low_yuan": r.low / 100,
                "high_yuan": r.high / 100,
                "p_best": r.p_best,
                "share_tomorrow": r.share,
                "planned_tomorrow": r.planned,
                "posts": r.posts,
                "paid": r.paid,
                "settled": r.settled,
                "refunded": r.refunded,
            }
            for r in view.rows
        ]
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Posterior: mean and 90% interval (yuan / post)")
        base = alt.Chart(frame).encode(y=alt.Y("product_id:N", sort="-x"))
        st.altair_chart(
            base.mark_rule().encode(x=alt.X("low_yuan:Q", title="yuan per post"), x2="high_yuan:Q")
            + base.mark_point(filled=True, size=60).encode(x="mean_yuan:Q"),
            width="stretch",
        )
    with right:
        st.subheader("Share of tomorrow's posts")
        st.altair_chart(
            alt.Chart(frame)
            .mark_bar()
            .encode(
                y=alt.Y("product_id:N", sort="-x"),
                x=alt.X("share_tomorrow:Q", axis=alt.Axis(format="%")),
                tooltip=["product_id", "share_tomorrow", "p_best", "planned_tomorrow"],
            ),
            width="stretch",
        )
    st.dataframe(frame, hide_index=True, key="policy_table")


def page_attribution() -> None:
    st.header("Attribution")
    cov = data.attribution()
    cols = st.columns(3)
    cols[0].metric("Orders", f"{cov.orders:,}")
    cols[1].metric("Attributed", f"{cov.share:.1%}")
    cols[2].metric("Unattributed orders", f"{cov.orders - cov.attributed:,}")
    if not cov.orders:
        _empty("orders")
        return
    frame = pd.DataFrame(
        [
            {"reason": reason, "orders": n, "estimated_commission": cov.commission_by_reason[reason] / 100}
            for reason, n in cov.by_reason.items()
        ]
    )
    st.altair_chart(
        alt.Chart(frame).mark_bar().encode(x=alt.X("reason:N", sort="-y"), y="orders:Q", color="reason:N"),
        width="stretch",
    )
    st.caption(
        "no_code: bought without our tracking code; unknown_code: a code no post here carries; "
        "product_mismatch: our post's code, another product."
    )
    st.dataframe(frame, hide_index=True, key="attribution_table")


PAGES: dict[str, tuple[str, Callable[[], None]]] = {
    "money": ("Money", page_money),
    "funnel": ("Funnel", page_funnel),
    "refunds": ("Refunds", page_refunds),
    "posts": ("Posts", page_posts),
    "policy": ("Policy", page_policy),
    "attribution": ("Attribution", page_attribution),
}


# ------------------------------------------------------------------------------------------------ shell


def _allowed() -> bool:
    """The login gate: nothing is shown off loopback without a password, or before the password was entered."""
    password = get_settings().dashboard_password
    refusal = data.login_required(password is not None, st.get_option("server.address"))
    if refusal:
        st.error(refusal)
        return False
    if password is None or st.session_state.get("mcn_logged_in"):
        return True
    with st.form("login"):
        entered = st.text_input("Password", type="password", key="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if data.password_matches(entered, password.get_secret_value()):
            st.session_state["mcn_logged_in"] = True
            st.rerun()
        st.error("wrong password")
    return False


def main() -> None:
    st.set_page_config(page_title="mcn GMV", layout="wide")
    if not _allowed():
        return
    slugs = list(PAGES)
    wanted = st.query_params.get("page", slugs[0])
    chosen = st.sidebar.radio(
        "Page",
        slugs,
        index=slugs.index(wanted) if wanted in slugs else 0,
        format_func=lambda slug: PAGES[slug][0],
        key="page",
    )
    st.query_params["page"] = chosen
    try:
        PAGES[chosen][1]()
    except DatabaseUnavailable as exc:
        st.error(str(exc))


if __name__ == "__main__":
    main()
