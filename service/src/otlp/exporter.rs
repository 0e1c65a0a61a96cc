//! Sends span batches to an OTLP/gRPC receiver (`TraceService/Export`).
//!
//! The batch arrives encoded ([`super::encode`]) and the bytes go through
//! tonic's gRPC client as they are, with a codec that copies them into the
//! request. Like `opentelemetry-otlp`, a failed export is retried (up to
//! [`RETRIES`] times, with backoff) when the receiver says it is busy or
//! unreachable, and each attempt is bounded by a timeout. The answer is
//! read for OTLP's partial success: spans the receiver took but rejected.

use std::error::Error as _;
use std::time::Duration;

use bytes::{BufMut as _, Bytes};
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tokio::runtime::Handle;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, TimeoutExpired};
use tonic_types::StatusExt as _;

/// Retries of one batch after the first attempt.
pub const RETRIES: u32 = 3;
/// Delay before the first retry; it doubles for each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay a receiver's `RetryInfo` gets.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Exports spans over OTLP/gRPC to one endpoint.
#[derive(Debug)]
pub struct GrpcSpanExporter {
    channel: Channel,
}

impl GrpcSpanExporter {
    /// An exporter for `endpoint` (`http://HOST:PORT`); each attempt gives up
    /// after `timeout`. It connects on the first export, so it must be made
    /// inside a tokio runtime, which then runs the connection.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(endpoint.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        Ok(Self { channel })
    }

    /// Sends one encoded `ExportTraceServiceRequest`, retrying while the
    /// receiver is busy or unreachable; the error describes the last
    /// failure. A receiver that took the request may still have rejected
    /// some of its spans: that is the [`PartialSuccess`]. Blocks the calling
    /// thread (the span processor's export thread), backoff included; the
    /// connection runs on `runtime`.
    pub fn export(
        &self,
        runtime: &Handle,
        request: Bytes,
    ) -> Result<Option<PartialSuccess>, ExportError> {
        let mut backoff = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            match runtime.block_on(self.send(request.clone())) {
                Ok(answer) => return Ok(PartialSuccess::of(answer)),
                Err(status) if retries < RETRIES && retryable(&status) => {
                    retries += 1;
                    // The receiver's own delay when it gives one.
                    let delay = retry_delay(&status).unwrap_or(backoff);
                    // Not a tokio timer: at exit the runtime may be shutting
                    // down, and polling one then panics.
                    std::thread::sleep(delay);
                    backoff *= 2;
                }
                Err(status) => {
                    return Err(ExportError {
                        kind: kind(code(&status)),
                        message: describe(&status),
                    });
                }
            }
        }
    }

    async fn send(&self, request: Bytes) -> Result<ExportTraceServiceResponse, Status> {
        let mut client = tonic::client::Grpc::new(self.channel.clone());
        client
            .ready()
            .await
            .map_err(|err| Status::unavailable(format!("the OTLP channel is not ready: {err}")))?;
        client
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(EXPORT),
                RawBytes,
            )
            .await
            .map(tonic::Response::into_inner)
    }
}

/// An export the receiver answered with OTLP's `partial_success`: it
/// rejected `rejected_spans` of the batch (0 when it only sends a warning),
/// and says why in `message`. Rejected spans are not retried: the
/// specification says sending them again would not help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialSuccess {
    pub rejected_spans: u64,
    pub message: String,
}

impl PartialSuccess {
    /// `None` for a full success, which is also what an empty
    /// `partial_success` means.
    fn of(answer: ExportTraceServiceResponse) -> Option<Self> {
        let partial = answer.partial_success?;
        let rejected_spans = u64::try_from(partial.rejected_spans).unwrap_or(0);
        (rejected_spans > 0 || !partial.error_message.is_empty()).then_some(Self {
            rejected_spans,
            message: partial.error_message,
        })
    }
}

/// Why a batch was not exported: `kind` is its `error.type` on `/metrics`,
/// `message` what the log says.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    pub kind: &'static str,
    pub message: String,
}

