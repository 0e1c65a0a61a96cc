//! The CPU drill's preflight: before a drill, `stack load` asks the service
//! how many CPU burns it runs at once (`GET /api/cpu?ms=0` burns nothing and
//! answers `max_concurrent_burns`) and keeps its concurrency within that, so
//! the drill does not collect 429s. A service with the drill off answers 404
//! with how to enable it, and the drill stops before it starts; so does an
//! answer that is not the service's JSON (another web server at `--url`).

use std::time::Duration;

use anyhow::bail;

/// What the service said about its CPU drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The drill is on and runs at most this many burns at once.
    Limit(usize),
    /// The drill answered with an error: off (404), or otherwise refused.
    Refused { status: u16, message: String },
    /// The answer is not the service's: not JSON, or an error status
    /// without the service's JSON message. `start` is the beginning of the
    /// body, one line.
    NotService { status: u16, start: String },
    /// No usable answer (no service, or one that does not name its limit).
    Unknown(String),
}

/// Asks the service at `base` for its burn limit.
pub async fn probe(client: &reqwest::Client, base: &str) -> Probe {
    let request = client
        .get(format!("{base}/api/cpu?ms=0"))
        .timeout(Duration::from_secs(10));
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => read_answer(status, &body),
                Err(error) => Probe::Unknown(format!("reading its answer failed: {error}")),
            }
        }
        Err(error) => Probe::Unknown(format!("no answer: {error}")),
    }
}

/// Reads the answer to `GET /api/cpu?ms=0`.
pub fn read_answer(status: u16, body: &[u8]) -> Probe {
    // A proxy in front (compose's nginx) answers these itself, with its own
    // page, while the replicas behind it start or are down; the service
    // answers 408 with no body. Either way the URL may well be right.
    if matches!(status, 408 | 502 | 503 | 504) {
        return Probe::Unknown(format!(
            "it answered {status}: is the service (or every replica behind a proxy) up?"
        ));
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Probe::NotService {
            status,
            start: body_start(body),
        };
    };
    let field = |name: &str| json.get(name).cloned();
    if status == 200 {
        return match field("max_concurrent_burns").and_then(|v| v.as_u64()) {
            Some(limit) if limit > 0 => Probe::Limit(usize::try_from(limit).unwrap_or(usize::MAX)),
            _ => Probe::Unknown("its answer does not name a burn limit".to_owned()),
        };
    }
    // A 429 means the drill is on and busy: no limit to learn, nothing wrong.
    if status == 429 {
        return Probe::Unknown("every burn slot is busy right now (429)".to_owned());
    }
    match field("message").and_then(|v| v.as_str().map(str::to_owned)) {
        Some(message) => Probe::Refused { status, message },
        None => Probe::NotService {
            status,
            start: body_start(body),
        },
    }
}

/// Most bytes of a foreign answer quoted back: enough to recognise it.
const QUOTED_BYTES: usize = 200;

/// The first [`QUOTED_BYTES`] of `body` as one printable line: whitespace
/// runs (newlines too) become one space, other control characters go.
fn body_start(body: &[u8]) -> String {
    let start = &body[..body.len().min(QUOTED_BYTES)];
    let text = String::from_utf8_lossy(start);
    let printable: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let mut line = printable.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > QUOTED_BYTES {
        line.push_str(" ...");
    }
    line
}

