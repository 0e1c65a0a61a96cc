//! Test-only helpers shared by the integration tests of the workspace.
//!
//! [`OtlpReceiver`] is a real OTLP/gRPC trace receiver (the Collector's
//! protocol, built from `opentelemetry-proto`) on a free port: the service's
//! tests point the service at it, and the stack's end-to-end test puts it
//! where Tempo would be, behind the real Collector.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::oneshot;

/// A real OTLP/gRPC trace receiver (the collector's protocol, built from
/// `opentelemetry-proto`) on `127.0.0.1:<free port>`.
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    stop: Option<oneshot::Sender<()>>,
}

struct Collect {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    delay: Duration,
    /// Spans of each request answered as rejected (OTLP partial success).
    reject: i64,
}

/// The message a rejecting receiver sends with its partial success.
pub const REJECTION_MESSAGE: &str = "test receiver: span rejected";

#[tonic::async_trait]
impl TraceService for Collect {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        // A slow collector: answer late.
        tokio::time::sleep(self.delay).await;
        let request = request.into_inner();
        let spans: usize = request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        let rejected = self.reject.min(i64::try_from(spans).unwrap_or(i64::MAX));
        self.requests.lock().expect("receiver lock").push(request);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: REJECTION_MESSAGE.to_owned(),
            }),
        }))
    }
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// A receiver that takes `delay` to answer each export.
    pub async fn start_with_delay(delay: Duration) -> Self {
        Self::serve(Collect {
            requests: Arc::default(),
            delay,
            reject: 0,
        })
        .await
    }

    /// A receiver that keeps every request but answers that it rejected
    /// `spans` of each (at most all of them), with [`REJECTION_MESSAGE`].
    pub async fn start_rejecting(spans: i64) -> Self {
        Self::serve(Collect {
            requests: Arc::default(),
            delay: Duration::ZERO,
            reject: spans,
        })
        .await
    }

    async fn serve(collect: Collect) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let requests = Arc::clone(&collect.requests);
        let service = TraceServiceServer::new(collect)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async move {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        Self {
            addr,
            requests,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`, as an OTLP exporter's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far with its resource attributes.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let requests = self.requests.lock().expect("receiver lock");
        let mut spans = Vec::new();
        for request in requests.iter() {
            for resource_spans in &request.resource_spans {
                let resource = resource_spans
                    .resource
                    .as_ref()
                    .map(|resource| attributes(&resource.attributes))
                    .unwrap_or_default();
                for scope_spans in &resource_spans.scope_spans {
                    for span in &scope_spans.spans {
                        spans.push(ReceivedSpan {
                            name: span.name.clone(),
                            kind: span.kind,
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            attributes: attributes(&span.attributes),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        spans
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
}

/// Lower-case hex, as trace ids are written in `traceparent`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attributes(
    list: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> BTreeMap<String, String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}
