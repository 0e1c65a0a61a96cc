//! Sends span batches to an OTLP/gRPC receiver (`TraceService/Export`).
//!
//! The batch arrives encoded ([`super::encode`]) and the bytes go through
//! tonic's gRPC client as they are, with a codec that copies them into the
//! request. Like `opentelemetry-otlp`, a failed export is retried (up to
//! [`RETRIES`] times, with backoff) when the receiver says it is busy or
//! unreachable, and each attempt is bounded by a timeout.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use http::uri::PathAndQuery;
use tokio::runtime::Handle;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, TimeoutExpired};

/// Retries of one batch after the first attempt.
pub const RETRIES: u32 = 3;
/// Delay before the first retry; it doubles for each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

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
    /// failure. Blocks the calling thread (the span processor's export
    /// thread), backoff included; the connection runs on `runtime`.
    pub fn export(&self, runtime: &Handle, request: Bytes) -> Result<(), ExportError> {
        let mut backoff = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            match runtime.block_on(self.send(request.clone())) {
                Ok(()) => return Ok(()),
                Err(status) if retries < RETRIES && retryable(code(&status)) => {
                    retries += 1;
                    // Not a tokio timer: at exit the runtime may be shutting
                    // down, and polling one then panics.
                    std::thread::sleep(backoff);
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

    async fn send(&self, request: Bytes) -> Result<(), Status> {
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
            .map(drop)
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
/// when it is busy or unreachable.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted | Code::DeadlineExceeded
    )
}

/// `Unavailable: tcp connect error: Connection refused (os error 111)`: the
/// status and its chain of causes, each message once (tonic repeats the
/// transport error's message in the status).
fn describe(status: &Status) -> String {
    let head = format!("{:?}: {}", status.code(), status.message());
    cli_values::with_causes(head, status.source())
}

/// A codec for messages that are already protobuf bytes. The answer
/// (`ExportTraceServiceResponse`) is not read.
#[derive(Debug, Clone, Copy)]
struct RawBytes;

impl Codec for RawBytes {
    type Encode = Bytes;
    type Decode = ();
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
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
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
    fn a_cause_repeated_in_the_message_is_printed_once() {
        let cause =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let status = Status::from_error(Box::new(cause));
        let text = describe(&status);
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    }
}
