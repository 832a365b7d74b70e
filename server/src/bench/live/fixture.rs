//! The benchmark's database: created fresh and migrated, with the subjects of the live
//! subscriptions: readable posts (in verified, active communities, by active authors, as
//! the ingest and the identity checks would have left them), and no votes yet. Rows are
//! written straight with SQL; the votes then come through the real ingest.

use anyhow::Context;
use diesel::sql_types::{Array, BigInt, Integer, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::votes::{Subject, plc_did, random_cid};
use coves_plugin_api::syntax::Tid;

/// The domain of the generated handles.
const DOMAIN: &str = "live.bench.test";
/// Posts per community, and authors of all the posts.
const POSTS_PER_COMMUNITY: usize = 100;
const AUTHORS: usize = 100;

/// The database measured, created by this run.
pub struct BenchDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl BenchDatabase {
    /// Creates and migrates `coves_bench_live_<pid>` on the server of `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("coves_bench_live_{}", std::process::id());
        admin_execute(admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        admin_execute(admin_url, &format!("CREATE DATABASE {name}")).await?;
        let url = crate::db::database_url_on(admin_url, &name);
        let db = Self { name, url, admin_url: admin_url.to_owned() };
        if let Err(e) = crate::db::migrate::run(&db.url, &crate::plugins::linked()?).await {
            db.close(false).await?;
            return Err(e);
        }
        Ok(db)
    }

    /// Drops the database unless it is to be kept.
    pub async fn close(&self, keep: bool) -> anyhow::Result<()> {
        if keep {
            eprintln!("kept database {}", self.name);
            return Ok(());
        }
        admin_execute(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await
    }
}

async fn admin_execute(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let mut admin = AsyncPgConnection::establish(admin_url).await.context("connecting to --admin-url")?;
    sql_query(sql).execute(&mut admin).await.with_context(|| format!("running {sql}"))?;
    Ok(())
}

/// Writes `count` readable posts (and their communities and authors) and returns them.
pub async fn load_subjects(conn: &mut AsyncPgConnection, count: usize, seed: u64) -> anyhow::Result<Vec<Subject>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let now_us = chrono::Utc::now().timestamp_micros();
    let authors: Vec<String> = (0..AUTHORS).map(|_| plc_did(&mut rng)).collect();
    let author_handles: Vec<String> = (0..AUTHORS).map(|i| format!("author{i}.{DOMAIN}")).collect();
    let communities: Vec<String> = (0..count.div_ceil(POSTS_PER_COMMUNITY)).map(|_| plc_did(&mut rng)).collect();
    let names: Vec<String> = (0..communities.len()).map(|i| format!("live{i}")).collect();
    let handles: Vec<String> = names.iter().map(|name| format!("c-{name}.{DOMAIN}")).collect();
    let community_revs: Vec<String> =
        (0..communities.len()).map(|i| Tid::from_micros((now_us - 1_000_000 + i as i64) as u64, 1).into()).collect();
    let community_cids: Vec<String> = communities.iter().map(|_| random_cid(&mut rng)).collect();

    let mut posts = Vec::with_capacity(count);
    let (mut uris, mut post_communities, mut rkeys, mut post_authors, mut cids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..count {
        let community = &communities[i / POSTS_PER_COMMUNITY];
        let rkey: String = Tid::from_micros((now_us - 500_000 + i as i64) as u64, 2).into();
        let uri = format!("at://{community}/social.coves.community.post/{rkey}");
        let cid = random_cid(&mut rng);
        posts.push(Subject { uri: uri.clone(), cid: cid.clone() });
        uris.push(uri);
        post_communities.push(community.clone());
        rkeys.push(rkey);
        post_authors.push(authors[i % AUTHORS].clone());
        cids.push(cid);
    }

    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        sql_query(
            "INSERT INTO actors (did, handle, display_name, pds_endpoint, handle_verified_at, verify_after, status) \
             SELECT did, handle, 'Live bench author', $3, now(), NULL, 'active' \
             FROM unnest($1::text[], $2::text[]) AS a(did, handle)",
        )
        .bind::<Array<Text>, _>(&authors)
        .bind::<Array<Text>, _>(&author_handles)
        .bind::<Text, _>(format!("https://pds.{DOMAIN}"))
        .execute(conn)
        .await?;
        // Posts before their communities: a community's post_count starts from the posts
        // stored when it arrives.
        sql_query(
            "INSERT INTO posts (uri, community_did, rkey, author_did, cid, rev, record, title, content, created_at) \
             SELECT p.uri, p.community_did, p.rkey, p.author_did, p.cid, p.rkey, \
               jsonb_build_object('$type', 'social.coves.community.post', 'community', p.community_did, \
                 'author', p.author_did, 'title', 'Live post ' || p.n, 'content', 'Watched live.', \
                 'createdAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), \
               'Live post ' || p.n, 'Watched live.', now() \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY \
               AS p(uri, community_did, rkey, author_did, cid, n)",
        )
        .bind::<Array<Text>, _>(&uris)
        .bind::<Array<Text>, _>(&post_communities)
        .bind::<Array<Text>, _>(&rkeys)
        .bind::<Array<Text>, _>(&post_authors)
        .bind::<Array<Text>, _>(&cids)
        .execute(conn)
        .await?;
        sql_query(
            "INSERT INTO communities (did, handle, name, display_name, description, created_by, hosted_by, created_at, \
               record, cid, rev, pds_endpoint, verified_at, verify_after, status) \
             SELECT c.did, c.handle, c.name, 'Live ' || c.name, 'Live bench community', $6, $7, now(), \
               jsonb_build_object('$type', 'social.coves.community.profile', 'name', c.name, 'createdBy', $6::text, \
                 'hostedBy', $7::text, 'createdAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')), \
               c.cid, c.rev, $8, now(), NULL, 'active' \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS c(did, handle, name, cid, rev)",
        )
        .bind::<Array<Text>, _>(&communities)
        .bind::<Array<Text>, _>(&handles)
        .bind::<Array<Text>, _>(&names)
        .bind::<Array<Text>, _>(&community_cids)
        .bind::<Array<Text>, _>(&community_revs)
        .bind::<Text, _>(&authors[0])
        .bind::<Text, _>(format!("did:web:{DOMAIN}"))
        .bind::<Text, _>(format!("https://pds.{DOMAIN}"))
        .execute(conn)
        .await?;
        Ok(())
    })
    .await?;

    let readable = count_readable(conn, &uris).await?;
    anyhow::ensure!(readable == count as i64, "only {readable} of the {count} posts written are readable");
    Ok(posts)
}

