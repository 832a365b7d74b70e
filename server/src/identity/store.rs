//! The PostgreSQL layer of the identity cache (`identity_did_documents`,
//! `identity_handles`): verified answers that survive restarts and are shared by every
//! process of a deployment. Callers treat its errors as misses.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use coves_plugin_api::syntax::{Did, Handle};
use coves_plugin_api::{DbPool, skip_commit_wait};
use diesel::OptionalExtension;
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Jsonb, Text, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::Value;

/// A persisted answer and how long it stays valid.
#[derive(Debug)]
pub struct Stored<T> {
    /// The stored value.
    pub value: T,
    /// Time left before it expires (always positive: expired rows are not returned).
    pub remaining: Duration,
}

/// Reads and writes the persisted identity cache.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
}

impl Store {
    /// A store over `pool`.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    /// The unexpired document of `did`, as it was fetched.
    pub async fn document(&self, did: &Did) -> anyhow::Result<Option<Stored<Value>>> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Jsonb)]
            document: Value,
            #[diesel(sql_type = Timestamptz)]
            expires_at: DateTime<Utc>,
        }
        let mut conn = self.pool.get().await.context("no database connection")?;
        let row = diesel::sql_query(
            "SELECT document, expires_at FROM identity_did_documents WHERE did = $1 AND expires_at > now()",
        )
        .bind::<Text, _>(did.as_str())
        .get_result::<Row>(&mut conn)
        .await
        .optional()
        .context("reading identity_did_documents")?;
        Ok(row.and_then(|row| stored(row.document, row.expires_at)))
    }

    /// Stores `did`'s document for `ttl`, replacing any older one.
    pub async fn put_document(&self, did: &Did, document: &Value, ttl: Duration) -> anyhow::Result<()> {
        self.write(
            diesel::sql_query(
                "INSERT INTO identity_did_documents (did, document, resolved_at, expires_at) \
             VALUES ($1, $2, now(), now() + $3::float8 * interval '1 millisecond') \
             ON CONFLICT (did) DO UPDATE SET document = EXCLUDED.document, \
             resolved_at = EXCLUDED.resolved_at, expires_at = EXCLUDED.expires_at",
            )
            .into_boxed()
            .bind::<Text, _>(did.as_str())
            .bind::<Jsonb, _>(document)
            .bind::<BigInt, _>(millis(ttl)),
            "writing identity_did_documents",
        )
        .await
    }

    /// The DID `handle` was verified to point at, while unexpired.
    pub async fn handle(&self, handle: &Handle) -> anyhow::Result<Option<Stored<String>>> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            did: String,
            #[diesel(sql_type = Timestamptz)]
            expires_at: DateTime<Utc>,
        }
        let mut conn = self.pool.get().await.context("no database connection")?;
        let row =
            diesel::sql_query("SELECT did, expires_at FROM identity_handles WHERE handle = $1 AND expires_at > now()")
                .bind::<Text, _>(handle.as_str())
                .get_result::<Row>(&mut conn)
                .await
                .optional()
                .context("reading identity_handles")?;
        Ok(row.and_then(|row| stored(row.did, row.expires_at)))
    }

    /// Stores a verified `handle` → `did` for `ttl`.
    pub async fn put_handle(&self, handle: &Handle, did: &Did, ttl: Duration) -> anyhow::Result<()> {
        self.write(
            diesel::sql_query(
                "INSERT INTO identity_handles (handle, did, resolved_at, expires_at) \
             VALUES ($1, $2, now(), now() + $3::float8 * interval '1 millisecond') \
             ON CONFLICT (handle) DO UPDATE SET did = EXCLUDED.did, \
             resolved_at = EXCLUDED.resolved_at, expires_at = EXCLUDED.expires_at",
            )
            .into_boxed()
            .bind::<Text, _>(handle.as_str())
            .bind::<Text, _>(did.as_str())
            .bind::<BigInt, _>(millis(ttl)),
            "writing identity_handles",
        )
        .await
    }

    /// Drops `did`'s document (it no longer resolves).
    pub async fn delete_document(&self, did: &Did) -> anyhow::Result<()> {
        self.write(
            diesel::sql_query("DELETE FROM identity_did_documents WHERE did = $1")
                .into_boxed()
                .bind::<Text, _>(did.as_str()),
            "deleting from identity_did_documents",
        )
        .await
    }

    /// Drops `handle`'s resolution (it no longer verifies).
    pub async fn delete_handle(&self, handle: &Handle) -> anyhow::Result<()> {
        self.write(
            diesel::sql_query("DELETE FROM identity_handles WHERE handle = $1")
                .into_boxed()
                .bind::<Text, _>(handle.as_str()),
            "deleting from identity_handles",
        )
        .await
    }

    /// Drops everything persisted about `did`: its document and every handle pointing at it.
    pub async fn forget(&self, did: &Did) -> anyhow::Result<()> {
        self.write(
            diesel::sql_query(
                "WITH documents AS (DELETE FROM identity_did_documents WHERE did = $1) \
             DELETE FROM identity_handles WHERE did = $1",
            )
            .into_boxed()
            .bind::<Text, _>(did.as_str()),
            "forgetting a DID in the identity cache",
        )
        .await
    }

    /// Runs one cache write without waiting for its WAL flush ([`skip_commit_wait`]): a
    /// lost cache row is only a later miss, and lookups must not queue behind the ingest's
    /// commits.
    async fn write(&self, query: BoxedSqlQuery<'_, Pg, SqlQuery>, what: &'static str) -> anyhow::Result<()> {
        let mut conn = self.pool.get().await.context("no database connection")?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            skip_commit_wait(conn).await?;
            query.execute(conn).await?;
            Ok(())
        })
        .await
        .context(what)
    }

    /// Deletes expired rows (lookups already ignore them); returns how many went.
    pub async fn purge_expired(&self) -> anyhow::Result<usize> {
        let mut conn = self.pool.get().await.context("no database connection")?;
        let documents = diesel::sql_query("DELETE FROM identity_did_documents WHERE expires_at <= now()")
            .execute(&mut conn)
            .await
            .context("purging identity_did_documents")?;
        let handles = diesel::sql_query("DELETE FROM identity_handles WHERE expires_at <= now()")
            .execute(&mut conn)
            .await
            .context("purging identity_handles")?;
        Ok(documents + handles)
    }
}

fn stored<T>(value: T, expires_at: DateTime<Utc>) -> Option<Stored<T>> {
    let remaining = (expires_at - Utc::now()).to_std().ok().filter(|d| !d.is_zero())?;
    Some(Stored { value, remaining })
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}