/// The drill's concurrency given what the service said: `wanted`, capped at
/// the service's limit, with a note when capped or when the limit is
/// unknown. A refused drill is an error carrying the service's message.
pub fn fit(wanted: usize, probe: &Probe, base: &str) -> anyhow::Result<(usize, Option<String>)> {
    match probe {
        Probe::Limit(limit) if wanted > *limit => Ok((
            *limit,
            Some(format!(
                "load: CPU drill concurrency capped at {limit} (not {wanted}): that is the \
                 service's burn limit at {base} (its --max-cpu-burns / SERVICE_MAX_CPU_BURNS, \
                 one per core by default); it answers more concurrent burns with 429"
            )),
        )),
        Probe::Limit(_) => Ok((wanted, None)),
        Probe::Refused { status, message } => {
            bail!("the service at {base} refused the CPU drill ({status}): {message}")
        }
        Probe::NotService { status, start } => {
            let reason = reqwest::StatusCode::from_u16(*status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .map(|reason| format!(" {reason}"))
                .unwrap_or_default();
            let body = if start.is_empty() {
                "an empty body".to_owned()
            } else {
                format!("it began: {start}")
            };
            bail!(
                "{base} is not the service: GET /api/cpu?ms=0 answered {status}{reason}, not \
                 the service's JSON ({body}); give --url the service's base URL (`stack up` \
                 prints it)"
            )
        }
        Probe::Unknown(why) => Ok((
            wanted,
            Some(format!(
                "load: could not learn the service's CPU burn limit ({why}); running the drill \
                 with concurrency {wanted}"
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:5000";

    #[test]
    fn reads_the_limit_or_the_refusal() {
        let ok = br#"{"burned_ms":0,"iterations":0,"max_concurrent_burns":2}"#;
        assert_eq!(read_answer(200, ok), Probe::Limit(2));
        let off = br#"{"error":"not_found","message":"the CPU drill is off on this service; start it with --cpu-drill on"}"#;
        assert_eq!(
            read_answer(404, off),
            Probe::Refused {
                status: 404,
                message: "the CPU drill is off on this service; start it with --cpu-drill on"
                    .to_owned()
            }
        );
        assert!(matches!(
            read_answer(200, br#"{"burned_ms":0}"#),
            Probe::Unknown(_)
        ));
        assert!(matches!(read_answer(429, b"{}"), Probe::Unknown(_)));
        assert_eq!(
            read_answer(404, b"<h1>Not Found</h1>\n"),
            Probe::NotService {
                status: 404,
                start: "<h1>Not Found</h1>".to_owned()
            }
        );
        // A proxy whose replicas are down, or the service's own 408.
        for status in [408, 502, 503, 504] {
            assert!(matches!(
                read_answer(status, b"<h1>Bad Gateway</h1>\n"),
                Probe::Unknown(_)
            ));
        }
        assert!(matches!(
            read_answer(500, br#"{"error":"x"}"#),
            Probe::NotService { status: 500, .. }
        ));
    }

    #[test]
    fn the_drill_fits_the_service_limit() {
        let (capped, note) = fit(64, &Probe::Limit(2), BASE).expect("fits");
        assert_eq!(capped, 2);
        let note = note.expect("a note when capped");
        assert!(
            note.contains("capped at 2") && note.contains("429"),
            "{note}"
        );
        assert_eq!(fit(2, &Probe::Limit(2), BASE).expect("fits"), (2, None));
        assert_eq!(fit(1, &Probe::Limit(4), BASE).expect("fits"), (1, None));
        let (unknown, note) = fit(3, &Probe::Unknown("no answer".into()), BASE).expect("runs");
        assert_eq!(unknown, 3);
        assert!(note.is_some_and(|n| n.contains("no answer")));
        let refused = Probe::Refused {
            status: 404,
            message: "the CPU drill is off".into(),
        };
        let error = fit(2, &refused, BASE).expect_err("refused").to_string();
        assert!(
            error.contains("404") && error.contains("drill is off"),
            "{error}"
        );
    }

    /// A server on a free port that answers one request with `status` and
    /// `body`; its base URL, and the request it got once it has answered.
    async fn answer_once(
        status: &'static str,
        content_type: &'static str,
        body: String,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 1024];
            let read = stream.read(&mut request).await.expect("read");
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.expect("write");
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        (base, server)
    }

    #[tokio::test]
    async fn probes_a_real_http_answer() {
        let body = r#"{"burned_ms":0,"iterations":0,"max_concurrent_burns":3}"#;
        let (base, server) = answer_once("200 OK", "application/json", body.to_owned()).await;
        let client = reqwest::Client::new();
        assert_eq!(probe(&client, &base).await, Probe::Limit(3));
        let request = server.await.expect("server task");
        assert!(request.starts_with("GET /api/cpu?ms=0 "), "{request}");
    }

    #[tokio::test]
    async fn another_web_server_is_named_in_one_short_line() {
        let page = format!(
            "<!DOCTYPE html>\r\n<html>\n\t<head><title>404 Not Found</title></head>\n<body>{}</body>\n</html>\n",
            "<p>nothing here</p>\n".repeat(200)
        );
        let (base, _server) = answer_once("404 Not Found", "text/html", page).await;
        let probe = probe(&reqwest::Client::new(), &base).await;
        let error = fit(4, &probe, &base)
            .expect_err("not the service")
            .to_string();
        assert!(!error.contains('\n') && !error.contains('\t'), "{error}");
        assert!(error.len() < 500, "{} bytes: {error}", error.len());
        for part in [
            &format!("{base} is not the service"),
            "answered 404 Not Found, not the service's JSON",
            "it began: <!DOCTYPE html> <html> <head><title>404 Not Found</title></head>",
            " ...)",
        ] {
            assert!(error.contains(part), "{part:?} in {error}");
        }
    }

    #[test]
    fn a_foreign_body_is_quoted_short_on_one_line() {
        assert_eq!(
            body_start(b"  bad\r\n\tgateway\x07\x1b[31m \n"),
            "bad gateway[31m"
        );
        assert_eq!(body_start(b""), "");
        let long = "x".repeat(QUOTED_BYTES + 1);
        assert_eq!(body_start(long.as_bytes()), format!("{} ...", &long[1..]));
        // A character cut at the limit is replaced, never split.
        let mut cut = vec![b'a'; QUOTED_BYTES - 1];
        cut.extend_from_slice("é".as_bytes());
        assert_eq!(
            body_start(&cut),
            format!("{}\u{FFFD} ...", "a".repeat(QUOTED_BYTES - 1))
        );
    }
}
