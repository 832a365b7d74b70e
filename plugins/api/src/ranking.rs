//! Sorts of posts and comments (COVES_API §6) and their keyset cursors, shared by every
//! plugin that ranks records so hot, top and new mean the same everywhere.
//!
//! Every sort orders by keys ending in the effective creation time and the URI (unique),
//! descending. A page continues strictly after the last item's keys, so items whose keys
//! did not change are neither repeated nor skipped. Hot ranks age with time, so the first
//! page fixes a reference time `t0`, which the cursor carries: later pages rank at `t0`.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::cursor;
use crate::error::ApiError;

/// A `top` window (COVES_API §6.1): fixed lengths, the same for posts and comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timeframe {
    Hour,
    Day,
    Week,
    Month,
    Year,
    All,
}

impl Timeframe {
    /// Every timeframe, in growing length.
    pub const ALL: [Timeframe; 6] = [Self::Hour, Self::Day, Self::Week, Self::Month, Self::Year, Self::All];

    /// The parameter value (`hour`, `day`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
            Self::All => "all",
        }
    }

    /// Parses a parameter value; 400 `InvalidRequest` naming the accepted values.
    pub fn from_param(raw: &str) -> Result<Self, ApiError> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "timeframe must be one of hour, day, week, month, year, all (got {raw:?})"
            ))
        })
    }

    /// The window's length; `None` for `all`.
    pub fn length(self) -> Option<TimeDelta> {
        match self {
            Self::Hour => TimeDelta::try_hours(1),
            Self::Day => TimeDelta::try_days(1),
            Self::Week => TimeDelta::try_days(7),
            Self::Month => TimeDelta::try_days(30),
            Self::Year => TimeDelta::try_days(365),
            Self::All => None,
        }
    }
}

/// How a list of posts or comments is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Score decaying with age (the formula differs for posts and comments).
    Hot,
    /// Highest score first, within a window ending at the reference time.
    Top(Timeframe),
    /// Newest first.
    New,
}

impl Sort {
    /// Parses `sort` and `timeframe` parameters. `top` without a timeframe uses
    /// `default_timeframe` (posts: `day`, comments: `all`); a timeframe is validated when
    /// given and ignored by the other sorts.
    pub fn from_params(sort: &str, timeframe: Option<&str>, default_timeframe: Timeframe) -> Result<Self, ApiError> {
        let timeframe = timeframe.map(Timeframe::from_param).transpose()?;
        match sort {
            "hot" => Ok(Self::Hot),
            "top" => Ok(Self::Top(timeframe.unwrap_or(default_timeframe))),
            "new" => Ok(Self::New),
            other => Err(ApiError::invalid_request(format!("sort must be one of hot, top, new (got {other:?})"))),
        }
    }

    /// The cursor scope: a cursor only continues the list it came from.
    fn scope(self, list: &str) -> String {
        match self {
            Self::Hot => format!("{list}:hot"),
            Self::Top(timeframe) => format!("{list}:top:{}", timeframe.as_str()),
            Self::New => format!("{list}:new"),
        }
    }
}

/// An item's sort keys, as a page's last item leaves them in the cursor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The hot rank at the page's reference time (0 for other sorts). Kept as its bits:
    /// the keyset compares it for equality, and a decimal round trip may be off by one
    /// unit in the last place.
    #[serde(with = "exact_float")]
    pub rank: f64,
    /// The score (upvotes − downvotes).
    pub score: i64,
    /// The effective creation time, in microseconds.
    pub at_us: i64,
    /// The item's URI (unique: the last tiebreaker).
    pub uri: String,
}

/// An `f64` serialized as its IEEE 754 bits.
mod exact_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        u64::deserialize(deserializer).map(f64::from_bits)
    }
}

#[derive(Serialize, Deserialize)]
struct Keys {
    /// The reference time, in microseconds.
    t0: i64,
    #[serde(flatten)]
    after: Position,
}

/// Where a page starts: the reference time, and the position to continue after.
#[derive(Clone, Debug)]
pub struct PageStart {
    /// The sort.
    pub sort: Sort,
    /// When ages are measured (and where `top` windows end): now on a first page, the
    /// first page's time on the next ones.
    pub t0: DateTime<Utc>,
    /// The previous page's last item; `None` on a first page.
    pub after: Option<Position>,
}

impl PageStart {
    /// Decodes `cursor` (issued for the same `list` and sort) or starts a first page now.
    pub fn new(list: &str, sort: Sort, cursor: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = cursor else { return Ok(Self { sort, t0: Utc::now(), after: None }) };
        let keys: Keys = cursor::decode(raw, &sort.scope(list))?;
        let t0 = DateTime::from_timestamp_micros(keys.t0)
            .ok_or_else(|| ApiError::invalid_cursor("cursor is not one this server issued"))?;
        Ok(Self { sort, t0, after: Some(keys.after) })
    }

    /// The cursor that continues after `position` in the same list.
    pub fn cursor_after(&self, list: &str, position: Position) -> String {
        cursor::encode(&self.sort.scope(list), &Keys { t0: self.t0.timestamp_micros(), after: position })
    }

    /// Where the `top` window starts, if it has one.
    pub fn window_start(&self) -> Option<DateTime<Utc>> {
        match self.sort {
            Sort::Top(timeframe) => timeframe.length().map(|length| self.t0 - length),
            _ => None,
        }
    }
}

/// SQL for one ranked list: the ORDER BY and the keyset condition, over the given column
/// expressions. Binds, in order: `$t0` in `rank` (the caller's), then the keyset values.
pub struct RankedSql<'a> {
    /// The hot rank, as an SQL expression of the caller's reference-time parameter.
    pub rank: &'a str,
    /// The score expression.
    pub score: &'a str,
    /// The effective creation time column.
    pub at: &'a str,
    /// The URI column.
    pub uri: &'a str,
    /// Whether hot ties break on score before time (comments, COVES_API §6).
    pub hot_ties_by_score: bool,
}

