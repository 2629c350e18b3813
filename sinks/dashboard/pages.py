"""The dashboard's HTML: plain server-rendered pages, every value escaped, no inline
script (the Content-Security-Policy forbids it); ``static/board.js`` adds the live feed.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from schemas.model import LANES, MODES, REFERRALS, Alert, Decision
from sinks.dashboard.board import AlertFilter, AlertRow, Figures
from sinks.dashboard.sessions import Session

OUTCOMES: dict[str, str] = {
    "CONFIRMED": "Confirmed: finding on inspection",
    "NO_FINDING": "No finding",
    "FALSE_POSITIVE": "False positive: the rule should not have fired",
}


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def alert_href(alert_id: str) -> str:
    return "/alerts/" + quote(alert_id, safe="")


def _layout(title: str, body: str, session: Session | None, page: str) -> str:
    user = ""
    if session is not None:
        user = (
            f'<div class="user"><span class="who">{e(session.display_name)}</span>'
            f'<span class="role role-{e(session.role)}">{e(session.role)}</span>'
            f'<form method="post" action="/logout" class="inline">'
            f'<input type="hidden" name="csrf_token" value="{e(session.csrf)}">'
            f'<button type="submit" class="link">Sign out</button></form></div>'
        )
    csrf = f'<meta name="csrf-token" content="{e(session.csrf)}">' if session else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{csrf}<title>{e(title)} · cargowatch</title>
<link rel="stylesheet" href="/static/board.css">
<script src="/static/board.js" defer></script>
</head><body data-page="{e(page)}">
<header class="top"><a class="brand" href="/"><span class="mark"></span>cargowatch</a>
<span class="subtitle">advance cargo screening</span>{user}</header>
<main>{body}</main>
</body></html>"""


def login_page(error: str, login_token: str, next_path: str) -> str:
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    body = f"""<section class="login card">
<h1>Sign in</h1>
<p class="muted">Officers and operations staff. Sessions expire; decisions carry your name.</p>
{err}
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="login_token" value="{e(login_token)}">
<input type="hidden" name="next" value="{e(next_path)}">
<label>Username <input name="username" id="username" required autofocus autocomplete="username"></label>
<label>Password <input name="password" id="password" type="password" required autocomplete="current-password"></label>
<button type="submit" class="primary" id="login">Sign in</button>
</form></section>"""
    return _layout("Sign in", body, None, "login")


def _options(name: str, values: tuple[str, ...] | list[str], selected: str, any_label: str) -> str:
    opts = [f'<option value="">{e(any_label)}</option>']
    for v in values:
        sel = " selected" if v == selected else ""
        opts.append(
            f'<option value="{e(v)}"{sel}>{e(v.replace("_", " ").title() if name == "status" else v)}</option>'
        )
    return f'<select name="{e(name)}" id="f-{e(name)}">{"".join(opts)}</select>'


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def figures_html(f: Figures) -> str:
    """The key figures panel (re-rendered by board.js from /api/figures)."""
    lag = "—" if f.consumer_lag is None else f"{f.consumer_lag:,}"
    cards = [
        ("throughput", "Throughput", f"{f.throughput_per_s:,.1f}", "manifests/s, last minute"),
        ("screened", "Screened", f"{f.screened_last_hour:,}", "last hour"),
        (
            "open",
            "Open alerts",
            f"{f.open_alerts:,}",
            f"{f.alerts_last_hour:,} raised in the last hour",
        ),
        ("lag", "Consumer lag", lag, "records behind on manifests.raw"),
        (
            "dlq",
            "Dead letters",
            f"{f.dlq_per_min:,.1f}",
            f"per minute; {f.dlq_last_hour:,} last hour",
        ),
    ]
    card_html = "".join(
        f'<div class="figure" data-figure="{key}"><div class="label">{e(label)}</div>'
        f'<div class="value">{e(value)}</div><div class="note">{e(note)}</div></div>'
        for key, label, value, note in cards
    )
    lanes = []
    for lane in f.lanes:
        quota = (
            ""
            if lane.quota is None
            else f'<span class="quota" style="left:{min(100, 100 * lane.quota):.1f}%"></span>'
        )
        target = "no quota" if lane.quota is None else f"quota {_pct(lane.quota)}"
        lanes.append(
            f'<div class="lane-rate"><span class="badge lane-{e(lane.lane)}">{e(lane.lane)}</span>'
            f'<div class="bar"><span class="fill lane-{e(lane.lane)}" style="width:{min(100, 100 * lane.rate):.1f}%"></span>{quota}</div>'
            f'<span class="num">{_pct(lane.rate)}</span><span class="muted small">{e(target)} · {lane.count:,}</span></div>'
        )
    rules = (
        "".join(
            f"<tr><td><code>{e(r.rule_id)}</code></td><td class=num>{r.decided}</td><td class=num>{r.confirmed}</td>"
            f"<td class=num>{r.false_positive}</td><td class=num><strong>{_pct(r.hit_rate)}</strong></td></tr>"
            for r in f.rules
        )
        or '<tr><td colspan="5" class="muted">No decisions yet.</td></tr>'
    )
    warming = "" if f.caught_up else '<p class="muted small">Rebuilding from the topics…</p>'
    return f"""<div class="figures">{card_html}</div>
<div class="panels">
<section class="card"><h2>Lanes, last hour <span class="muted small">observed against quota</span></h2>{"".join(lanes)}</section>
<section class="card"><h2>Hit rate per rule <span class="muted small">from officer decisions</span></h2>
<table class="compact"><thead><tr><th>Rule</th><th class=num>Decided</th><th class=num>Confirmed</th><th class=num>False pos.</th><th class=num>Hit rate</th></tr></thead>
<tbody>{rules}</tbody></table></section></div>{warming}"""


