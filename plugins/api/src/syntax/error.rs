//! The error every syntax type returns.

/// How many characters of a rejected input an error message keeps, so a hostile
/// multi-kilobyte string cannot flood logs.
const MAX_INPUT_CHARS: usize = 200;

/// A string that does not follow the atproto syntax for its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The input is not valid syntax for `kind`.
    #[error("invalid {kind}: {input:?}: {reason}")]
    Invalid {
        /// What was being parsed, e.g. `"DID"` or `"AT-URI"`.
        kind: &'static str,
        /// The rejected input; cut to its first 200 characters when longer.
        input: String,
        /// Which rule the input broke.
        reason: &'static str,
    },
}

impl SyntaxError {
    /// Builds [`SyntaxError::Invalid`], truncating long inputs.
    pub(crate) fn invalid(kind: &'static str, input: &str, reason: &'static str) -> Self {
        let input = match input.char_indices().nth(MAX_INPUT_CHARS) {
            Some((cut, _)) => format!("{}…[{} bytes total]", &input[..cut], input.len()),
            None => input.to_owned(),
        };
        Self::Invalid { kind, input, reason }
    }

    /// What was being parsed, e.g. `"DID"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid { kind, .. } => kind,
        }
    }

    /// Which rule the input broke.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid { reason, .. } => reason,
        }
    }

    /// The rejected input (possibly truncated).
    pub fn input(&self) -> &str {
        match self {
            Self::Invalid { input, .. } => input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_kind_input_and_reason() {
        let err = SyntaxError::invalid("DID", "did:x", "too short");
        assert_eq!(err.to_string(), r#"invalid DID: "did:x": too short"#);
        assert_eq!(err.kind(), "DID");
        assert_eq!(err.reason(), "too short");
        assert_eq!(err.input(), "did:x");
    }

    #[test]
    fn long_inputs_are_truncated() {
        let long = "é".repeat(300);
        let err = SyntaxError::invalid("handle", &long, "too long");
        let expected = format!("{}…[600 bytes total]", "é".repeat(200));
        assert_eq!(err.input(), expected);
        let exact = "a".repeat(200);
        assert_eq!(SyntaxError::invalid("handle", &exact, "x").input(), exact);
    }
}
