//! Validated AT Protocol string types (DIDs, handles, NSIDs, AT-URIs, TIDs, ...).
//!
//! Each type is a newtype over the exact input string: construction validates the
//! syntax from the atproto specs (<https://atproto.com/specs>) and never normalizes, so
//! values round-trip byte for byte through serde. The rules are checked against the
//! official interop vectors in `testdata/atproto-interop/syntax/`.
//!
//! Only syntax is checked: a valid [`Did`] may not resolve, a valid [`Handle`] may not
//! point anywhere.

/// Implements the string conversions shared by every syntax type: `FromStr`,
/// `TryFrom<String>`, `TryFrom<&str>`, `Display`, `AsRef<str>`, `From<T> for String` and
/// string-shaped serde. The type must have `new(impl Into<String>)`, `as_str()` and
/// `into_inner()`.
macro_rules! string_traits {
    ($ty:ident) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::syntax::SyntaxError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::syntax::SyntaxError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::syntax::SyntaxError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.into_inner()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::new(s).map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

/// Declares the inherent `new`/`as_str`/`into_inner` of a plain `struct T(String)`
/// validated by `fn validate(&str) -> Result<(), &'static str>`, plus `string_traits!`.
macro_rules! string_newtype {
    ($ty:ident, $kind:literal, $validate:path) => {
        impl $ty {
            #[doc = concat!("Validates `s` as ", $kind, " syntax and wraps it unchanged.")]
            ///
            /// # Errors
            ///
            /// [`SyntaxError::Invalid`](crate::syntax::SyntaxError::Invalid) saying why the
            /// input was rejected.
            pub fn new(s: impl Into<String>) -> Result<Self, $crate::syntax::SyntaxError> {
                let s = s.into();
                match $validate(&s) {
                    Ok(()) => Ok(Self(s)),
                    Err(reason) => Err($crate::syntax::SyntaxError::invalid($kind, &s, reason)),
                }
            }

            /// The string exactly as it was given.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives back the owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        string_traits!($ty);
    };
}

mod at_identifier;
mod at_uri;
mod cid;
mod datetime;
mod did;
mod error;
mod handle;
mod language;
mod nsid;
mod record_key;
mod strong_ref;
mod tid;
mod uri;

pub use at_identifier::AtIdentifier;
pub use at_uri::AtUri;
pub use cid::Cid;
pub use datetime::{Datetime, format_datetime, parse_datetime_lenient};
pub use did::Did;
pub use error::SyntaxError;
pub use handle::Handle;
pub use language::Language;
pub use nsid::Nsid;
pub use record_key::RecordKey;
pub use strong_ref::StrongRef;
pub use tid::Tid;
pub use uri::Uri;
