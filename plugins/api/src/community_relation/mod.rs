//! Records in a user's repo whose subject is a community (subscriptions, blocks), and the
//! relation they make between the user and the community (COVES_API §2.2, §2.3).
//!
//! A user may hold several live records for one community (two clients subscribing at
//! once, a record re-created by hand). The relation exists while at least one is live,
//! and always reflects the newest live one, by (`createdAt`, rkey) — the same rule as the
//! effective vote (§2.1). Two tables per relation, named by a [`Relation`]:
//!
//! * the **records** table, one row per (actor, rkey): every record ever seen, deleted ones
//!   as tombstones with their rev, so a replayed or overtaken create cannot revive them;
//! * the **relation** table, one row per (actor, community) with ≥ 1 live record, copied
//!   from the newest one. A row is inserted when a pair starts, updated when its newest
//!   record changes and deleted when its last live record goes: counters kept by triggers
//!   on inserts and deletes of that table (subscriber counts) are exact by construction.
//!
//! [`Relation::apply`] applies any batch with two statements plus, for creates, one that
//! records the owners as known actors (§2.0 rule 6; plugins using this depend on `actor`):
//!
//! 1. the batch, folded to the newest commit per record, is upserted, guarded by rev; the
//!    statement returns every (actor, community) pair the batch touches: the stored
//!    community of each written record (before the write) and the new one;
//! 2. each touched pair's relation row is recomputed from the live records: inserted,
//!    updated, deleted or left alone. It returns the communities that gained or lost a
//!    related actor.
//!
//! The subject is a community DID, stored as is (the community need not be indexed yet:
//! no dependency drops, §2.0 rule 4). A handle (`c-name.coves.social`, `@handle`) is
//! resolved to the DID of the indexed community with the plugin's [`ResolveCommunity`]
//! inside the ingest transaction (no network); when no indexed community has that handle,
//! the event is skipped as `unresolved_subject`, since a handle can later name another
//! community. Any other malformed record is skipped as `invalid_record`.
//!
//! [`graphql`] holds the GraphQL reads both plugins serve: the viewer's row of each listed
//! community (batched), and an actor's own rows as a connection.

pub mod graphql;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::QueryResult;
use diesel::sql_types::{Array, Bool, Jsonb, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::cursor::{self, Listed, Page};
use crate::error::ApiError;
use crate::event::{CommitEvent, CommitOp};
use crate::identifiers::{CommunityId, parse_community_id};
use crate::plugin::IngestTx;
use crate::syntax::{Did, parse_datetime_lenient};

/// Skip reason of a record whose handle subject names no indexed community.
pub const UNRESOLVED_SUBJECT: &str = "unresolved_subject";
/// Skip reason of any other malformed record.
pub const INVALID_RECORD: &str = "invalid_record";

/// Resolves a community handle to the DID of the indexed community, on the ingest
/// connection (the community plugin's `resolve_community`).
pub type ResolveCommunity =
    for<'c> fn(&'c mut AsyncPgConnection, &'c CommunityId) -> BoxFuture<'c, QueryResult<Option<String>>>;

/// A `smallint` column read from each record and copied to the relation table with the
/// newest record (e.g. `content_visibility`). Reading cannot fail: clamp or default.
#[derive(Clone, Copy)]
pub struct ExtraColumn {
    /// The column's name in both tables.
    pub column: &'static str,
    /// Its value for a record.
    pub read: fn(&Value) -> i16,
}

/// One relation between users and communities: its tables and what records carry.
///
/// Both tables have `actor_did`, `rkey`, `community_did` and `created_at`; the records
/// table also `record`, `cid`, `rev`, `deleted` and `indexed_at`; both have the
/// [`Relation::extra_columns`] (nullable in the records table, for tombstones).
#[derive(Clone, Copy)]
pub struct Relation {
    /// A short name for SQL comments (the plugin's name).
    pub name: &'static str,
    /// Every record, keyed by (actor_did, rkey).
    pub records_table: &'static str,
    /// The effective relation, keyed by (actor_did, community_did).
    pub relation_table: &'static str,
    /// Columns beyond the shared ones.
    pub extra_columns: &'static [ExtraColumn],
    /// How handle subjects are resolved.
    pub resolve: ResolveCommunity,
}

/// The subject of a record, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A DID, stored as is.
    Did(String),
    /// A community handle, resolved at ingest.
    Handle(CommunityId),
}

