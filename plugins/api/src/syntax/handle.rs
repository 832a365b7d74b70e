//! Handles (<https://atproto.com/specs/handle>).

/// Longest handle the spec allows (the DNS name limit).
const MAX_LEN: usize = 253;

/// Longest label (DNS limit).
const MAX_LABEL_LEN: usize = 63;

/// Top-level domains that are syntactically fine but never resolvable as a handle; the
/// spec says they must not be registered.
const DISALLOWED_TLDS: [&str; 8] = ["alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"];

/// A handle such as `alice.bsky.social`: a DNS hostname naming an account.
///
/// Syntax: at most 253 characters, at least two `.`-separated labels of 1–63
/// `[a-zA-Z0-9-]` not starting or ending with `-`, and a last label (TLD) not starting
/// with a digit. The input is kept as given; handles are case-insensitive, so compare
/// [`Handle::normalized`] forms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

string_newtype!(Handle, "handle", validate);

impl Handle {
    /// The lowercase form, which is how handles should be stored and compared.
    pub fn normalized(&self) -> Handle {
        Handle(self.0.to_ascii_lowercase())
    }

    /// Same as [`Handle::normalized`].
    pub fn to_lowercase(&self) -> Handle {
        self.normalized()
    }

    /// Whether the TLD is one the spec disallows for registration (`.alt`, `.arpa`,
    /// `.example`, `.internal`, `.invalid`, `.local`, `.localhost`, `.onion`).
    ///
    /// Such handles still pass [`Handle::new`]: they are valid syntax, but a server
    /// should not accept them as an account's handle.
    pub fn is_disallowed_tld(&self) -> bool {
        let tld = self.0.rsplit('.').next().unwrap_or_default();
        DISALLOWED_TLDS.iter().any(|d| tld.eq_ignore_ascii_case(d))
    }
}

/// Checks one DNS label of a handle or NSID domain: 1–63 `[a-zA-Z0-9-]`, no leading or
/// trailing hyphen.
pub(super) fn validate_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("empty label (leading, trailing or double \".\")");
    }
    if label.len() > MAX_LABEL_LEN {
        return Err("label longer than 63 characters");
    }
    if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("labels may only contain [a-zA-Z0-9-]");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("labels must not start or end with \"-\"");
    }
    Ok(())
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 253 characters");
    }
    let mut labels = 0;
    for label in s.split('.') {
        validate_label(label)?;
        labels += 1;
    }
    if labels < 2 {
        return Err("needs at least two labels");
    }
    if s.rsplit('.').next().is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_digit())) {
        return Err("top-level domain must not start with a digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_case_and_normalizes_on_request() {
        let handle = Handle::new("Alice.Bsky.Social").expect("valid");
        assert_eq!(handle.as_str(), "Alice.Bsky.Social");
        assert_eq!(handle.normalized().as_str(), "alice.bsky.social");
        assert_eq!(handle.to_lowercase(), handle.normalized());
    }

    #[test]
    fn disallowed_tlds() {
        for h in ["laptop.local", "x.ONION", "a.example", "b.test.invalid", "c.arpa"] {
            assert!(Handle::new(h).expect("valid syntax").is_disallowed_tld(), "{h}");
        }
        for h in ["alice.bsky.social", "john.test", "onion.com"] {
            assert!(!Handle::new(h).expect("valid syntax").is_disallowed_tld(), "{h}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let handle = Handle::new("john.test").expect("valid");
        let json = serde_json::to_string(&handle).expect("serializes");
        assert_eq!(serde_json::from_str::<Handle>(&json).expect("deserializes"), handle);
        let err = serde_json::from_str::<Handle>(r#""john.0""#).expect_err("invalid");
        assert!(err.to_string().contains("top-level domain"), "{err}");
    }
}