/// A gRPC status as an `error.type` value: the receiver did not answer in
/// time, could not be reached, or anything else (`_OTHER`, the conventions'
/// fallback; the log has the status).
fn kind(code: Code) -> &'static str {
    match code {
        Code::DeadlineExceeded => "timeout",
        Code::Unavailable => "unavailable",
        _ => "_OTHER",
    }
}

/// The status's code, except that tonic reports its own deadline
/// ([`Endpoint::timeout`]) as `Cancelled`, "Timeout expired": that is a
/// deadline exceeded, and retried like one.
fn code(status: &Status) -> Code {
    let timed_out = status.code() == Code::Cancelled
        && status
            .message()
            .starts_with(&TimeoutExpired(()).to_string());
    if timed_out {
        Code::DeadlineExceeded
    } else {
        status.code()
    }
}

/// The codes the OTLP specification calls retryable that a receiver sends
/// when it is busy or unreachable. `ResourceExhausted` only with a
/// `RetryInfo`: without one it means the request can never pass (a message
/// over the receiver's size limit, for one).
fn retryable(status: &Status) -> bool {
    match code(status) {
        Code::Unavailable | Code::Aborted | Code::DeadlineExceeded => true,
        Code::ResourceExhausted => status.get_details_retry_info().is_some(),
        _ => false,
    }
}

/// The wait a receiver asks for in its `RetryInfo`, at most
/// [`MAX_RETRY_DELAY`] (the export thread waits it out, and spans queue
/// meanwhile).
fn retry_delay(status: &Status) -> Option<Duration> {
    let delay = status.get_details_retry_info()?.retry_delay?;
    Some(delay.min(MAX_RETRY_DELAY))
}

/// `Unavailable: tcp connect error: Connection refused (os error 111)`: the
/// status and its chain of causes, each message once (tonic repeats the
/// transport error's message in the status).
fn describe(status: &Status) -> String {
    let head = format!("{:?}: {}", status.code(), status.message());
    cli_values::with_causes(head, status.source())
}

/// A codec that sends messages that are already protobuf bytes and decodes
/// the answer, an `ExportTraceServiceResponse`.
#[derive(Debug, Clone, Copy)]
struct RawBytes;

impl Codec for RawBytes {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawBytes {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, Status> {
        // The receiver said OK: an answer that does not decode only loses
        // the partial success it may carry, not the spans.
        let answer = ExportTraceServiceResponse::decode(src).unwrap_or_else(|err| {
            tracing::debug!(error = %err, "the OTLP receiver's answer does not decode");
            ExportTraceServiceResponse::default()
        });
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_that_never_answers_is_a_timeout() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        // Connections complete in its backlog; nothing ever answers them.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", silent.local_addr().expect("address"));
        let exporter = {
            let _entered = runtime.enter();
            GrpcSpanExporter::new(&endpoint, Duration::from_millis(100)).expect("exporter")
        };
        let error = exporter
            .export(runtime.handle(), Bytes::new())
            .expect_err("no answer");
        assert_eq!(error.kind, "timeout", "{error}");
    }

    #[test]
    fn resource_exhausted_is_retried_only_with_retry_info() {
        let too_large = Status::resource_exhausted("message larger than max");
        assert!(!retryable(&too_large));
        let busy = Status::with_error_details(
            Code::ResourceExhausted,
            "busy",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_millis(300))),
        );
        assert!(retryable(&busy));
        assert_eq!(retry_delay(&busy), Some(Duration::from_millis(300)));
        let slow = Status::with_error_details(
            Code::ResourceExhausted,
            "busy",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_secs(600))),
        );
        assert_eq!(retry_delay(&slow), Some(MAX_RETRY_DELAY));
        assert!(retryable(&Status::unavailable("down")));
    }

    #[test]
    fn a_cause_repeated_in_the_message_is_printed_once() {
        let cause =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let status = Status::from_error(Box::new(cause));
        let text = describe(&status);
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    }
}
