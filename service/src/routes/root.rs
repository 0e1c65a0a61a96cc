//! `GET /`: a greeting that says where to look next.

/// Answers a short plain-text greeting.
pub async fn greet() -> &'static str {
    "Hello from service. Try /api/items, /api/work?ms=100, /api/cpu?ms=100 or /metrics.\n"
}