/// How many of `uris` the post service finds (readable posts).
async fn count_readable(conn: &mut AsyncPgConnection, uris: &[String]) -> anyhow::Result<i64> {
    let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    Ok(coves_plugin_post::service::find_posts(conn, &uris).await?.len() as i64)
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = Text)]
    uri: String,
    #[diesel(sql_type = BigInt)]
    up: i64,
    #[diesel(sql_type = BigInt)]
    down: i64,
}

/// The stored (upvotes, downvotes) of each subject, in order (no row: no votes).
pub async fn stored_counts(conn: &mut AsyncPgConnection, subjects: &[Subject]) -> anyhow::Result<Vec<(i64, i64)>> {
    let uris: Vec<&str> = subjects.iter().map(|s| s.uri.as_str()).collect();
    let rows: Vec<Counts> = sql_query(
        "SELECT subject_uri AS uri, upvotes::bigint AS up, downvotes::bigint AS down FROM vote_counts \
         WHERE subject_uri = ANY($1)",
    )
    .bind::<Array<Text>, _>(&uris)
    .load(conn)
    .await?;
    let stored: std::collections::HashMap<String, (i64, i64)> =
        rows.into_iter().map(|r| (r.uri, (r.up, r.down))).collect();
    Ok(subjects.iter().map(|s| stored.get(&s.uri).copied().unwrap_or((0, 0))).collect())
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// The PostgreSQL backends serving `database` (the children's pools and listeners).
pub async fn backend_pids(conn: &mut AsyncPgConnection, database: &str) -> anyhow::Result<Vec<i32>> {
    let rows: Vec<Backend> =
        sql_query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind::<Text, _>(database)
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|b| b.pid).collect())
}
