//! Timestamp identifiers (<https://atproto.com/specs/tid>).

use std::sync::LazyLock;

use regex::Regex;

static TID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$").expect("static regex is valid")
});

/// The base32-sortable alphabet: digit values in ascending ASCII order, so string order
/// equals numeric order.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// Timestamp bits: microseconds since the Unix epoch fit in 53 bits until year ~2255.
const TIMESTAMP_MASK: u64 = (1 << 53) - 1;

/// Clock-identifier bits.
const CLOCK_ID_MASK: u64 = (1 << 10) - 1;

/// A TID such as `3jzfcijpj2z2a`: a 64-bit value (53-bit microsecond timestamp, 10-bit
/// clock id, top bit zero) written as 13 base32-sortable characters. Used for record keys
/// and repository revisions; sorts chronologically as a string.
///
/// Syntax: 13 characters of `[234567a-z]`, the first in `[234567abcdefghij]` (top bit
/// zero).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(String);

string_newtype!(Tid, "TID", validate);

impl Tid {
    /// Encodes a TID from a Unix timestamp in microseconds and a clock identifier.
    ///
    /// Only the low 53 bits of `timestamp_us` and the low 10 bits of `clock_id` are used
    /// (the TID layout has no room for more); real timestamps and the spec's clock ids
    /// (0–1023) are unaffected.
    pub fn from_micros(timestamp_us: u64, clock_id: u16) -> Tid {
        let value = ((timestamp_us & TIMESTAMP_MASK) << 10) | (u64::from(clock_id) & CLOCK_ID_MASK);
        let tid = (0..13)
            .map(|i| {
                let digit = (value >> (5 * (12 - i))) & 31;
                char::from(ALPHABET[digit as usize])
            })
            .collect();
        Tid(tid)
    }

    /// The timestamp part: microseconds since the Unix epoch.
    pub fn timestamp_micros(&self) -> u64 {
        self.value() >> 10
    }

    /// The clock identifier part (0–1023).
    pub fn clock_id(&self) -> u16 {
        (self.value() & CLOCK_ID_MASK) as u16
    }

    /// The decoded 64-bit value; 13 digits of 5 bits with a first digit below 16 fit.
    fn value(&self) -> u64 {
        self.0.bytes().fold(0, |acc, b| {
            let digit = match b {
                b'2'..=b'7' => b - b'2',
                _ => b - b'a' + 6,
            };
            (acc << 5) | u64::from(digit)
        })
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() != 13 {
        return Err("must be exactly 13 characters");
    }
    if !TID.is_match(s) {
        return Err("must be base32-sortable [234567a-z] with a first character in [234567a-j]");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_micros_round_trips() {
        let tid = Tid::from_micros(1_700_000_000_123_456, 42);
        assert_eq!(tid.as_str().len(), 13);
        assert!(Tid::new(tid.as_str()).is_ok(), "{tid}");
        assert_eq!(tid.timestamp_micros(), 1_700_000_000_123_456);
        assert_eq!(tid.clock_id(), 42);
    }

    #[test]
    fn known_values() {
        assert_eq!(Tid::from_micros(0, 0).as_str(), "2222222222222");
        let max = Tid::from_micros(TIMESTAMP_MASK, 1023);
        assert_eq!(max.as_str(), "bzzzzzzzzzzzz");
        assert_eq!(max.timestamp_micros(), TIMESTAMP_MASK);
        // Out-of-range inputs are masked, not rejected.
        assert_eq!(Tid::from_micros(u64::MAX, u16::MAX), max);
        let parsed = Tid::new("3jzfcijpj2z2a").expect("valid");
        assert_eq!(Tid::from_micros(parsed.timestamp_micros(), parsed.clock_id()), parsed);
    }

    #[test]
    fn sorts_chronologically() {
        let earlier = Tid::from_micros(1_000_000, 1023);
        let later = Tid::from_micros(1_000_001, 0);
        assert!(earlier < later);
    }

    #[test]
    fn serde_round_trip() {
        let tid = Tid::new("3jzfcijpj2z2a").expect("valid");
        let json = serde_json::to_string(&tid).expect("serializes");
        assert_eq!(serde_json::from_str::<Tid>(&json).expect("deserializes"), tid);
        assert!(serde_json::from_str::<Tid>(r#""kjzfcijpj2z2a""#).is_err());
    }
}
