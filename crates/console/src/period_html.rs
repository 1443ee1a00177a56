//! The period page and the timeline, rendered from the SDK's typed views and the figures
//! [`crate::period`] derives from them. Every value passes through [`escape`].

use std::fmt::Write;

use netsettle_client::settlement::PeriodView;
use netsettle_settlement::agreement::{Agreement, Side};
use netsettle_settlement::reconcile::{Figures, LineStatus, ReconciledLine, Summary};
use netsettle_settlement::workflow::{Adjustment, AuditEntry, PeriodState, PeriodStatus, Phase};

use crate::config::Role;
use crate::html::{Flash, escape, page};
use crate::limits::{CHART_BARS_MAX, LINES_SHOWN_MAX, PENDING_SHOWN_MAX};
use crate::period::{self, Filter, carrier, status_name, utc, yuan};

/// What the period page shows besides the status: the lines (all, or the open ones),
/// `None` before reconciliation.
pub struct PeriodPage<'a> {
    /// The period, `YYYY-MM`.
    pub period: &'a str,
    /// `period_get`.
    pub view: &'a PeriodView,
    /// `lines_get`, once reconciled.
    pub lines: Option<&'a [ReconciledLine]>,
    /// The filter asked for.
    pub filter: &'a Filter,
    /// What the user may do here.
    pub actions: &'a Actions,
}

/// The action forms a user sees: their role's steps, as the period stands.
pub struct Actions {
    /// The user's role.
    pub role: Role,
    /// The user's carrier's side, if a party.
    pub own: Option<Side>,
    /// Adjustments awaiting a decision (the first [`PENDING_SHOWN_MAX`]).
    pub pending: Vec<Adjustment>,
}

/// `GET /periods/{period}`.
pub fn period_page(
    data: &PeriodPage<'_>,
    user: (&str, &str, &str),
    flash: Option<Flash<'_>>,
) -> Result<String, period::Overflow> {
    let view = data.view;
    let name = data.period;
    let mut body = format!("<h1>period {}</h1>\n", escape(name));
    status(&mut body, view);
    match (view.state.as_ref(), data.lines) {
        (Some(state), Some(lines)) => {
            let _ = writeln!(
                body,
                "<p><a id=\"timeline-link\" href=\"/periods/{p}/timeline\">timeline</a>{}</p>",
                export_links(state.phase, name),
                p = escape(name)
            );
            forms(&mut body, name, state, data.actions, user.2);
            search(&mut body, data.filter);
            let kept = period::kept(lines, &state.agreement, data.filter);
            lines_table(&mut body, &kept, &state.agreement);
            items_table(&mut body, &kept, &state.agreement)?;
            chart(&mut body, &kept, &state.agreement)?;
        }
        (Some(_), None) => {
            let _ = writeln!(
                body,
                "<p><a id=\"timeline-link\" href=\"/periods/{p}/timeline\">timeline</a></p>\
                 <p id=\"no-lines\">not reconciled yet: no lines to show</p>",
                p = escape(name)
            );
        }
        (None, _) => body.push_str("<p id=\"no-lines\">nothing uploaded yet</p>\n"),
    }
    Ok(page(&format!("period {name}"), Some(user), flash, &body))
}

fn export_links(phase: Phase, period: &str) -> String {
    if matches!(phase, Phase::Final | Phase::Closed) {
        format!(
            " · export <a id=\"export-csv\" href=\"/periods/{p}/export.csv\">CSV</a> \
             <a id=\"export-json\" href=\"/periods/{p}/export.json\">JSON</a>",
            p = escape(period)
        )
    } else {
        String::new()
    }
}

