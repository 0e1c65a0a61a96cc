//! The OTLP/gRPC span exporter: [`encode`] writes each span as protobuf
//! bytes, [`batch`] gathers them into a request, [`exporter`] sends it to
//! the collector.

pub mod encode;

pub mod batch;
pub mod exporter;

pub use batch::Batch;
pub use exporter::{ExportError, GrpcSpanExporter};