/// The shared fields of a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFields {
    pub subject: Subject,
    /// `None` when `createdAt` is present but unparseable (the event time is used).
    pub created_at: Option<DateTime<Utc>>,
}

/// Reads `subject` (required: a DID, a handle or `@handle`) and `createdAt` (required;
/// parsed leniently). `Err` says why the record is refused.
pub fn parse_record(record: &Value) -> Result<RecordFields, String> {
    let subject = match record.get("subject") {
        Some(Value::String(subject)) => subject.trim(),
        Some(other) => return Err(format!("`subject` must be a community DID, got {other}")),
        None => return Err("`subject` (the community's DID) is required".into()),
    };
    let subject = if subject.starts_with("did:") {
        Did::new(subject).map_err(|e| format!("`subject` {subject:?} is not a valid DID: {e}"))?;
        Subject::Did(subject.to_owned())
    } else {
        // No instance domains: `!name@instance` is a request form, not a record subject.
        match parse_community_id(subject, &[]) {
            Ok(id) => Subject::Handle(id),
            Err(e) => return Err(format!("`subject`: {}", e.message)),
        }
    };
    let created_at = record.get("createdAt").ok_or_else(|| "`createdAt` is required".to_owned())?;
    Ok(RecordFields { subject, created_at: created_at.as_str().and_then(parse_datetime_lenient) })
}

/// A record's identity: (actor DID, rkey).
type Key<'a> = (&'a str, &'a str);

/// The newest valid commit of one record within the batch.
struct Change<'a> {
    event: &'a CommitEvent,
    /// `None` for a delete.
    live: Option<Live<'a>>,
}

struct Live<'a> {
    community_did: String,
    created_at: DateTime<Utc>,
    record: &'a Value,
    cid: &'a str,
    extra: Vec<i16>,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    actor_did: String,
    #[diesel(sql_type = Text)]
    community_did: String,
}

#[derive(QueryableByName)]
struct Community {
    #[diesel(sql_type = Text)]
    community_did: String,
}

impl Relation {
    /// Applies a batch of commits of the relation's collection (see the module docs).
    /// Returns the communities that gained or lost a related actor, i.e. whose count of
    /// relation rows changed.
    pub async fn apply(&self, tx: &mut IngestTx<'_>, batch: &[CommitEvent]) -> anyhow::Result<Vec<String>> {
        let changes = self.fold(tx, batch).await?;
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let pairs = self.upsert(tx, &changes).await?;
        let changed = self.refresh(tx, &pairs).await?;
        self.remember_actors(tx, &changes).await?;
        Ok(changed)
    }