/// `#status`: phase, round, whose move, deadlines, each side, totals.
fn status(body: &mut String, view: &PeriodView) {
    let status: &PeriodStatus = &view.status;
    let time = |ms: Option<u64>| ms.map(utc).unwrap_or_else(|| "-".to_owned());
    let (round, version) = view
        .state
        .as_ref()
        .map(|s| (s.round.to_string(), s.version.to_string()))
        .unwrap_or_else(|| ("-".to_owned(), "-".to_owned()));
    let _ = write!(
        body,
        "<section id=\"status\"><dl>\
         <dt>phase</dt><dd class=\"phase\">{}</dd>\
         <dt>round</dt><dd class=\"round\">{round}</dd>\
         <dt>data version</dt><dd class=\"version\">{version}</dd>\
         <dt>whose move</dt><dd class=\"whose-move\">{}</dd>\
         <dt>upload deadline</dt><dd class=\"upload-deadline\">{}</dd>\
         <dt>reveal deadline</dt><dd class=\"reveal-deadline\">{}</dd>\
         <dt>sides</dt><dd class=\"sides\">",
        status.phase.name(),
        escape(&status.whose_move.join(", ")),
        time(status.upload_deadline_ms),
        time(status.reveal_deadline_ms),
    );
    for side in &status.sides {
        let class = if side.late { "side late" } else { "side" };
        let action = side
            .action
            .as_ref()
            .map(|a| format!("{a:?}").to_lowercase())
            .unwrap_or_else(|| "nothing to do".to_owned());
        let _ = write!(
            body,
            "<span class=\"{class}\" data-carrier=\"{c}\">{c}: {}{}</span> ",
            escape(&action),
            if side.late { " (late)" } else { "" },
            c = escape(&side.carrier),
        );
    }
    body.push_str("</dd>");
    if let Some(state) = &view.state
        && state.version > 0
    {
        totals(body, &state.summary, &state.agreement);
    }
    body.push_str("</dl></section>\n");
}

fn totals(body: &mut String, summary: &Summary, agreement: &Agreement) {
    let (a, b) = (&agreement.party_a, &agreement.party_b);
    let _ = write!(
        body,
        "<dt>lines</dt><dd class=\"lines\" data-lines=\"{}\">{} ({} agreed, {} disputed, {} one-sided, {} adjusted)</dd>",
        summary.lines,
        summary.lines,
        summary.agreed,
        summary.disputed,
        summary.one_sided,
        summary.adjusted
    );
    for (class, label, flows) in [
        ("a-reported", a.as_str(), &summary.a_reported),
        ("b-reported", b.as_str(), &summary.b_reported),
        ("settled", "settled", &summary.settled),
    ] {
        let _ = write!(
            body,
            "<dt>{}</dt><dd class=\"{class}\"><span data-fen=\"{}\">{} pays {}</span>, \
             <span data-fen=\"{}\">{} pays {}</span></dd>",
            escape(label),
            flows.a_pays_fen,
            escape(a),
            yuan(i128::from(flows.a_pays_fen)),
            flows.b_pays_fen,
            escape(b),
            yuan(i128::from(flows.b_pays_fen)),
        );
    }
}

/// A POST form to `/periods/{period}/{step}` with id `step`, the CSRF token and `inputs`.
fn action_form(body: &mut String, period: &str, step: &str, csrf: &str, inputs: &str, label: &str) {
    let enctype = if step == "adjust-file" {
        " enctype=\"multipart/form-data\""
    } else {
        ""
    };
    let _ = writeln!(
        body,
        "<form id=\"{step}\" method=\"post\" action=\"/periods/{p}/{step}\"{enctype}>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">{inputs} <button type=\"submit\">{label}</button></form>",
        escape(csrf),
        p = escape(period),
    );
}

/// The forms of the user's role that fit the period's phase.
fn forms(body: &mut String, period: &str, state: &PeriodState, actions: &Actions, csrf: &str) {
    body.push_str("<section id=\"actions\"><h2>actions</h2>\n");
    match actions.role {
        Role::Settlement if state.phase == Phase::Reviewing => {
            pending_table(body, state, &actions.pending);
            let text = |name: &str| format!("<label>{name} <input name=\"{name}\"></label> ");
            let line = text("line");
            let reason = text("reason");
            action_form(
                body,
                period,
                "dispute",
                csrf,
                &format!("{line}{reason}"),
                "dispute",
            );
            let inputs = format!("{line}{}{}{reason}", text("quantity"), text("amount_fen"));
            action_form(body, period, "adjust", csrf, &inputs, "propose adjustment");
            let file = "<label>adjustments file <input type=\"file\" name=\"file\" accept=\".csv,text/csv\"></label>";
            action_form(
                body,
                period,
                "adjust-file",
                csrf,
                file,
                "propose adjustments",
            );
            let decide = format!(
                "<label>adjustment (id or all) <input name=\"adjustment\" value=\"all\"></label> \
                 <select name=\"decision\"><option value=\"accept\">accept</option><option value=\"reject\">reject</option></select> {reason}"
            );
            action_form(body, period, "decide", csrf, &decide, "decide");
            let own = match actions.own {
                Some(Side::A) => Some(&state.a),
                Some(Side::B) => Some(&state.b),
                None => None,
            };
            // Until the own carrier confirmed this data version (a change reopens it).
            if own.is_some_and(|side| side.confirmed_version != Some(state.version)) {
                action_form(body, period, "confirm", csrf, "", "confirm this version");
            }
        }
        Role::Finance => finance_forms(body, period, state, actions.own, csrf),
        Role::Settlement => {}
    }
    body.push_str("</section>\n");
}

