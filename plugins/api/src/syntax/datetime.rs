//! Datetimes (<https://atproto.com/specs/lexicon#datetime>).

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use regex::Regex;

use super::SyntaxError;

/// The spec's RFC 3339 / ISO 8601 intersection: uppercase `T`, whole seconds, optional
/// fraction, and `Z` or a `±hh:mm` offset.
static DATETIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$",
    )
    .expect("static regex is valid")
});

/// Longest datetime string the reference implementations accept.
const MAX_LEN: usize = 64;

/// What [`SyntaxError`] calls this type.
const KIND: &str = "datetime";

/// A lexicon `datetime` such as `1985-04-12T23:20:50.123Z`, kept exactly as written.
///
/// Syntax: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)` with an uppercase `T`, at most 64
/// characters, not the `-00:00` "unknown offset", and it must be a real instant (no
/// month 13, no 25:00, no leap second `:60`) in year 0000 or later once converted to UTC.
///
/// Equality and ordering compare the string, not the instant: `...Z` and `...+00:00` are
/// different values. Use [`Datetime::to_utc`] to compare instants.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Datetime {
    raw: String,
    utc: DateTime<Utc>,
}

impl Datetime {
    /// Validates `s` as an atproto datetime and keeps it unchanged.
    ///
    /// # Errors
    ///
    /// [`SyntaxError::Invalid`] saying why the input was rejected.
    pub fn new(s: impl Into<String>) -> Result<Self, SyntaxError> {
        let raw = s.into();
        match validate(&raw) {
            Ok(utc) => Ok(Self { raw, utc }),
            Err(reason) => Err(SyntaxError::invalid(KIND, &raw, reason)),
        }
    }

    /// The string exactly as it was given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Gives back the owned string.
    pub fn into_inner(self) -> String {
        self.raw
    }

    /// The instant in UTC (fractions below a nanosecond are dropped).
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.utc
    }
}

string_traits!(Datetime);

fn validate(s: &str) -> Result<DateTime<Utc>, &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 64 characters");
    }
    if !DATETIME.is_match(s) {
        return Err("must look like YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±hh:mm");
    }
    if s.ends_with("-00:00") {
        return Err("\"-00:00\" is not allowed; use Z or +00:00 for UTC");
    }
    let parsed = DateTime::parse_from_rfc3339(s).map_err(|_| "not a real date and time")?;
    if parsed.nanosecond() >= 1_000_000_000 {
        return Err("leap seconds (:60) are not allowed");
    }
    let utc = parsed.with_timezone(&Utc);
    if utc.year() < 0 {
        return Err("before year 0000 once converted to UTC");
    }
    Ok(utc)
}

/// Parses any RFC 3339 datetime (any offset, optional fraction) into UTC; `None` if it
/// does not parse.
///
/// Laxer than [`Datetime::new`], for fields such as a record's `createdAt` that clients
/// have historically filled loosely and that are worth keeping rather than dropping.
pub fn parse_datetime_lenient(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|dt| dt.with_timezone(&Utc))
}

/// Formats an instant the way atproto prefers: `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC,
/// millisecond precision, literal `Z`).
///
/// The result is a valid [`Datetime`] for years 0000–9999.
pub fn format_datetime(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn keeps_string_and_converts_to_utc() {
        let dt = Datetime::new("1985-04-12T23:20:50.123-07:00").expect("valid");
        assert_eq!(dt.as_str(), "1985-04-12T23:20:50.123-07:00");
        let expected = Utc.with_ymd_and_hms(1985, 4, 13, 6, 20, 50).single().expect("exists")
            + chrono::Duration::milliseconds(123);
        assert_eq!(dt.to_utc(), expected);
    }

    #[test]
    fn long_fractions_are_accepted() {
        let dt = Datetime::new("1985-04-12T23:20:50.12345678901234567890Z").expect("valid");
        assert_eq!(dt.to_utc().nanosecond(), 123_456_789);
        assert!(Datetime::new("1985-04-12T23:20:50.123456789012345678901Z").is_err());
    }

    #[test]
    fn rejects_semantic_errors() {
        for s in
            ["1985-02-30T00:00:00Z", "1985-04-12T23:59:60Z", "1985-04-12T23:20:50+24:00", "0000-01-01T00:00:00+01:00"]
        {
            assert!(Datetime::new(s).is_err(), "{s}");
        }
        assert!(Datetime::new("0000-01-01T00:00:00-01:00").is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let dt = Datetime::new("2024-01-01T00:00:00+00:00").expect("valid");
        let json = serde_json::to_string(&dt).expect("serializes");
        assert_eq!(json, r#""2024-01-01T00:00:00+00:00""#);
        assert_eq!(serde_json::from_str::<Datetime>(&json).expect("deserializes"), dt);
        let err = serde_json::from_str::<Datetime>(r#""2024-01-01""#).expect_err("invalid");
        assert!(err.to_string().contains("invalid datetime"), "{err}");
    }

    #[test]
    fn lenient_parsing() {
        let expected = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("exists");
        assert_eq!(parse_datetime_lenient("2024-01-01T00:00:00Z"), Some(expected));
        assert_eq!(parse_datetime_lenient("2024-01-01T01:00:00+01:00"), Some(expected));
        assert_eq!(parse_datetime_lenient("2024-01-01T00:00:00-00:00"), Some(expected));
        assert_eq!(parse_datetime_lenient("2024-01-01T00:00:00.000000Z"), Some(expected));
        assert_eq!(parse_datetime_lenient("2024-01-01"), None);
        assert_eq!(parse_datetime_lenient("yesterday"), None);
    }

    #[test]
    fn formatting() {
        let dt = Utc.with_ymd_and_hms(2024, 3, 5, 7, 8, 9).single().expect("exists")
            + chrono::Duration::microseconds(123_456);
        let s = format_datetime(&dt);
        assert_eq!(s, "2024-03-05T07:08:09.123Z");
        assert!(Datetime::new(&*s).is_ok());
        let whole = Utc.with_ymd_and_hms(2024, 3, 5, 7, 8, 9).single().expect("exists");
        assert_eq!(format_datetime(&whole), "2024-03-05T07:08:09.000Z");
    }
}
