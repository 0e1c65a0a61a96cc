//! The OTLP/gRPC span exporter: [`encode`] writes each batch as protobuf
//! bytes, [`exporter`] sends them to the collector.

pub mod encode;
pub mod exporter;

pub use exporter::GrpcSpanExporter;