fn finance_forms(
    body: &mut String,
    period: &str,
    state: &PeriodState,
    own: Option<Side>,
    csrf: &str,
) {
    let Some(own) = own else { return };
    if state.phase != Phase::Final {
        return;
    }
    let own_state = match own {
        Side::A => &state.a,
        Side::B => &state.b,
    };
    if own_state.approval.is_none() {
        action_form(body, period, "approve", csrf, "", "approve");
    }
    let approved = state.a.approval.is_some() && state.b.approval.is_some();
    let Some(net) = state.net else { return };
    match (&state.payment, net.payer) {
        (None, Some(payer)) if approved && payer == own => {
            let inputs = format!(
                "<label>reference <input name=\"reference\"></label> \
                 <label>amount_fen <input name=\"amount_fen\" value=\"{}\"></label>",
                net.amount_fen
            );
            action_form(body, period, "pay", csrf, &inputs, "record payment");
        }
        (Some(payment), Some(payer)) if payment.acknowledged.is_none() && payer != own => {
            let inputs = format!(
                "<label>reference <input name=\"reference\" value=\"{}\"></label>",
                escape(&payment.reference)
            );
            action_form(body, period, "ack", csrf, &inputs, "acknowledge payment");
        }
        _ => {}
    }
}

/// `#pending`: the adjustments awaiting a decision, `tr[data-adjustment=ID]`.
fn pending_table(body: &mut String, state: &PeriodState, pending: &[Adjustment]) {
    body.push_str(
        "<table id=\"pending\"><thead><tr><th>adjustment</th><th>line</th><th>proposer</th>\
         <th>quantity</th><th>amount</th><th>reason</th></tr></thead><tbody>\n",
    );
    for adjustment in pending.iter().take(PENDING_SHOWN_MAX) {
        let proposer = escape(carrier(&state.agreement, adjustment.proposer));
        let _ = writeln!(
            body,
            "<tr data-adjustment=\"{id}\" data-for-line=\"{line}\" data-proposer=\"{proposer}\"><td>{id}</td><td>{line}</td>\
             <td class=\"proposer\">{proposer}</td><td class=\"quantity\">{}</td>\
             <td class=\"amount\" data-fen=\"{}\">{}</td><td class=\"reason\">{}</td></tr>",
            adjustment.quantity,
            adjustment.amount_fen,
            yuan(i128::from(adjustment.amount_fen)),
            escape(&adjustment.reason),
            id = adjustment.id,
            line = adjustment.line_no,
        );
    }
    body.push_str("</tbody></table>\n");
}

/// The search form (`q`, `open=1`), a GET to this page.
fn search(body: &mut String, filter: &Filter) {
    let _ = writeln!(
        body,
        "<form id=\"search\" method=\"get\"><label>search <input name=\"q\" value=\"{}\"></label> \
         <label><input type=\"checkbox\" name=\"open\" value=\"1\"{}> open lines only</label> \
         <button type=\"submit\">filter</button></form>",
        escape(filter.q.as_deref().unwrap_or_default()),
        if filter.open_only() { " checked" } else { "" }
    );
}

fn figure_cells(figures: Option<&Figures>, class: &str) -> String {
    match figures {
        Some(f) => format!(
            "<td class=\"{class}-quantity\">{} {}</td><td class=\"{class}-amount\" data-fen=\"{}\">{}</td>",
            f.quantity,
            escape(&f.unit.to_string()),
            f.amount_fen,
            yuan(i128::from(f.amount_fen))
        ),
        None => format!("<td class=\"{class}-quantity\">-</td><td class=\"{class}-amount\">-</td>"),
    }
}