    /// Validates every commit (resolving handle subjects) and keeps the newest (greatest
    /// rev) per record; invalid commits take no part.
    async fn fold<'a>(
        &self,
        tx: &mut IngestTx<'_>,
        batch: &'a [CommitEvent],
    ) -> anyhow::Result<BTreeMap<Key<'a>, Change<'a>>> {
        let mut resolved: HashMap<String, Option<String>> = HashMap::new();
        let mut changes: BTreeMap<Key<'a>, Change<'a>> = BTreeMap::new();
        for event in batch {
            let live = match &event.op {
                CommitOp::Delete => None,
                CommitOp::Create { record, cid } | CommitOp::Update { record, cid } => {
                    let fields = match parse_record(record) {
                        Ok(fields) => fields,
                        Err(detail) => {
                            tx.skip(event, INVALID_RECORD, detail);
                            continue;
                        }
                    };
                    let community_did = match fields.subject {
                        Subject::Did(did) => did,
                        Subject::Handle(id) => {
                            let key = id_text(&id);
                            let did = match resolved.get(&key) {
                                Some(did) => did.clone(),
                                None => {
                                    let did = (self.resolve)(tx.conn, &id).await?;
                                    resolved.insert(key.clone(), did.clone());
                                    did
                                }
                            };
                            let Some(did) = did else {
                                tx.skip(
                                    event,
                                    UNRESOLVED_SUBJECT,
                                    format!("no indexed community has the handle {key}"),
                                );
                                continue;
                            };
                            did
                        }
                    };
                    Some(Live {
                        community_did,
                        // An unparseable createdAt falls back to the event time, which replays reproduce.
                        created_at: fields.created_at.unwrap_or_else(|| event_time(event)),
                        record,
                        cid,
                        extra: self.extra_columns.iter().map(|c| (c.read)(record)).collect(),
                    })
                }
            };
            let key = (event.did.as_str(), event.rkey.as_str());
            if changes.get(&key).is_none_or(|c| c.event.rev < event.rev) {
                changes.insert(key, Change { event, live });
            }
        }
        Ok(changes)
    }

    /// Writes the records; returns the (actor, community) pairs they belonged to before
    /// and belong to now.
    async fn upsert(
        &self,
        tx: &mut IngestTx<'_>,
        changes: &BTreeMap<Key<'_>, Change<'_>>,
    ) -> anyhow::Result<Vec<Pair>> {
        let n = changes.len();
        let mut actor = Vec::with_capacity(n);
        let mut rkey = Vec::with_capacity(n);
        let mut community: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut created_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
        let mut record: Vec<Option<&Value>> = Vec::with_capacity(n);
        let mut cid: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut rev = Vec::with_capacity(n);
        let mut deleted = Vec::with_capacity(n);
        // The extra columns of all rows, row after row (one array whatever their number).
        let mut extra: Vec<Option<i16>> = Vec::with_capacity(n * self.extra_columns.len());
        for ((did, key), change) in changes {
            let live = change.live.as_ref();
            actor.push(*did);
            rkey.push(*key);
            community.push(live.map(|l| l.community_did.as_str()));
            created_at.push(live.map(|l| l.created_at));
            record.push(live.map(|l| l.record));
            cid.push(live.map(|l| l.cid));
            rev.push(change.event.rev.as_str());
            deleted.push(live.is_none());
            match live {
                Some(live) => extra.extend(live.extra.iter().copied().map(Some)),
                None => extra.extend(self.extra_columns.iter().map(|_| None)),
            }
        }
        let width = self.extra_columns.len();
        let mut columns = String::new();
        let mut values = String::new();
        let mut keep = String::new();
        for (k, column) in self.extra_columns.iter().enumerate() {
            let column = column.column;
            columns.push_str(&format!(", {column}"));
            values.push_str(&format!(", ($9::smallint[])[(b.i - 1) * {width} + {}]", k + 1));
            keep.push_str(&format!("{column} = COALESCE(excluded.{column}, r.{column}), "));
        }
        // A delete binds NULL community, createdAt and extras: the tombstone keeps the
        // stored ones. `before` reads the rows as they were when the statement started.
        let sql = format!(
            "/* {name}::upsert */ WITH b AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], \
               $4::timestamptz[], $5::jsonb[], $6::text[], $7::text[], $8::bool[]) WITH ORDINALITY \
               AS b(actor_did, rkey, community_did, created_at, record, cid, rev, deleted, i)), \
             before AS (SELECT r.actor_did, r.community_did FROM b JOIN {records} r \
               ON r.actor_did = b.actor_did AND r.rkey = b.rkey WHERE r.community_did IS NOT NULL), \
             written AS (INSERT INTO {records} AS r (actor_did, rkey, community_did, created_at, record, cid, rev, \
                 deleted{columns}) \
               SELECT b.actor_did, b.rkey, b.community_did, b.created_at, b.record, b.cid, b.rev, b.deleted{values} \
               FROM b \
               ON CONFLICT (actor_did, rkey) DO UPDATE SET \
                 community_did = COALESCE(excluded.community_did, r.community_did), \
                 created_at = COALESCE(excluded.created_at, r.created_at), {keep}\
                 record = excluded.record, cid = excluded.cid, rev = excluded.rev, deleted = excluded.deleted, \
                 indexed_at = now() \
               WHERE r.rev < excluded.rev \
               RETURNING r.actor_did, r.community_did) \
             SELECT actor_did, community_did FROM before \
             UNION SELECT actor_did, community_did FROM written WHERE community_did IS NOT NULL",
            name = self.name,
            records = self.records_table,
        );
        Ok(diesel::sql_query(sql)
            .bind::<Array<Text>, _>(&actor)
            .bind::<Array<Text>, _>(&rkey)
            .bind::<Array<Nullable<Text>>, _>(&community)
            .bind::<Array<Nullable<Timestamptz>>, _>(&created_at)
            .bind::<Array<Nullable<Jsonb>>, _>(&record)
            .bind::<Array<Nullable<Text>>, _>(&cid)
            .bind::<Array<Text>, _>(&rev)
            .bind::<Array<Bool>, _>(&deleted)
            .bind::<Array<Nullable<SmallInt>>, _>(&extra)
            .load(tx.conn)
            .await?)
    }

    /// Recomputes the relation rows of `pairs` from their live records; returns the
    /// communities whose rows were inserted or deleted.
    async fn refresh(&self, tx: &mut IngestTx<'_>, pairs: &[Pair]) -> anyhow::Result<Vec<String>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let actors: Vec<&str> = pairs.iter().map(|p| p.actor_did.as_str()).collect();
        let communities: Vec<&str> = pairs.iter().map(|p| p.community_did.as_str()).collect();
        let extra: Vec<&str> = self.extra_columns.iter().map(|c| c.column).collect();
        let list = |prefix: &str| extra.iter().map(|c| format!(", {prefix}{c}")).collect::<String>();
        let set = extra.iter().map(|c| format!(", {c} = excluded.{c}")).collect::<String>();
        // An unchanged newest record writes nothing; `before` reads the relation rows as
        // they were when the statement started, so `put` rows absent there are new pairs.
        let sql = format!(
            "/* {name}::refresh */ WITH p AS (SELECT DISTINCT actor_did, community_did \
               FROM unnest($1::text[], $2::text[]) AS p(actor_did, community_did)), \
             newest AS (SELECT p.actor_did, p.community_did, n.rkey, n.created_at{n_extra} FROM p \
               CROSS JOIN LATERAL (SELECT r.rkey, r.created_at{r_extra} FROM {records} r \
                 WHERE r.actor_did = p.actor_did AND r.community_did = p.community_did AND NOT r.deleted \
                 ORDER BY r.created_at DESC, r.rkey DESC LIMIT 1) n), \
             before AS (SELECT t.actor_did, t.community_did FROM {relation} t \
               JOIN p ON p.actor_did = t.actor_did AND p.community_did = t.community_did), \
             removed AS (DELETE FROM {relation} t USING p \
               WHERE t.actor_did = p.actor_did AND t.community_did = p.community_did \
                 AND NOT EXISTS (SELECT 1 FROM newest n WHERE n.actor_did = p.actor_did AND n.community_did = p.community_did) \
               RETURNING t.community_did), \
             put AS (INSERT INTO {relation} AS t (actor_did, community_did, rkey, created_at{t_extra}) \
               SELECT * FROM newest \
               ON CONFLICT (actor_did, community_did) DO UPDATE SET rkey = excluded.rkey, \
                 created_at = excluded.created_at{set} \
               WHERE (t.rkey, t.created_at{t_extra_q}) IS DISTINCT FROM (excluded.rkey, excluded.created_at{x_extra}) \
               RETURNING t.actor_did, t.community_did) \
             SELECT community_did FROM removed \
             UNION SELECT put.community_did FROM put WHERE NOT EXISTS (SELECT 1 FROM before b \
               WHERE b.actor_did = put.actor_did AND b.community_did = put.community_did)",
            name = self.name,
            records = self.records_table,
            relation = self.relation_table,
            n_extra = list("n."),
            r_extra = list("r."),
            t_extra = list(""),
            t_extra_q = list("t."),
            x_extra = list("excluded."),
        );
        let changed: Vec<Community> = diesel::sql_query(sql)
            .bind::<Array<Text>, _>(&actors)
            .bind::<Array<Text>, _>(&communities)
            .load(tx.conn)
            .await?;
        Ok(changed.into_iter().map(|c| c.community_did).collect())
    }

    /// Record owners become known actors, whose handles the actor plugin then verifies.
    async fn remember_actors(
        &self,
        tx: &mut IngestTx<'_>,
        changes: &BTreeMap<Key<'_>, Change<'_>>,
    ) -> anyhow::Result<()> {
        let mut dids: Vec<&str> = changes.iter().filter(|(_, c)| c.live.is_some()).map(|((did, _), _)| *did).collect();
        if dids.is_empty() {
            return Ok(());
        }
        dids.dedup(); // keys are sorted by DID
        diesel::sql_query(format!(
            "/* {}::actors */ INSERT INTO actors (did) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            self.name
        ))
        .bind::<Array<Text>, _>(&dids)
        .execute(tx.conn)
        .await?;
        Ok(())
    }
}

