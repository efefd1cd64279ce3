//! Text forms of the domain's values: the one [`ParseError`] every `FromStr` in this crate
//! returns, and the `domain_enum!` macro that gives each enum its single spelling.
//!
//! Invariant: an enum's spelling is the same everywhere — in Postgres (its enum label),
//! in JSON (serde), in `Display` and in `FromStr`. The macro writes all four from one list,
//! so they cannot drift; the integration tests compare the list with `pg_enum`.

/// A string that is not one of a domain type's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected one of {}", .allowed.join(", "))]
pub struct ParseError {
    /// What was being parsed, e.g. `"severity"`.
    pub kind: &'static str,
    /// The rejected input, as given.
    pub value: String,
    /// The accepted spellings.
    pub allowed: &'static [&'static str],
}

impl ParseError {
    /// A rejection of `value` as a `kind`, which accepts `allowed`.
    pub fn new(kind: &'static str, value: &str, allowed: &'static [&'static str]) -> Self {
        Self {
            kind,
            value: value.to_owned(),
            allowed,
        }
    }
}

/// Declares a fieldless domain enum with one spelling per variant, and derives from it:
/// `Copy, Clone, Debug, PartialEq, Eq, Hash`, serde, `utoipa::ToSchema` (for the OpenAPI document), `ALL`, `as_str`, `Display` and a
/// case-insensitive `FromStr`. With `postgres = "type_name"` it also derives `sqlx::Type`
/// mapped to that Postgres enum.
///
/// Spellings are passed as `tt` (not `literal`) so the derive macros see plain string
/// literals in `rename = ...`.
macro_rules! domain_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident (kind = $kind:tt, postgres = $pg:tt) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Copy, Clone, Debug, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[sqlx(type_name = $pg)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sqlx(rename = $text)]
                #[serde(rename = $text)]
                $variant,
            )+
        }

        $crate::parse::domain_enum!(@impls $name, $kind, $( $variant = $text ),+);
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident (kind = $kind:tt) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Copy, Clone, Debug, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                $variant,
            )+
        }

        $crate::parse::domain_enum!(@impls $name, $kind, $( $variant = $text ),+);
    };
    (@impls $name:ident, $kind:tt, $( $variant:ident = $text:tt ),+) => {
        impl $name {
            /// Every variant, in declaration order (the Postgres enum's order, if any).
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Every spelling, in the order of [`Self::ALL`].
            pub const SPELLINGS: &'static [&'static str] = &[$($text),+];

            /// The one spelling of this value: in Postgres, JSON, `Display` and `FromStr`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::parse::ParseError;

            /// Parses a spelling, ignoring ASCII case (`sev1` is `SEV1`).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| $crate::parse::ParseError::new($kind, s, Self::SPELLINGS))
            }
        }
    };
}

pub(crate) use domain_enum;