/// `#lines`: the quasi-final table, one `tr[data-line]` per kept line.
fn lines_table(body: &mut String, kept: &[&ReconciledLine], agreement: &Agreement) {
    let (a, b) = (escape(&agreement.party_a), escape(&agreement.party_b));
    let _ = writeln!(
        body,
        "<h2>lines</h2>\n<table id=\"lines\"><thead><tr><th>line</th><th>item</th><th>area</th>\
         <th>payer</th><th>status</th><th>{a} quantity</th><th>{a} amount</th><th>{b} quantity</th>\
         <th>{b} amount</th><th>difference</th><th>settled</th><th>note</th></tr></thead><tbody>"
    );
    for line in kept.iter().take(LINES_SHOWN_MAX) {
        let class = match line.status {
            LineStatus::Disputed => " class=\"disputed open\"",
            LineStatus::OneSided => " class=\"one-sided open\"",
            LineStatus::Agreed | LineStatus::Adjusted => "",
        };
        let difference = match period::difference_fen(line) {
            Some(fen) => format!(
                "<td class=\"difference\" data-fen=\"{fen}\">{}</td>",
                yuan(fen)
            ),
            None => "<td class=\"difference\">-</td>".to_owned(),
        };
        let settled = match &line.settled {
            Some(s) => format!(
                "<td class=\"settled\" data-fen=\"{}\">{}</td>",
                s.amount_fen,
                yuan(i128::from(s.amount_fen))
            ),
            None => "<td class=\"settled\">-</td>".to_owned(),
        };
        let note = line
            .note
            .as_ref()
            .map(|n| n.reason.as_str())
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr data-line=\"{n}\"{class}><td class=\"line-no\">{n}</td><td class=\"item\">{}</td>\
             <td class=\"area\">{}</td><td class=\"payer\">{}</td><td class=\"status\">{}</td>{}{}{difference}{settled}\
             <td class=\"note\">{}</td></tr>",
            escape(&line.key.item.to_string()),
            escape(&line.key.area.to_string()),
            escape(carrier(agreement, line.key.payer)),
            status_name(line.status),
            figure_cells(line.a.as_ref(), "a"),
            figure_cells(line.b.as_ref(), "b"),
            escape(note),
            n = line.line_no,
        );
    }
    body.push_str("</tbody></table>\n");
    let _ = writeln!(
        body,
        "<p id=\"lines-shown\" data-kept=\"{}\">{} lines shown{}</p>",
        kept.len(),
        kept.len().min(LINES_SHOWN_MAX),
        if kept.len() > LINES_SHOWN_MAX {
            format!(" of {}; narrow with the search", kept.len())
        } else {
            String::new()
        }
    );
}

/// `#items`: per item and payer, both carriers' sums and their difference.
fn items_table(
    body: &mut String,
    kept: &[&ReconciledLine],
    agreement: &Agreement,
) -> Result<(), period::Overflow> {
    let (a, b) = (escape(&agreement.party_a), escape(&agreement.party_b));
    let _ = writeln!(
        body,
        "<h2>differences by item</h2>\n<table id=\"items\"><thead><tr><th>item</th><th>payer</th>\
         <th>lines</th><th>open</th><th>{a}</th><th>{b}</th><th>difference</th></tr></thead><tbody>"
    );
    for ((item, payer), row) in period::items(kept)? {
        let payer = escape(carrier(agreement, payer));
        let difference = row.difference_fen();
        let _ = writeln!(
            body,
            "<tr data-item=\"{i}\" data-payer=\"{payer}\"><td class=\"item\">{i}</td><td class=\"payer\">{payer}</td>\
             <td class=\"lines\">{}</td><td class=\"open\">{}</td>\
             <td class=\"a-amount\" data-fen=\"{}\">{}</td><td class=\"b-amount\" data-fen=\"{}\">{}</td>\
             <td class=\"difference\" data-fen=\"{difference}\">{}</td></tr>",
            row.lines,
            row.open,
            row.a_fen,
            yuan(i128::from(row.a_fen)),
            row.b_fen,
            yuan(i128::from(row.b_fen)),
            yuan(difference),
            i = escape(&item),
        );
    }
    body.push_str("</tbody></table>\n");
    Ok(())
}

