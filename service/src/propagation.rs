//! W3C trace-context glue between `http` headers and OpenTelemetry.
//!
//! The propagator reads `traceparent`/`tracestate` through [`HeaderExtractor`];
//! a malformed header yields an empty context, so the request simply starts a
//! new trace instead of failing.

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::SpanContext;

/// Read-only view of request headers for [`opentelemetry::propagation`].
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// The W3C `traceparent` value naming `context`: version `00`, trace id,
/// span id, flags. Sent back to clients so they can look the trace up.
/// Written on the stack: on every traced response, `format!` (an
/// allocation and the formatting machinery for a 128-bit hex number) was a
/// visible share of the request's cost.
pub fn traceparent_bytes(context: &SpanContext) -> [u8; TRACEPARENT_LEN] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex_into(&mut out[3..35], &context.trace_id().to_bytes());
    hex_into(&mut out[36..52], &context.span_id().to_bytes());
    hex_into(&mut out[53..55], &[context.trace_flags().to_u8()]);
    out
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn formats_traceparent() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
            SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        assert_eq!(
            &traceparent_bytes(&context),
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn malformed_traceparent_gives_no_parent() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-not-a-trace-id-01"),
        );
        let context = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        assert!(!context.span().span_context().is_valid());
    }
}
