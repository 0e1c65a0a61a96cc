//! One log line per response: method, route template, status, duration in
//! microseconds and, when the request is traced, its trace id (the link
//! from a log line to its trace).
//!
//! The line has the layout of a `tracing` event at `info` under the target
//! `service::access` (text or JSON, like every other line of the log), but
//! is written by hand: `tracing-subscriber`'s formatter takes about 0.87 µs
//! per line, this 0.14 µs (`examples/optimisations.rs`,
//! docs/performance.md). The test at the bottom checks that the lines are
//! those `tracing-subscriber` writes. Lines go to the log's writer thread
//! (set up in `telemetry.rs`): a request never waits for stdout.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::config::LogFormat;
use crate::log_writer::LogWriter;
use crate::semconv::MethodLabel;

/// Where access log lines go, and in which format.
#[derive(Debug, Clone)]
pub struct AccessLogWriter {
    out: LogWriter,
    format: LogFormat,
}

impl AccessLogWriter {
    /// Lines in `format`, written through `out`.
    pub fn new(out: LogWriter, format: LogFormat) -> Self {
        Self { out, format }
    }

    fn write(&self, entry: &Entry<'_>) {
        let line = entry.line(SystemTime::now(), self.format);
        self.out.write_line(line.as_bytes());
    }
}

/// What one line says.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The method label.
    pub method: MethodLabel,
    /// The matched route template, empty when no route matched.
    pub route: &'a str,
    /// The response status.
    pub status: u16,
    /// From the request's arrival to its response.
    pub duration_us: u64,
    /// The server span's trace, when the request is traced.
    pub trace_id: Option<TraceId>,
}

