//! The small HTML page at `GET /`: the latest notifications, newest first.
//!
//! Every value comes from a sender, so everything is escaped; the page has no
//! script and refreshes itself every 10 seconds. It shows the newest [`ROWS`]
//! notifications from their [`Summary`], so its size is bounded
//! ([`MAX_PAGE_BYTES`]) however large the notifications are.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::history::Record;
use crate::summary::{self, ALERTS_SHOWN, Summary};

/// Notifications on the page.
pub const ROWS: usize = 50;

/// Most bytes of the page: the fixed text, and per row its markup and every
/// summary text escaped (one character becomes at most 6 bytes, `&quot;`):
/// the status twice, the receiver, four texts per alert shown.
pub const MAX_PAGE_BYTES: usize = 1024 + ROWS * (ROW_MARKUP + (3 + 4 * ALERTS_SHOWN) * TEXT_HTML);

const TEXT_HTML: usize = (summary::TEXT_CHARS + 1) * 6;
/// The row's tags, id, time, source, counts: generous.
const ROW_MARKUP: usize = 400 + ALERTS_SHOWN * 80;

/// Escapes text for use inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders the whole page: `records` newest first, out of `kept` in the history.
pub fn page(records: &[Arc<Record>], kept: usize) -> String {
    let mut html = String::from(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"refresh\" content=\"10\">",
        "<title>Notification inbox</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:70em}",
        "table{border-collapse:collapse;width:100%}",
        "td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}",
        ".firing{color:#b00020;font-weight:bold}.resolved{color:#1b7f3b;font-weight:bold}",
        "</style></head><body><h1>Notification inbox</h1>\n"
    ));
    if records.is_empty() {
        html.push_str("<p>No notifications yet.</p>\n");
    } else {
        let _ = writeln!(html, "<p>The newest {} of {kept} kept.</p>", records.len());
        html.push_str(
            "<table><tr><th>#</th><th>received</th><th>status</th><th>alerts</th><th>from</th></tr>\n",
        );
        for record in records {
            row(&mut html, record);
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<p>JSON: <a href=\"/api/notifications\">/api/notifications</a></p></body></html>\n",
    );
    html
}

fn row(html: &mut String, record: &Record) {
    let summary: &Summary = &record.summary;
    let status = escape(&summary.status);
    let mut alerts = String::new();
    for alert in &summary.alerts {
        let _ = write!(
            alerts,
            "<div><b>{}</b> ({}) {} <small>{}</small></div>",
            escape(&alert.name),
            escape(&alert.status),
            escape(&alert.summary),
            escape(&alert.instance),
        );
    }
    let hidden = summary.alert_count - summary.alerts.len();
    if hidden > 0 {
        let _ = write!(alerts, "<div><small>and {hidden} more</small></div>");
    }
    let _ = writeln!(
        html,
        "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{alerts}</td><td>{} / {}</td></tr>",
        record.id,
        escape(&record.received_at),
        record.source,
        escape(&summary.receiver),
    );
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }
}