fn id_text(id: &CommunityId) -> String {
    match id {
        CommunityId::Did(did) => did.to_string(),
        CommunityId::Handle(handle) => handle.to_string(),
    }
}

fn event_time(event: &CommitEvent) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(event.time_us).unwrap_or_else(Utc::now)
}

/// A relation row as the owning plugin reads it (its struct, `QueryableByName` over
/// [`RelationRow::COLUMNS`] of the relation table).
pub trait RelationRow: QueryableByName<diesel::pg::Pg> + Send + 'static {
    /// The columns it reads.
    const COLUMNS: &'static str;
    /// The community.
    fn community_did(&self) -> &str;
    /// The newest record's createdAt.
    fn created_at(&self) -> DateTime<Utc>;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Reads, shared by the plugins' services (GraphQL, XRPC and the feeds).
impl Relation {
    /// `actor`'s rows among `community_dids`, by community DID (one primary-key probe
    /// each).
    pub async fn rows_for<T: RelationRow>(
        &self,
        conn: &mut AsyncPgConnection,
        actor: &str,
        community_dids: &[&str],
    ) -> QueryResult<HashMap<String, T>> {
        if community_dids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<T> = diesel::sql_query(format!(
            "/* {name}::rows_for */ SELECT {columns} FROM {table} WHERE actor_did = $1 AND community_did = ANY($2)",
            name = self.name,
            columns = T::COLUMNS,
            table = self.relation_table,
        ))
        .bind::<Text, _>(actor)
        .bind::<Array<Text>, _>(community_dids)
        .load(conn)
        .await?;
        Ok(rows.into_iter().map(|r| (r.community_did().to_owned(), r)).collect())
    }

