//! Filter building blocks in Orion's shape: `{"name": {"any_": [...]}}`, `{"tags": {"all_": [...]}}`.

use serde::{Deserialize, Deserializer, Serialize};

use crate::validation::FieldError;

/// Most rows a list endpoint returns in one page.
pub const MAX_LIMIT: u32 = 200;

pub fn default_limit() -> u32 {
    MAX_LIMIT
}

/// Checks a page's `limit`: 1..=200.
pub fn validate_limit(limit: u32) -> Result<(), FieldError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(())
}

/// Matches when the value is one of `any_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnyFilter<T> {
    pub any_: Vec<T>,
}

impl<T> AnyFilter<T> {
    pub fn new(values: impl IntoIterator<Item = T>) -> Self {
        Self {
            any_: values.into_iter().collect(),
        }
    }
}

/// Matches when the object's tags include every one of `all_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllFilter {
    pub all_: Vec<String>,
}

/// Matches when the value equals `eq_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EqFilter<T> {
    pub eq_: T,
}

/// For PATCH bodies: tells "field absent" (outer `None`, with `#[serde(default)]`) from "field
/// is null" (`Some(None)`).
pub fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
