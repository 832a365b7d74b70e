//! DID-or-handle identifiers (the lexicon `at-identifier` format).

use super::{Did, Handle, SyntaxError};

/// What [`SyntaxError`] calls this type.
const KIND: &str = "AT identifier";

/// Either a [`Did`] or a [`Handle`], as accepted by XRPC parameters such as `actor` and
/// as the authority of an AT-URI.
///
/// Strings starting with `did:` are parsed as DIDs, everything else as handles (no
/// handle can contain `:`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AtIdentifier {
    /// A DID.
    Did(Did),
    /// A handle, kept as written (not lowercased).
    Handle(Handle),
}

impl AtIdentifier {
    /// Parses `s` as a DID if it starts with `did:`, otherwise as a handle.
    ///
    /// # Errors
    ///
    /// [`SyntaxError::Invalid`] of kind `"AT identifier"` with the DID or handle rule
    /// that failed.
    pub fn new(s: impl Into<String>) -> Result<Self, SyntaxError> {
        let s = s.into();
        let result = if s.starts_with("did:") { Did::new(s).map(Self::Did) } else { Handle::new(s).map(Self::Handle) };
        result.map_err(|err| SyntaxError::invalid(KIND, err.input(), err.reason()))
    }

    /// The identifier as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Did(did) => did.as_str(),
            Self::Handle(handle) => handle.as_str(),
        }
    }

    /// Gives back the owned string.
    pub fn into_inner(self) -> String {
        match self {
            Self::Did(did) => did.into_inner(),
            Self::Handle(handle) => handle.into_inner(),
        }
    }

    /// The DID, if this is one.
    pub fn as_did(&self) -> Option<&Did> {
        match self {
            Self::Did(did) => Some(did),
            Self::Handle(_) => None,
        }
    }

    /// The handle, if this is one.
    pub fn as_handle(&self) -> Option<&Handle> {
        match self {
            Self::Did(_) => None,
            Self::Handle(handle) => Some(handle),
        }
    }
}

impl From<Did> for AtIdentifier {
    fn from(did: Did) -> Self {
        Self::Did(did)
    }
}

impl From<Handle> for AtIdentifier {
    fn from(handle: Handle) -> Self {
        Self::Handle(handle)
    }
}

string_traits!(AtIdentifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_variant() {
        let did: AtIdentifier = "did:plc:abc".parse().expect("valid");
        assert_eq!(did.as_did().map(Did::as_str), Some("did:plc:abc"));
        assert!(did.as_handle().is_none());
        let handle: AtIdentifier = "Alice.test".parse().expect("valid");
        assert_eq!(handle.as_handle().map(Handle::as_str), Some("Alice.test"));
        assert_eq!(handle.to_string(), "Alice.test");
    }

    #[test]
    fn errors_explain_the_failed_rule() {
        let err = AtIdentifier::new("did:method:").expect_err("invalid");
        assert_eq!(err.kind(), "AT identifier");
        assert_eq!(err.reason(), "empty identifier");
        let err = AtIdentifier::new("@handle").expect_err("invalid");
        assert!(err.to_string().starts_with("invalid AT identifier: \"@handle\""), "{err}");
    }

    #[test]
    fn serde_round_trip() {
        for s in ["did:web:example.com", "john.test"] {
            let id = AtIdentifier::new(s).expect("valid");
            let json = serde_json::to_string(&id).expect("serializes");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<AtIdentifier>(&json).expect("deserializes"), id);
        }
        assert!(serde_json::from_str::<AtIdentifier>(r#""blah""#).is_err());
    }
}
