//! Query parameters read as a list of pairs rather than into a struct, so
//! that a repeated parameter gets its own message instead of serde's, and
//! each bad value is named.

use crate::error::ApiError;

/// The value of `key` among `pairs`, if given once; a second one is a 400
/// that shows `example`, a good query.
pub fn single<'a>(
    pairs: &'a [(String, String)],
    key: &str,
    example: &str,
) -> Result<Option<&'a str>, ApiError> {
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
        .collect();
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(ApiError::BadRequest(format!(
            "{key} is given {} times: expected a single {key} value, e.g. {example}",
            many.len()
        ))),
    }
}