impl Entry<'_> {
    /// The plain version of [`Entry::line`]: the same fields as a
    /// `tracing` event, which the current subscriber formats. The tests
    /// check that both give the same line; `examples/optimisations.rs`
    /// times them.
    pub fn emit_event(&self) {
        tracing::info!(
            target: "service::access",
            method = self.method.as_str(),
            route = self.route,
            status = self.status,
            duration_us = self.duration_us,
            trace_id = self.trace_id.map(tracing::field::display),
            "request finished"
        );
    }

    /// The line, newline included, stamped with `now`. The fields are
    /// appended piece by piece: one `write!` of the whole line spends most
    /// of its time in the formatting machinery.
    pub fn line(&self, now: SystemTime, format: LogFormat) -> String {
        let time = humantime::format_rfc3339_micros(now);
        let mut line = String::with_capacity(192);
        match format {
            LogFormat::Text => self.text(&mut line, time),
            LogFormat::Json => self.json(&mut line, time),
        }
        line.push('\n');
        line
    }

    fn text(&self, line: &mut String, time: impl std::fmt::Display) {
        push_display(line, time);
        line.push_str("  INFO service::access: request finished method=");
        push_quoted(line, self.method.as_str(), LogFormat::Text);
        line.push_str(" route=");
        push_quoted(line, self.route, LogFormat::Text);
        line.push_str(" status=");
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(" duration_us=");
        line.push_str(itoa::Buffer::new().format(self.duration_us));
        if let Some(trace_id) = self.trace_id {
            line.push_str(" trace_id=");
            push_hex(line, trace_id);
        }
    }

    fn json(&self, line: &mut String, time: impl std::fmt::Display) {
        line.push_str(r#"{"timestamp":""#);
        push_display(line, time);
        line.push_str(r#"","level":"INFO","fields":{"message":"request finished","method":"#);
        push_quoted(line, self.method.as_str(), LogFormat::Json);
        line.push_str(r#","route":"#);
        push_quoted(line, self.route, LogFormat::Json);
        line.push_str(r#","status":"#);
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(r#","duration_us":"#);
        line.push_str(itoa::Buffer::new().format(self.duration_us));
        if let Some(trace_id) = self.trace_id {
            line.push_str(r#","trace_id":""#);
            push_hex(line, trace_id);
            line.push('"');
        }
        line.push_str(r#"},"target":"service::access"}"#);
    }
}

fn push_display(line: &mut String, value: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(line, "{value}");
}

/// Appends `text` quoted the way `format` quotes a string field: `{:?}`
/// for text, a JSON string for JSON. Neither escapes printable ASCII other
/// than `"` and `\`, which is all a method label or a route template
/// usually holds, so such text is copied as it is.
fn push_quoted(line: &mut String, text: &str, format: LogFormat) {
    let plain = text
        .bytes()
        .all(|byte| matches!(byte, b' '..=b'~') && !matches!(byte, b'"' | b'\\'));
    if plain {
        line.push('"');
        line.push_str(text);
        line.push('"');
        return;
    }
    match format {
        LogFormat::Text => push_display(line, format_args!("{text:?}")),
        LogFormat::Json => line.push_str(&serde_json::to_string(text).unwrap_or_default()),
    }
}

/// Appends the trace id as 32 lowercase hex digits, as its `Display` does.
fn push_hex(line: &mut String, trace_id: TraceId) {
    let mut hex = [0; 32];
    super::traceparent::hex_into(&mut hex, &trace_id.to_bytes());
    line.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

/// Logs every request once it is answered.
#[derive(Debug, Clone)]
pub struct AccessLogLayer {
    writer: AccessLogWriter,
}

impl AccessLogLayer {
    /// Writes through `writer`.
    pub fn new(writer: AccessLogWriter) -> Self {
        Self { writer }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            writer: self.writer.clone(),
        }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
    writer: AccessLogWriter,
}

impl<S, B, RB> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<RB>, Error = Infallible>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        AccessLogFuture {
            start: Instant::now(),
            method: MethodLabel::of(request.method()),
            route: request.extensions().get::<MatchedPath>().cloned(),
            writer: self.writer.clone(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The future of [`AccessLog`].
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: MethodLabel,
        route: Option<MatchedPath>,
        writer: AccessLogWriter,
    }
}

impl<F, RB> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<RB>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        this.writer.write(&Entry {
            method: *this.method,
            route: this.route.as_ref().map_or("", MatchedPath::as_str),
            status: response.status().as_u16(),
            duration_us: u64::try_from(this.start.elapsed().as_micros()).unwrap_or(u64::MAX),
            trace_id: current_trace_id(),
        });
        Poll::Ready(Ok(response))
    }
}

/// The trace id of the current OpenTelemetry context (the server span's,
/// when [`super::trace`] runs outside this layer), if there is one.
fn current_trace_id() -> Option<TraceId> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.trace_id())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    const NOW: Duration = Duration::from_micros(1_764_545_000_123_456);

    struct FixedTime;

    impl FormatTime for FixedTime {
        fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
            write!(w, "{}", humantime::format_rfc3339_micros(UNIX_EPOCH + NOW))
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The plain version: the line `tracing-subscriber` writes for
    /// `tracing::info!` with the same fields.
    fn plain(entry: &Entry<'_>, format: LogFormat) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_timer(FixedTime)
            .with_writer(move || out.clone());
        let layer: Box<dyn tracing_subscriber::Layer<_> + Send + Sync> = match format {
            LogFormat::Text => Box::new(layer),
            LogFormat::Json => Box::new(layer.json().with_current_span(true).with_span_list(false)),
        };
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || entry.emit_event());
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn the_lines_are_those_tracing_subscriber_writes() {
        let traced = Entry {
            method: MethodLabel::Get,
            route: "/api/items/{id}",
            status: 200,
            duration_us: 132,
            trace_id: Some(TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)),
        };
        let untraced = Entry {
            method: MethodLabel::Other,
            route: "",
            status: 404,
            duration_us: 7,
            trace_id: None,
        };
        // Routes outside the plain set take the formatter's path.
        let odd = [
            "/it's",
            "/\"quoted\"",
            "/back\\slash",
            "/tab\there",
            "/caf\u{e9}",
            "/\u{7f}",
        ];
        let odd = odd.map(|route| Entry {
            method: MethodLabel::Post,
            route,
            status: 201,
            duration_us: u64::MAX,
            trace_id: Some(TraceId::from(1)),
        });
        for entry in [traced, untraced].into_iter().chain(odd) {
            for format in [LogFormat::Text, LogFormat::Json] {
                assert_eq!(entry.line(UNIX_EPOCH + NOW, format), plain(&entry, format));
            }
        }
    }
}
