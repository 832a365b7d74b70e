//! Decentralized identifiers (<https://atproto.com/specs/did>).

/// Longest DID the spec allows (2 KB).
const MAX_LEN: usize = 2048;

/// A DID such as `did:plc:7iza6de2dwap2sbkpav7c6c6`: the permanent identifier of an
/// account.
///
/// Syntax only: `did:`, a lowercase method, `:`, then an identifier of
/// `[a-zA-Z0-9._:%-]` that does not end in `:` or `%`; at most 2048 characters. Any
/// method passes, although atproto accounts only use `plc` and `web`. DIDs are
/// case-sensitive and never normalized.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did(String);

string_newtype!(Did, "DID", validate);

impl Did {
    /// The method, e.g. `plc` in `did:plc:...`.
    pub fn method(&self) -> &str {
        self.parts().0
    }

    /// The method-specific identifier: everything after `did:{method}:`.
    pub fn identifier(&self) -> &str {
        self.parts().1
    }

    /// Whether this is a `did:plc` (resolved through the PLC directory).
    pub fn is_plc(&self) -> bool {
        self.method() == "plc"
    }

    /// Whether this is a `did:web` (resolved through the domain's `/.well-known/did.json`).
    pub fn is_web(&self) -> bool {
        self.method() == "web"
    }

    fn parts(&self) -> (&str, &str) {
        self.0.strip_prefix("did:").and_then(|rest| rest.split_once(':')).unwrap_or_default()
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 2048 characters");
    }
    let Some(rest) = s.strip_prefix("did:") else {
        return Err("must start with \"did:\"");
    };
    let Some((method, identifier)) = rest.split_once(':') else {
        return Err("missing \":\" between method and identifier");
    };
    if method.is_empty() {
        return Err("empty method");
    }
    if !method.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("method must be lowercase ASCII letters");
    }
    if identifier.is_empty() {
        return Err("empty identifier");
    }
    if !identifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-')) {
        return Err("identifier may only contain [a-zA-Z0-9._:%-]");
    }
    if identifier.ends_with([':', '%']) {
        return Err("identifier must not end in \":\" or \"%\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let did = Did::new("did:plc:7iza6de2dwap2sbkpav7c6c6").expect("valid");
        assert_eq!(did.method(), "plc");
        assert_eq!(did.identifier(), "7iza6de2dwap2sbkpav7c6c6");
        assert!(did.is_plc());
        assert!(!did.is_web());
        let web = Did::new("did:web:localhost%3A1234").expect("valid");
        assert!(web.is_web());
        assert_eq!(web.identifier(), "localhost%3A1234");
        let colons = Did::new("did:m:a:b").expect("valid");
        assert_eq!(colons.identifier(), "a:b");
    }

    #[test]
    fn serde_round_trip_and_error_message() {
        let did = Did::new("did:web:example.com").expect("valid");
        let json = serde_json::to_string(&did).expect("serializes");
        assert_eq!(json, r#""did:web:example.com""#);
        assert_eq!(serde_json::from_str::<Did>(&json).expect("deserializes"), did);
        let err = serde_json::from_str::<Did>(r#""did:PLC:x""#).expect_err("invalid");
        assert!(err.to_string().contains("invalid DID"), "{err}");
        assert!(err.to_string().contains("lowercase"), "{err}");
    }

    #[test]
    fn conversions() {
        let did: Did = "did:plc:abc".parse().expect("valid");
        assert_eq!(did.to_string(), "did:plc:abc");
        assert_eq!(Did::try_from("did:plc:abc".to_owned()).expect("valid"), did);
        assert_eq!(Did::try_from("did:plc:abc").expect("valid").as_ref(), "did:plc:abc");
        assert_eq!(String::from(did), "did:plc:abc");
        assert!("did:plc:".parse::<Did>().is_err());
    }
}
