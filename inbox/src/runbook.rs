//! `GET /runbook`: docs/runbook.md as a small HTML page.
//!
//! The Markdown is compiled into the binary, so the inbox (and its Docker
//! image) serves the runbook of the revision it was built from, with no file
//! to mount. Alert annotations link to `<base>/runbook#<alert name in lower
//! case>`, so every heading gets the anchor GitHub gives it
//! ([`anchor`]): the same link works on the inbox and on the repository's
//! web view. The page has no script: raw HTML in the Markdown is shown as
//! text, not passed through. Links stay as written, except those to the
//! repository's other documents (`configuration.md#...`): the inbox does not
//! serve them, so their text stays and the link goes; and those to a
//! component of the stack on another address than the runbook's default
//! ([`Links`], which `stack up` gives when it moved the ports).

use std::collections::HashSet;
use std::str::FromStr;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// The runbook's Markdown, as built.
pub const MARKDOWN: &str = include_str!("../../docs/runbook.md");

/// The whole HTML page, with `links` moved (rendered once, at start).
pub fn page(links: &Links) -> String {
    page_of(&links.apply(MARKDOWN))
}

/// Addresses the runbook names that run elsewhere: each `http://FROM` (not
/// followed by another digit of a port) becomes `http://TO`. Given as
/// `FROM=TO,...`, e.g. `127.0.0.1:9090=127.0.0.1:19090`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<(String, String)>);

impl Links {
    fn apply(&self, markdown: &str) -> String {
        let mut text = markdown.to_owned();
        for (from, to) in &self.0 {
            let (from, to) = (format!("http://{from}"), format!("http://{to}"));
            let mut moved = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(at) = rest.find(&from) {
                let after = &rest[at + from.len()..];
                let whole = !after.starts_with(|c: char| c.is_ascii_digit());
                moved.push_str(&rest[..at]);
                moved.push_str(if whole { &to } else { &from });
                rest = after;
            }
            moved.push_str(rest);
            text = moved;
        }
        text
    }
}

impl FromStr for Links {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let address = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        };
        let pairs = text
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| match pair.trim().split_once('=') {
                Some((from, to)) if address(from) && address(to) => {
                    Ok((from.to_owned(), to.to_owned()))
                }
                _ => Err(format!(
                    "{pair:?} is not FROM=TO with two host:port addresses \
                     (e.g. 127.0.0.1:9090=127.0.0.1:19090)"
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(pairs))
    }
}

/// GitHub's anchor for a heading: lower case, every character other than a
/// letter, digit, space, `-` or `_` dropped, each space turned into `-`
/// (`Host high CPU!` becomes `host-high-cpu`). Repeats get `-1`, `-2`, ...
/// from `page_of`, as on GitHub.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `markdown` as a whole page titled by its first heading.
fn page_of(markdown: &str) -> String {
    let (body, title) = body_of(markdown);
    format!(
        concat!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<title>{title}</title><style>",
            "body{{font-family:sans-serif;margin:2em;max-width:50em;line-height:1.45}}",
            "pre{{background:#f4f4f4;padding:.6em;overflow-x:auto}}",
            "code{{background:#f4f4f4}}",
            "</style></head><body>\n<p><a href=\"/\">Notification inbox</a></p>\n{body}</body></html>\n"
        ),
        title = crate::html::escape(&title),
        body = body,
    )
}

/// The HTML of `markdown` and the text of its first heading.
fn body_of(markdown: &str) -> (String, String) {
    let mut events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut seen = HashSet::new();
    let mut title = None;
    let mut start = None;
    let mut in_dropped_link = false;
    for i in 0..events.len() {
        match &events[i] {
            Event::Start(Tag::Link { dest_url, .. }) if is_other_document(dest_url) => {
                events[i] = Event::Text(CowStr::Borrowed(""));
                in_dropped_link = true;
            }
            Event::End(TagEnd::Link) if in_dropped_link => {
                events[i] = Event::Text(CowStr::Borrowed(""));
                in_dropped_link = false;
            }
            Event::Start(Tag::Heading { .. }) => start = Some(i),
            Event::End(TagEnd::Heading(_)) => {
                let Some(open) = start.take() else { continue };
                let text = heading_text(&events[open..i]);
                let id = unique(anchor(&text), &mut seen);
                if let Event::Start(Tag::Heading { id: slot, .. }) = &mut events[open] {
                    *slot = Some(CowStr::from(id));
                }
                title.get_or_insert(text);
            }
            // Shown as text: the page carries no markup the Markdown did not describe.
            Event::Html(raw) | Event::InlineHtml(raw) => {
                events[i] = Event::Text(raw.clone());
            }
            _ => {}
        }
    }
    let mut body = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut body, events.into_iter());
    (body, title.unwrap_or_else(|| "Runbook".to_owned()))
}