/// `#chart`: a horizontal bar per item, reporting carrier and direction, scaled to the
/// largest; plain SVG attributes (the CSP allows no inline style).
fn chart(
    body: &mut String,
    kept: &[&ReconciledLine],
    agreement: &Agreement,
) -> Result<(), period::Overflow> {
    const ROW: usize = 22;
    const LABEL: u64 = 340;
    const WIDTH: u64 = 400;
    let bars = period::chart(kept)?;
    let shown: Vec<_> = bars.iter().take(CHART_BARS_MAX).collect();
    let max = shown.iter().map(|(_, fen)| **fen).max().unwrap_or(0).max(1);
    let height = shown.len().saturating_mul(ROW).max(ROW);
    let _ = writeln!(
        body,
        "<h2>payable and receivable by item</h2>\n<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\">",
        w = LABEL + WIDTH + 120
    );
    for (row, ((item, side, direction), fen)) in shown.iter().enumerate() {
        let y = row.saturating_mul(ROW);
        // Integer scaling: u64 amounts times a small width fit u128.
        let width = u128::from(**fen) * u128::from(WIDTH) / u128::from(max);
        let fill = match (side, direction) {
            (Side::A, period::Direction::Payable) => "#b03a2e",
            (Side::A, period::Direction::Receivable) => "#1e8449",
            (Side::B, period::Direction::Payable) => "#e59866",
            (Side::B, period::Direction::Receivable) => "#7dcea0",
        };
        let msp = escape(carrier(agreement, *side));
        let _ = writeln!(
            body,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\">{i} · {msp} {d}</text>\
             <rect class=\"bar\" data-item=\"{i}\" data-carrier=\"{msp}\" data-direction=\"{d}\" data-amount=\"{fen}\" \
             x=\"{LABEL}\" y=\"{ry}\" width=\"{width}\" height=\"{h}\" fill=\"{fill}\"><title>{i} {msp} {d} {yuan}</title></rect>\
             <text x=\"{tx}\" y=\"{ty}\" font-size=\"12\">{yuan}</text>",
            ty = y + 15,
            ry = y + 3,
            h = ROW - 6,
            tx = u128::from(LABEL) + width + 6,
            i = escape(item),
            d = direction.name(),
            yuan = yuan(i128::from(**fen)),
            fen = **fen,
        );
    }
    body.push_str("</svg>\n");
    if bars.len() > CHART_BARS_MAX {
        let _ = writeln!(
            body,
            "<p>the chart shows the first {CHART_BARS_MAX} of {} bars; narrow with the search</p>",
            bars.len()
        );
    }
    Ok(())
}

/// One audit entry with the block its transaction is in, when known.
pub struct TimelineEntry<'a> {
    /// The entry.
    pub entry: &'a AuditEntry,
    /// Its block.
    pub block: Option<u64>,
}

/// `GET /periods/{period}/timeline`.
pub fn timeline(period: &str, entries: &[TimelineEntry<'_>], user: (&str, &str, &str)) -> String {
    let mut body = format!(
        "<h1>period {p}: timeline</h1>\n<p><a href=\"/periods/{p}\">back to the period</a></p>\n<ol id=\"timeline\">\n",
        p = escape(period)
    );
    for TimelineEntry { entry, block } in entries {
        let tx = entry.tx_id.to_string();
        let on_behalf_of = entry
            .on_behalf_of
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<li data-tx=\"{tx}\" data-seq=\"{}\"><span class=\"when\" data-ms=\"{}\">{}</span> \
             <span class=\"carrier\">{}</span> <span class=\"cn\">{}</span> \
             <span class=\"on-behalf-of\">{}</span> <span class=\"step\">{}</span>: \
             <span class=\"detail\">{}</span> (block <span class=\"block\">{}</span>, \
             tx <code class=\"tx\">{tx}</code>)</li>",
            entry.seq,
            entry.at_ms,
            utc(entry.at_ms),
            escape(&entry.msp_id),
            escape(&entry.common_name),
            escape(&on_behalf_of),
            escape(&entry.step),
            escape(&entry.detail),
            block
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".to_owned()),
            tx = escape(&tx),
        );
    }
    body.push_str("</ol>");
    page(&format!("timeline {period}"), Some(user), None, &body)
}