def row_html(r: AlertRow) -> str:
    """One alert queue row (board.js builds the same markup for live rows)."""
    status = "open" if r.status == "OPEN" else "decided"
    return (
        f'<tr class="alert-row row-{status}" data-alert-id="{e(r.alert_id)}">'
        f'<td class="time" data-ts="{e(r.raised_at)}">{e(r.raised_at[11:19])}</td>'
        f'<td><span class="badge lane-{e(r.lane)}">{e(r.lane)}</span></td>'
        f"<td>{'' if r.referral == 'NONE' else f'<span class=referral>{e(r.referral)}</span>'}</td>"
        f'<td class="num">{r.score:.0f}</td>'
        f'<td class="manifest"><a href="{e(alert_href(r.alert_id))}">{e(r.manifest_id)}</a> <span class="muted">v{r.version}</span></td>'
        f"<td>{e(r.mode)}</td>"
        f'<td class="route">{e(r.loading_port)} → {e(r.discharge_port)}</td>'
        f'<td>{e(r.consignee_name)}<div class="muted small">{e(r.consignee_id or "")}</div></td>'
        f'<td class="rules">{" ".join(f"<code>{e(x)}</code>" for x in r.rules)}</td>'
        f'<td><span class="status status-{e(r.status)}">{e(r.status.replace("_", " ").lower())}</span></td>'
        "</tr>"
    )


def board_page(
    session: Session, figures: Figures, rows: list[AlertRow], flt: AlertFilter, rules: list[str]
) -> str:
    rows_html = "".join(row_html(r) for r in rows)
    filters = f"""<form class="filters card" id="filters" method="get" action="/">
{_options("lane", LANES, flt.lane, "Any lane")}
{_options("referral", REFERRALS, flt.referral, "Any referral")}
{_options("mode", MODES, flt.mode, "Any mode")}
{_options("rule", sorted(set(rules) | ({flt.rule} if flt.rule else set())), flt.rule, "Any rule")}
<input name="trader" id="f-trader" placeholder="Trader id" value="{e(flt.trader)}" maxlength="40">
<input name="port" id="f-port" placeholder="Port (UN/LOCODE)" value="{e(flt.port)}" maxlength="5">
{_options("status", ("OPEN", "DECIDED"), flt.status, "Open and decided")}
<button type="submit" class="secondary" id="apply">Filter</button>
<a class="link" href="/">Clear</a>
</form>"""
    body = f"""<section id="figures">{figures_html(figures)}</section>
<section class="queue">
<div class="queue-head"><h1>Alert queue</h1><span class="live" id="live" title="Updates arrive without reloading">connecting…</span>
<span class="muted small" id="count">{len(rows)} shown</span></div>
{filters}
<div class="card table-wrap"><table class="alerts" id="alerts">
<thead><tr><th>Raised (UTC)</th><th>Lane</th><th>Referral</th><th class=num>Score</th><th>Manifest</th><th>Mode</th><th>Route</th><th>Consignee</th><th>Rules</th><th>Status</th></tr></thead>
<tbody id="alert-rows">{rows_html}</tbody></table>
<p class="empty muted" id="empty"{" hidden" if rows else ""}>No alerts match these filters.</p></div>
</section>"""
    return _layout("Alert queue", body, session, "board")


def _evidence(evidence: dict[str, str]) -> str:
    if not evidence:
        return '<span class="muted">—</span>'
    return (
        "<dl class='evidence'>"
        + "".join(
            f"<dt>{e(k.replace('_', ' '))}</dt><dd>{e(v)}</dd>" for k, v in sorted(evidence.items())
        )
        + "</dl>"
    )