/// A link relative to the Markdown file (`scaling.md#labels`): neither a
/// URL, nor a path on the inbox, nor an anchor on this page.
fn is_other_document(dest: &str) -> bool {
    !(dest.contains(':') || dest.starts_with('/') || dest.starts_with('#'))
}

/// The heading's plain text: its words and code spans, as GitHub reads it.
fn heading_text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Text(text) | Event::Code(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect()
}

/// `id`, or `id-1`, `id-2`, ... when an earlier heading took it.
fn unique(id: String, seen: &mut HashSet<String>) -> String {
    let mut candidate = id.clone();
    let mut repeat = 0;
    while !seen.insert(candidate.clone()) {
        repeat += 1;
        candidate = format!("{id}-{repeat}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github() {
        assert_eq!(anchor("HostHighCpuUsage"), "hosthighcpuusage");
        assert_eq!(anchor(" Host high CPU! (v2) "), "host-high-cpu-v2");
        assert_eq!(
            anchor("node_exporter down - again"),
            "node_exporter-down---again"
        );
    }

    #[test]
    fn headings_get_ids_repeats_are_numbered_and_the_first_is_the_title() {
        let page = page_of("# Alert `runbook`\n\n## Service Down\n\ntext\n\n## Service Down\n");
        assert!(page.contains("<title>Alert runbook</title>"), "{page}");
        assert!(page.contains(r#"<h1 id="alert-runbook">"#), "{page}");
        assert!(
            page.contains(r#"<h2 id="service-down">Service Down</h2>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<h2 id="service-down-1">Service Down</h2>"#),
            "{page}"
        );
    }

    #[test]
    fn raw_html_is_text_and_links_stay_as_written() {
        let page = page_of(
            "<script>alert(1)</script>\n\nSee <b>this</b>, [the inbox](/api/notifications) and <http://127.0.0.1:9090/alerts>.\n",
        );
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("&lt;b&gt;this&lt;/b&gt;"), "{page}");
        assert!(
            page.contains(r#"<a href="/api/notifications">the inbox</a>"#),
            "{page}"
        );
        assert!(
            page.contains(
                r#"<a href="http://127.0.0.1:9090/alerts">http://127.0.0.1:9090/alerts</a>"#
            ),
            "{page}"
        );
    }

    #[test]
    fn links_to_other_documents_become_their_text() {
        let page = page_of(
            "See [setup.md](setup.md#checks), [below](#service-down) and [alerts](http://x/alerts).\n",
        );
        assert!(page.contains("See setup.md, "), "{page}");
        assert!(!page.contains("setup.md#checks"), "{page}");
        assert!(
            page.contains(r##"<a href="#service-down">below</a>"##),
            "{page}"
        );
        assert!(
            page.contains(r#"<a href="http://x/alerts">alerts</a>"#),
            "{page}"
        );
    }

    #[test]
    fn links_to_moved_components_follow_them() {
        let links: Links = "127.0.0.1:9090=127.0.0.1:19090, localhost:3000=127.0.0.1:13000"
            .parse()
            .expect("links");
        let page = page_of(&links.apply(
            "<http://127.0.0.1:9090/alerts>, `curl http://127.0.0.1:9090/-/ready`, \
             [Grafana](http://localhost:3000/d/x), <http://127.0.0.1:90901/> and \
             <http://127.0.0.1:9093>.\n",
        ));
        assert!(
            page.contains(r#"<a href="http://127.0.0.1:19090/alerts">"#),
            "{page}"
        );
        assert!(
            page.contains("curl http://127.0.0.1:19090/-/ready"),
            "{page}"
        );
        assert!(
            page.contains(r#"<a href="http://127.0.0.1:13000/d/x">"#),
            "{page}"
        );
        assert!(
            page.contains("http://127.0.0.1:90901/"),
            "another port: {page}"
        );
        assert!(page.contains("http://127.0.0.1:9093"), "not moved: {page}");
        assert!("9090".parse::<Links>().is_err());
        assert!("a b=c".parse::<Links>().is_err());
        assert_eq!("".parse::<Links>(), Ok(Links::default()));
    }

    #[test]
    fn the_built_in_runbook_has_an_anchor_per_section() {
        let page = page(&Links::default());
        for heading in MARKDOWN.lines().filter_map(|line| line.strip_prefix("## ")) {
            let id = format!(r#"<h2 id="{}">"#, anchor(heading));
            assert!(page.contains(&id), "no {id} for {heading:?}");
        }
        assert!(page.contains("<title>Alert runbook</title>"));
    }
}
