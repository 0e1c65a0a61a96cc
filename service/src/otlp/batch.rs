//! The spans of one export request, each already encoded, grouped by
//! instrumentation scope as the request nests them.

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

use super::encode;

/// Encoded spans grouped by instrumentation scope.
#[derive(Debug, Default)]
pub struct Batch {
    scopes: Vec<(InstrumentationScope, Vec<u8>)>,
    spans: usize,
    bytes: usize,
}

impl Batch {
    /// Adds a span of `scope` written by [`encode::span`].
    pub fn push(&mut self, scope: &InstrumentationScope, span: &[u8]) {
        match self.scopes.iter_mut().find(|(known, _)| known == scope) {
            Some((_, spans)) => spans.extend_from_slice(span),
            None => self.scopes.push((scope.clone(), span.to_vec())),
        }
        self.spans += 1;
        self.bytes += span.len();
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.spans
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// The size of its encoded spans.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The batch as an `ExportTraceServiceRequest` from a service
    /// described by `resource`.
    pub fn request(&self, resource: &Resource) -> Vec<u8> {
        encode::request(resource, &self.scopes)
    }
}
