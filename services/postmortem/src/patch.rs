//! PATCH bodies: telling a field that is absent (leave it) from one that is `null` (clear
//! it). A field declared `Option<Option<T>>` with
//! `#[serde(default, deserialize_with = "crate::patch::nullable")]` is `None` when absent,
//! `Some(None)` when null and `Some(Some(value))` when given.

use serde::{Deserialize, Deserializer};

/// Deserialises a present field (null or a value) as `Some(...)`.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
