//! The W3C trace-context headers: read from the request with a bounded
//! `tracestate` ([`extract`]), written into the response by hand
//! ([`inject`]).
//!
//! Writing, the plain way is `TraceContextPropagator::inject_context` with
//! `opentelemetry_http::HeaderInjector`: it formats the ids with `format!`,
//! parses the header names and copies the values, and adds an empty
//! `tracestate` to every response: about 4 k instructions per response, as
//! much as starting the server span. Here the 55 bytes are written with a
//! hex table into a stack buffer. On one thread that saves only about
//! 0.35 µs, but under the benchmark's load (`bench/ab.sh`, the two builds
//! interleaved) it saved 0.8 to 2.5 µs of CPU per request
//! (docs/performance.md). The test at the bottom checks that the headers
//! are those the propagator writes, less its empty `tracestate`.

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Longest `tracestate` taken from a request. The caller's `tracestate`
/// travels on every span of the request into the export queue and back in
/// the response; uncut, a client could make each span carry up to 16 KiB
/// (the head limit), and the queue of 4096 spans hold 64 MiB. W3C trace
/// context asks a tracer to pass on at least 512 characters and says how to
/// cut a longer one ([`bounded`]).
const MAX_TRACESTATE: usize = 512;

/// The caller's context from `headers`, as the W3C trace-context
/// propagator reads it (the first `tracestate` field, at most 32 entries,
/// none if one is invalid), with its `tracestate` cut to
/// [`MAX_TRACESTATE`].
pub fn extract(headers: &HeaderMap) -> Context {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let cut = {
        let span = cx.span();
        let parent = span.span_context();
        (length(parent.trace_state()) > MAX_TRACESTATE).then(|| {
            SpanContext::new(
                parent.trace_id(),
                parent.span_id(),
                parent.trace_flags(),
                parent.is_remote(),
                bounded(parent.trace_state()),
            )
        })
    };
    match cut {
        Some(parent) => cx.with_remote_span_context(parent),
        None => cx,
    }
}

/// `state` cut to [`MAX_TRACESTATE`] characters the way W3C trace context
/// says: entries longer than 128 characters go first, then entries from the
/// end. The propagator has parsed it into at most 32 valid entries, so
/// this is little work and what is left is valid.
fn bounded(state: &TraceState) -> TraceState {
    let mut entries: Vec<(&str, &str)> = state.into_iter().collect();
    while length(entries.iter().copied()) > MAX_TRACESTATE {
        match entries.iter().rposition(|entry| entry_length(*entry) > 128) {
            Some(long) => entries.remove(long),
            None => entries.pop().unwrap_or_default(),
        };
    }
    TraceState::from_key_value(entries).unwrap_or_default()
}

/// The length of `key=value`.
fn entry_length((key, value): (&str, &str)) -> usize {
    key.len() + 1 + value.len()
}

/// The length of the header that lists `entries` (each with its comma, but
/// the last), counted without building it: the check runs for every request.
fn length<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    entries
        .into_iter()
        .map(|entry| entry_length(entry) + 1)
        .sum::<usize>()
        .saturating_sub(1)
}

/// Names the span of `context` in `headers`, as the W3C trace-context
/// propagator does; nothing for an invalid context.
pub fn inject(context: &SpanContext, headers: &mut HeaderMap) {
    if !context.is_valid() {
        return;
    }
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex_into(&mut value[3..35], &context.trace_id().to_bytes());
    hex_into(&mut value[36..52], &context.span_id().to_bytes());
    hex_into(
        &mut value[53..55],
        &[(context.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    if let Ok(value) = HeaderValue::from_bytes(&value) {
        headers.insert(TRACEPARENT, value);
    }
    let state = context.trace_state().header();
    if !state.is_empty()
        && let Ok(value) = HeaderValue::from_str(&state)
    {
        headers.insert(TRACESTATE, value);
    }
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
pub(super) fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceId};
    use opentelemetry_http::HeaderInjector;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// The `tracestate` of the context read from a request whose header is
    /// `tracestate`.
    fn state_read_from(tracestate: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
        headers.insert(
            TRACESTATE,
            HeaderValue::from_str(tracestate).expect("value"),
        );
        let cx = extract(&headers);
        let plain = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        let (read, plain) = (
            cx.span().span_context().clone(),
            plain.span().span_context().clone(),
        );
        assert_eq!(
            (
                read.trace_id(),
                read.span_id(),
                read.trace_flags(),
                read.is_remote()
            ),
            (
                plain.trace_id(),
                plain.span_id(),
                plain.trace_flags(),
                plain.is_remote()
            ),
        );
        if plain.trace_state().header().len() <= MAX_TRACESTATE {
            assert_eq!(
                read, plain,
                "a short tracestate is read as the propagator reads it"
            );
        }
        read.trace_state().header()
    }

    #[test]
    fn a_long_tracestate_is_cut_as_w3c_trace_context_says() {
        let short = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
        assert_eq!(state_read_from(short), short);

        // 20 entries of 30 characters: 619 in all. The last ones go.
        let entries: Vec<String> = (0..20)
            .map(|n| format!("vendor{n:02}={}", "v".repeat(21)))
            .collect();
        let kept = state_read_from(&entries.join(","));
        assert_eq!(kept, entries[..16].join(","));

        // Entries over 128 characters go before short ones: of these 676
        // characters, the last long entry goes, and the short one after it
        // stays.
        let long = format!("big={}", "x".repeat(200));
        let mixed = [entries[0].as_str(), &long, &long, &long, &entries[1]].join(",");
        assert_eq!(
            state_read_from(&mixed),
            [entries[0].as_str(), &long, &long, &entries[1]].join(",")
        );

        // Spaces, tabs and empty entries do not count.
        let padded = format!(" , {}\t,,{} ", entries[..16].join(" ,\t"), entries[16]);
        assert_eq!(state_read_from(&padded), entries[..16].join(","));

        // The propagator keeps 32 entries before the cut; the rest of a
        // 16 KiB header is never looked at.
        let many = vec!["a=1"; 4000].join(",");
        assert_eq!(state_read_from(&many), vec!["a=1"; 32].join(","));

        // Near the most the head limit lets through: 29 entries of 507
        // characters. The first one alone fits.
        let huge: Vec<String> = (0..29)
            .map(|n| format!("k{n:02}{}={}", "a".repeat(250), "v".repeat(253)))
            .collect();
        assert_eq!(state_read_from(&huge.join(",")), huge[0]);

        // An invalid entry refuses the whole header, long or not.
        assert_eq!(state_read_from(&format!("{mixed},not valid")), "");
    }

    fn plain(context: &SpanContext) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let cx = Context::new().with_remote_span_context(context.clone());
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut headers));
        if headers.get(TRACESTATE).is_some_and(HeaderValue::is_empty) {
            headers.remove(TRACESTATE);
        }
        headers
    }

    #[test]
    fn the_headers_are_those_the_propagator_writes() {
        let state = TraceState::from_key_value([("vendor", "value")]).expect("trace state");
        let contexts = [
            (
                0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                0x00f0_67aa_0ba9_02b7,
                TraceFlags::SAMPLED,
                TraceState::default(),
            ),
            (1, 2, TraceFlags::default(), TraceState::default()),
            (u128::MAX, u64::MAX, TraceFlags::new(0xff), state),
            (0, 2, TraceFlags::SAMPLED, TraceState::default()),
        ];
        for (trace, span, flags, state) in contexts {
            let context = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                flags,
                false,
                state,
            );
            let mut headers = HeaderMap::new();
            inject(&context, &mut headers);
            assert_eq!(headers, plain(&context), "{context:?}");
        }
    }
}