    /// Every row of `actor`, newest first (whether or not the community is indexed yet).
    pub async fn all_of<T: RelationRow>(&self, conn: &mut AsyncPgConnection, actor: &str) -> QueryResult<Vec<T>> {
        diesel::sql_query(format!(
            "/* {name}::all_of */ SELECT {columns} FROM {table} WHERE actor_did = $1 \
             ORDER BY created_at DESC, community_did DESC",
            name = self.name,
            columns = T::COLUMNS,
            table = self.relation_table,
        ))
        .bind::<Text, _>(actor)
        .load(conn)
        .await
    }

    /// A page of `actor`'s rows, newest first (keyset on (createdAt, community DID)),
    /// after `after` (a cursor of this list; another one is 400 `InvalidCursor`).
    pub async fn page_of<T: RelationRow>(
        &self,
        conn: &mut AsyncPgConnection,
        actor: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<T>, ApiError> {
        let scope = self.relation_table;
        let after: Option<(i64, String)> = after.map(|raw| cursor::decode(raw, scope)).transpose()?;
        let after_time = after
            .as_ref()
            .map(|(micros, _)| {
                DateTime::from_timestamp_micros(*micros)
                    .ok_or_else(|| ApiError::invalid_cursor("cursor is not one this server issued"))
            })
            .transpose()?;
        let rows: Vec<T> = diesel::sql_query(format!(
            "/* {name}::page_of */ SELECT {columns} FROM {table} \
             WHERE actor_did = $1 AND ($2::timestamptz IS NULL OR (created_at, community_did) < ($2, $3)) \
             ORDER BY created_at DESC, community_did DESC LIMIT $4",
            name = self.name,
            columns = T::COLUMNS,
            table = self.relation_table,
        ))
        .bind::<Text, _>(actor)
        .bind::<Nullable<Timestamptz>, _>(after_time)
        .bind::<Nullable<Text>, _>(after.map(|(_, did)| did))
        .bind::<diesel::sql_types::BigInt, _>(limit + 1)
        .load(conn)
        .await?;
        let (rows, has_more) = cursor::split_page(rows, usize::try_from(limit).unwrap_or(0));
        let items = rows
            .into_iter()
            .map(|r| Listed {
                cursor: cursor::encode(scope, &(r.created_at().timestamp_micros(), r.community_did())),
                item: r,
            })
            .collect();
        Ok(Page { items, has_more })
    }

    /// How many rows `actor` has.
    pub async fn count_of(&self, conn: &mut AsyncPgConnection, actor: &str) -> QueryResult<i64> {
        let count: Count = diesel::sql_query(format!(
            "/* {name}::count_of */ SELECT count(*) AS n FROM {table} WHERE actor_did = $1",
            name = self.name,
            table = self.relation_table,
        ))
        .bind::<Text, _>(actor)
        .get_result(conn)
        .await?;
        Ok(count.n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::syntax::Handle;

    #[test]
    fn subjects_are_dids_or_handles() {
        let did = "did:plc:community000000000000000";
        let fields = parse_record(&json!({"subject": did, "createdAt": "2026-01-01T00:00:00Z"})).expect("valid");
        assert_eq!(fields.subject, Subject::Did(did.into()));
        assert_eq!(fields.created_at.map(|t| t.timestamp()), Some(1_767_225_600));

        for handle in ["c-gardening.coves.social", "@C-Gardening.coves.social"] {
            let fields = parse_record(&json!({"subject": handle, "createdAt": "2026-01-01T00:00:00Z"})).expect(handle);
            let expected = Handle::new("c-gardening.coves.social").expect("valid handle");
            assert_eq!(fields.subject, Subject::Handle(CommunityId::Handle(expected)));
        }
    }

    #[test]
    fn an_unparseable_created_at_is_left_to_the_event_time() {
        let fields = parse_record(&json!({"subject": "did:plc:community000000000000000", "createdAt": "yesterday"}))
            .expect("valid");
        assert_eq!(fields.created_at, None);
    }

    #[test]
    fn malformed_records_are_refused_with_the_reason() {
        let refused = |record: Value| parse_record(&record).expect_err("refused");
        assert!(refused(json!({"createdAt": "2026-01-01T00:00:00Z"})).contains("`subject`"));
        assert!(refused(json!({"subject": 42, "createdAt": "2026-01-01T00:00:00Z"})).contains("`subject`"));
        assert!(
            refused(json!({"subject": "did:nope", "createdAt": "2026-01-01T00:00:00Z"})).contains("not a valid DID")
        );
        assert!(refused(json!({"subject": "gardening", "createdAt": "2026-01-01T00:00:00Z"})).contains("`subject`"));
        assert!(refused(json!({"subject": "!gardening@coves.social", "createdAt": "x"})).contains("`subject`"));
        assert!(refused(json!({"subject": "did:plc:community000000000000000"})).contains("`createdAt`"));
    }
}