def alert_page(
    session: Session,
    alert: Alert,
    decisions: list[Decision],
    notice: str = "",
    error: str = "",
) -> str:
    s = alert.summary
    hits = (
        "".join(
            f"<tr><td><code>{e(h.rule_id)}</code></td><td class=num>{h.weight:+.0f}</td><td>{e(h.reason)}</td>"
            f"<td>{_evidence(h.evidence)}</td></tr>"
            for h in sorted(alert.hits, key=lambda h: -h.weight)
        )
        or '<tr><td colspan="4" class="muted">No rule fired (random selection or referral only).</td></tr>'
    )
    matches = "".join(
        f"<tr><td>{e(m.party_role.title())}</td><td>{e(m.party_name)}</td><td>{e(m.matched_name)}</td>"
        f"<td><code>{e(m.list_id)}</code> {e(m.entry_id)}</td><td class=num>{100 * m.score:.0f}%</td>"
        f"<td>{e(m.explanation) if m.explanation else '<span class=muted>—</span>'}</td></tr>"
        for m in alert.watchlist_matches
    )
    matches_html = (
        f"""<section class="card"><h2>Watchlist matches</h2>
<p class="muted small">A party's name compared with listed names; the score is the name similarity after normalisation.</p>
<table><thead><tr><th>Party</th><th>Declared name</th><th>Listed name</th><th>List / entry</th><th class=num>Score</th><th>Why it matched</th></tr></thead>
<tbody>{matches}</tbody></table></section>"""
        if alert.watchlist_matches
        else ""
    )
    history = "".join(
        f'<li><span class="status status-{e(d.outcome)}">{e(d.outcome.replace("_", " ").lower())}</span> '
        f"by <strong>{e(d.officer)}</strong> at {e(d.decided_at.strftime('%Y-%m-%d %H:%M:%S'))} UTC — {e(d.reason)}</li>"
        for d in decisions
    )
    history_html = (
        f'<ul class="decisions" id="decisions">{history}</ul>'
        if history
        else '<p class="muted" id="decisions">No decision yet.</p>'
    )
    if session.may_decide:
        radios = "".join(
            f'<label class="outcome"><input type="radio" name="outcome" value="{k}" id="outcome-{k}" required> {e(v)}</label>'
            for k, v in OUTCOMES.items()
        )
        form = f"""<form method="post" action="{e(alert_href(alert.alert_id))}/decision" class="decision-form" id="decision-form">
<input type="hidden" name="csrf_token" value="{e(session.csrf)}">
<fieldset><legend>Outcome</legend>{radios}</fieldset>
<label>Reason <textarea name="reason" id="reason" required maxlength="500" rows="3" placeholder="What was found, or why the alert was not justified"></textarea></label>
<button type="submit" class="primary" id="decide">{"Record a new decision" if decisions else "Record decision"} as {e(session.display_name)}</button>
</form>"""
    else:
        form = '<p class="muted">Your role is <strong>viewer</strong>: you can read alerts; officers record decisions.</p>'
    flash = f'<p class="notice" role="status">{e(notice)}</p>' if notice else ""
    flash += f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    ts = "".join(f"<li><code>{e(h)}</code></li>" for h in s.hs_codes)
    body = f"""<p><a class="link" href="/">← Alert queue</a></p>
<section class="alert-head card">
<div><span class="badge big lane-{e(alert.lane)}">{e(alert.lane)}</span>
{"" if alert.referral == "NONE" else f'<span class="referral big">{e(alert.referral)}</span>'}</div>
<div><h1>{e(alert.manifest_id)} <span class="muted">version {alert.version}</span></h1>
<p class="muted">Score <strong>{alert.score:.0f}</strong> · raised {e(alert.raised_at.strftime("%Y-%m-%d %H:%M:%S"))} UTC · ruleset {e(alert.ruleset_version)}</p></div>
</section>
{flash}
<div class="panels">
<section class="card"><h2>Manifest</h2><dl class="summary">
<dt>Mode</dt><dd>{e(s.mode)}</dd>
<dt>Route</dt><dd>{e(s.loading_port)} → {e(s.discharge_port)}</dd>
<dt>Departure</dt><dd>{e(s.departure_at.strftime("%Y-%m-%d %H:%M"))} UTC</dd>
<dt>Filer</dt><dd><code>{e(s.filer_id)}</code></dd>
<dt>Consignor</dt><dd>{e(s.consignor_name)}</dd>
<dt>Consignee</dt><dd>{e(s.consignee_name)} <code>{e(s.consignee_id or "")}</code></dd>
<dt>HS codes</dt><dd><ul class="inline-list">{ts}</ul></dd>
</dl></section>
<section class="card"><h2>Decision</h2>{history_html}{form}</section>
</div>
<section class="card"><h2>Why it was flagged <span class="muted small">every rule that fired</span></h2>
<table id="hits"><thead><tr><th>Rule</th><th class=num>Weight</th><th>Reason</th><th>Evidence</th></tr></thead><tbody>{hits}</tbody></table></section>
{matches_html}"""
    return _layout(f"Alert {alert.manifest_id}", body, session, "alert")
