//! The pages, rendered on the server from typed data. Every value from the chain, a user or
//! a config passes through [`escape`]; markup is only ever the literals here.

use std::fmt::Write;

use netsettle_client::Notice;
use netsettle_client::settlement::PeriodRow;

use crate::period::utc;

/// The stylesheet every page links (`GET /console.css`).
pub const STYLESHEET: &str = include_str!("../assets/console.css");

/// `text` safe in HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A flash message shown once after an action.
pub struct Flash<'a> {
    /// `ok` or `error`.
    pub class: &'a str,
    /// The text.
    pub text: &'a str,
}

/// The page frame: title, the user bar (with the logout form) and the body.
pub fn page(
    title: &str,
    user: Option<(&str, &str, &str)>,
    flash: Option<Flash<'_>>,
    body: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · netsettle</title><link rel=\"stylesheet\" href=\"/console.css\"></head><body>",
        escape(title)
    );
    if let Some((name, role, csrf)) = user {
        let _ = writeln!(
            out,
            "<header><a href=\"/\">periods</a> · <a href=\"/notices\">notices</a> · <span id=\"user\">{} ({})</span> \
             <form id=\"logout\" method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">log out</button></form></header>",
            escape(name),
            escape(role),
            escape(csrf)
        );
    }
    if let Some(flash) = flash {
        let _ = writeln!(
            out,
            "<p id=\"flash\" class=\"{}\">{}</p>",
            escape(flash.class),
            escape(flash.text)
        );
    }
    out.push_str(body);
    out.push_str("\n</body></html>\n");
    out
}

/// `GET /login`.
pub fn login(csrf: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>netsettle console</h1>\n<form id=\"login\" method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>name <input name=\"name\" autocomplete=\"username\"></label> \
         <label>password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label> \
         <button type=\"submit\">log in</button></form>",
        escape(csrf)
    );
    let flash = error.map(|text| Flash {
        class: "error",
        text,
    });
    page("log in", None, flash, &body)
}

/// A period's deadlines: upload, then the current round's reveal.
pub type Deadlines = (Option<u64>, Option<u64>);

/// `GET /`: every period with phase, whose move, since when, deadlines (where `deadlines`
/// has them, in row order), late sides.
pub fn periods(rows: &[PeriodRow], deadlines: &[Deadlines], user: (&str, &str, &str)) -> String {
    let mut body = String::from(
        "<h1>periods</h1>\n<table id=\"periods\"><thead><tr><th>period</th><th>phase</th><th>round</th>\
         <th>whose move</th><th>sides</th><th>deadlines</th></tr></thead><tbody>\n",
    );
    let time = |ms: Option<u64>| ms.map(utc).unwrap_or_else(|| "-".to_owned());
    for (index, row) in rows.iter().enumerate() {
        let (upload, reveal) = deadlines.get(index).copied().unwrap_or_default();
        let deadlines = format!(
            "<td class=\"deadlines\">upload <span class=\"upload-deadline\">{}</span>, \
             reveal <span class=\"reveal-deadline\">{}</span></td>",
            time(upload),
            time(reveal)
        );
        let period = row.period.to_string();
        let sides: Vec<String> = row
            .sides
            .iter()
            .map(|side| {
                let class = if side.late { "side late" } else { "side" };
                let action = side
                    .action
                    .as_ref()
                    .map(|a| format!("{a:?}").to_lowercase())
                    .unwrap_or_default();
                let since = side
                    .since_ms
                    .map(|ms| format!(" since {}", utc(ms)))
                    .unwrap_or_default();
                format!(
                    "<span class=\"{class}\" data-carrier=\"{}\">{} {}{}{}</span>",
                    escape(&side.carrier),
                    escape(&side.carrier),
                    escape(&action),
                    escape(&since),
                    if side.late { " (late)" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(
            body,
            "<tr data-period=\"{p}\"><td><a href=\"/periods/{p}\">{p}</a></td><td class=\"phase\">{}</td>\
             <td>{}</td><td class=\"whose-move\">{}</td><td>{}</td>{deadlines}</tr>",
            row.phase.name(),
            row.round,
            escape(&row.whose_move.join(", ")),
            sides.join(" "),
            p = escape(&period),
        );
    }
    body.push_str("</tbody></table>");
    page("periods", Some(user), None, &body)
}

/// `GET /notices`: the notices received, newest first.
pub fn notices(notices: &[Notice], user: (&str, &str, &str)) -> String {
    let mut body = String::from("<h1>notices</h1>\n<ul id=\"notices\">\n");
    for notice in notices {
        let _ = writeln!(
            body,
            "<li data-notice=\"{}\" data-kind=\"{}\"><span class=\"when\" data-ms=\"{}\">{}</span> \
             <span class=\"period\">{}</span> <span class=\"kind\">{}</span>: <span class=\"text\">{}</span> \
             (block <span class=\"block\">{}</span>, for <span class=\"recipient\">{}</span>)</li>",
            escape(&notice.id),
            escape(&notice.kind),
            notice.at_ms,
            u64::try_from(notice.at_ms).map(utc).unwrap_or_default(),
            notice_period(notice.period.as_deref()),
            escape(&notice.kind),
            escape(&notice.text),
            notice
                .block
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".to_owned()),
            escape(&notice.recipient),
        );
    }
    body.push_str("</ul>");
    page("notices", Some(user), None, &body)
}

/// A notice's period, linked to its page when it is one.
fn notice_period(period: Option<&str>) -> String {
    match period.map(str::parse::<netsettle_settlement::units::Period>) {
        Some(Ok(period)) => format!("<a href=\"/periods/{period}\">{period}</a>"),
        Some(Err(_)) | None => escape(period.unwrap_or("-")),
    }
}

/// An error page.
pub fn error(title: &str, detail: &str) -> String {
    page(
        title,
        None,
        None,
        &format!(
            "<h1>{}</h1><p id=\"error\">{}</p><p><a href=\"/\">back</a></p>",
            escape(title),
            escape(detail)
        ),
    )
}
