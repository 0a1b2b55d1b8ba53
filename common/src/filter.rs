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

/// Most values an `any_` list may hold: each is a bound SQL variable, and SQLite takes at most
/// 32,766 per statement; a caller with more should page by another field.
pub const MAX_ANY: usize = 1000;

/// Most tags an object or an `all_` filter may carry, and the longest tag.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 200;

/// Matches when the value is one of `any_` (at most [`MAX_ANY`] values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
pub struct AnyFilter<T> {
    #[serde(deserialize_with = "at_most_any")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub any_: Vec<T>,
}

fn at_most_any<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let values = Vec::<T>::deserialize(de)?;
    if values.len() > MAX_ANY {
        return Err(serde::de::Error::custom(format!(
            "lists at most {MAX_ANY} values, got {}",
            values.len()
        )));
    }
    Ok(values)
}

fn at_most_tags<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    let tags = Vec::<String>::deserialize(de)?;
    if tags.len() > MAX_TAGS {
        return Err(serde::de::Error::custom(format!(
            "lists at most {MAX_TAGS} tags, got {}",
            tags.len()
        )));
    }
    if let Some(long) = tags.iter().find(|t| t.chars().count() > MAX_TAG_CHARS) {
        return Err(serde::de::Error::custom(format!(
            "a tag is at most {MAX_TAG_CHARS} characters ('{}…' is longer)",
            long.chars().take(20).collect::<String>()
        )));
    }
    Ok(tags)
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
    #[serde(deserialize_with = "at_most_tags")]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
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