/// One sort key of a ranked list.
#[derive(Clone, Copy)]
enum Key {
    Rank,
    Score,
    At,
    Uri,
}

impl Key {
    /// The SQL type its cursor value is bound as.
    fn cast(self) -> &'static str {
        match self {
            Self::Rank => "float8",
            Self::Score => "bigint",
            Self::At => "timestamptz",
            Self::Uri => "text",
        }
    }
}

impl RankedSql<'_> {
    /// The sort keys of `sort`, most significant first (all descending).
    fn kinds(&self, sort: Sort) -> &'static [Key] {
        match sort {
            Sort::Hot if self.hot_ties_by_score => &[Key::Rank, Key::Score, Key::At, Key::Uri],
            Sort::Hot => &[Key::Rank, Key::At, Key::Uri],
            Sort::Top(_) => &[Key::Score, Key::At, Key::Uri],
            Sort::New => &[Key::At, Key::Uri],
        }
    }

    fn column(&self, key: Key) -> &str {
        match key {
            Key::Rank => self.rank,
            Key::Score => self.score,
            Key::At => self.at,
            Key::Uri => self.uri,
        }
    }

    /// The sort key expressions, most significant first (all descending).
    pub fn keys(&self, sort: Sort) -> Vec<&str> {
        self.kinds(sort).iter().map(|k| self.column(*k)).collect()
    }

    /// `ORDER BY` clause body.
    pub fn order_by(&self, sort: Sort) -> String {
        self.keys(sort).iter().map(|k| format!("{k} DESC")).collect::<Vec<_>>().join(", ")
    }

    /// The keyset condition `(keys) < ($n, $n+1, ...)` with placeholders numbered from
    /// `first`; bind the values with [`RankedSql::bind_after`].
    pub fn after(&self, sort: Sort, first: usize) -> String {
        let params: Vec<String> =
            self.kinds(sort).iter().enumerate().map(|(i, k)| format!("${}::{}", first + i, k.cast())).collect();
        format!("({}) < ({})", self.keys(sort).join(", "), params.join(", "))
    }

    /// Binds the keys of `position`, in the order of [`RankedSql::after`].
    pub fn bind_after<'a>(&self, mut query: BoxedQuery<'a>, sort: Sort, position: &Position) -> BoxedQuery<'a> {
        use diesel::sql_types::{BigInt, Double, Text, Timestamptz};
        for key in self.kinds(sort) {
            query = match key {
                Key::Rank => query.bind::<Double, _>(position.rank),
                Key::Score => query.bind::<BigInt, _>(position.score),
                Key::At => {
                    query.bind::<Timestamptz, _>(DateTime::from_timestamp_micros(position.at_us).unwrap_or_default())
                }
                Key::Uri => query.bind::<Text, _>(position.uri.clone()),
            };
        }
        query
    }
}

/// A boxed SQL query whose binds are added one at a time.
pub type BoxedQuery<'a> = diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(Sort::from_params("top", None, Timeframe::Day).expect("valid"), Sort::Top(Timeframe::Day));
        assert_eq!(Sort::from_params("top", Some("week"), Timeframe::Day).expect("valid"), Sort::Top(Timeframe::Week));
        assert_eq!(Sort::from_params("hot", Some("week"), Timeframe::Day).expect("valid"), Sort::Hot);
        assert_eq!(
            Sort::from_params("hot", Some("fortnight"), Timeframe::Day).expect_err("bad").name,
            "InvalidRequest"
        );
        assert_eq!(Sort::from_params("best", None, Timeframe::Day).expect_err("bad").name, "InvalidRequest");
        assert_eq!(Timeframe::Month.length(), TimeDelta::try_days(30));
    }

    #[test]
    fn cursors_keep_the_reference_time_and_refuse_other_sorts() {
        let first = PageStart::new("posts", Sort::Hot, None).expect("first page");
        // Decimal JSON does not round-trip every double exactly (serde_json's fast parser may
        // be one ulp off); the cursor keeps the bits.
        let rank = f64::from_bits(0x3FB9_9999_9999_999B);
        let position = Position { rank, score: 3, at_us: 1_700_000_000_123_456, uri: "at://x".into() };
        let cursor = first.cursor_after("posts", position.clone());
        let next = PageStart::new("posts", Sort::Hot, Some(&cursor)).expect("next page");
        assert_eq!(next.t0.timestamp_micros(), first.t0.timestamp_micros());
        assert_eq!(next.after.as_ref().map(|p| p.rank.to_bits()), Some(rank.to_bits()));
        assert_eq!(next.after, Some(position));
        for (list, sort) in [("posts", Sort::New), ("posts", Sort::Top(Timeframe::Day)), ("comments", Sort::Hot)] {
            assert_eq!(PageStart::new(list, sort, Some(&cursor)).expect_err("other list").name, "InvalidCursor");
        }
    }

    #[test]
    fn keyset_sql() {
        let sql = RankedSql { rank: "r", score: "s", at: "p.at", uri: "p.uri", hot_ties_by_score: true };
        assert_eq!(sql.order_by(Sort::Hot), "r DESC, s DESC, p.at DESC, p.uri DESC");
        assert_eq!(
            sql.after(Sort::Top(Timeframe::All), 3),
            "(s, p.at, p.uri) < ($3::bigint, $4::timestamptz, $5::text)"
        );
        assert_eq!(sql.after(Sort::New, 1), "(p.at, p.uri) < ($1::timestamptz, $2::text)");
    }
}
