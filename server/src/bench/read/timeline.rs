//! The timeline workload (issue 6): a signed-in viewer's home timeline, hot, 25 posts, as
//! a client's home screen asks for it: the viewer's subscriptions minus their blocks, each
//! community weighted by the subscription's `contentVisibility`, every post with its
//! author, community, counts and the viewer's vote and subscription.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, ensure};
use axum::http::HeaderValue;
use coves_plugin_api::DbPool;
use coves_plugin_api::ranking::Sort;
use coves_plugin_feed::feeds::{FeedKind, list_feed};
use coves_plugin_post::service::{PostRow, page_start};
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::driver::Workload;
use super::identity::BenchKey;

/// The XRPC method measured.
pub const METHOD: &str = "social.coves.feed.getTimeline";

/// Posts per page.
const PAGE: i64 = 25;

/// Viewers with at least one subscription, in a fixed pseudo-random order (`md5` of the
/// DID), the first `limit` of them when given.
pub async fn targets(conn: &mut AsyncPgConnection, limit: Option<i64>) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Viewer {
        #[diesel(sql_type = Text)]
        did: String,
    }
    let limit = limit.map_or_else(|| "ALL".to_owned(), |n| n.to_string());
    let rows: Vec<Viewer> = sql_query(format!(
        "SELECT a.did FROM actors a WHERE EXISTS (SELECT 1 FROM community_subscriptions s WHERE s.actor_did = a.did) \
         ORDER BY md5(a.did) LIMIT {limit}"
    ))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.did).collect())
}

/// The `Authorization` header of each viewer: a service-auth token for [`METHOD`], valid
/// for `valid_secs`, minted before the run so that signing is not measured.
pub async fn authorizations(
    key: Arc<BenchKey>,
    viewers: Arc<Vec<String>>,
    valid_secs: i64,
) -> anyhow::Result<Vec<HeaderValue>> {
    tokio::task::spawn_blocking(move || {
        viewers
            .iter()
            .map(|viewer| Ok(HeaderValue::from_str(&format!("Bearer {}", key.token(viewer, METHOD, valid_secs)?))?))
            .collect()
    })
    .await?
}

/// Viewers whose timeline came back empty (it should not: every viewer subscribes).
#[derive(Default)]
pub struct Empty(Mutex<HashSet<usize>>);

impl Empty {
    fn add(&self, index: usize) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(index);
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// `getTimeline` over HTTP, XRPC, with the viewer's bearer token.
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub targets: Arc<Vec<String>>,
    pub authorizations: Arc<Vec<HeaderValue>>,
    pub empty: Empty,
}

impl Workload for Http {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let viewer = &self.targets[index];
        let limit = PAGE.to_string();
        let response = self
            .client
            .get(format!("{}/xrpc/{METHOD}", self.base))
            .query(&[("sort", "hot"), ("limit", &limit)])
            .header(reqwest::header::AUTHORIZATION, self.authorizations[index].clone())
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("HTTP {status}: not JSON"))?;
        ensure!(status.is_success(), "{viewer}: HTTP {status}: {body}");
        let feed = body["feed"].as_array().with_context(|| format!("{viewer}: no feed array in the answer"))?;
        if feed.is_empty() {
            self.empty.add(index);
        }
        Ok(())
    }
}

/// The same page from the service functions the handler calls, in the same order: the
/// feed (blocks, subscriptions, score levels, then the ranked page), then what its
/// PostViews join (authors, communities, vote and comment counts, the viewer's votes and
/// subscriptions).
pub struct Direct {
    pub pool: DbPool,
    pub targets: Arc<Vec<String>>,
    pub empty: Empty,
}

impl Workload for Direct {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let viewer = self.targets[index].as_str();
        let mut conn = self.pool.get().await?;
        let start = page_start(Sort::Hot, None)?;
        let page = list_feed(&mut conn, &FeedKind::Timeline, Some(viewer), &start, PAGE).await?;
        let posts: Vec<&PostRow> = page.items.iter().map(|listed| &listed.item).collect();
        if posts.is_empty() {
            self.empty.add(index);
        }
        // As the feed plugin's `Joined::read`, argument for argument.
        let subjects: Vec<&str> = posts.iter().map(|p| p.uri.as_str()).collect();
        let authors: Vec<String> = posts.iter().map(|p| p.author_did.clone()).collect();
        let communities: Vec<&str> = posts.iter().map(|p| p.community_did.as_str()).collect();
        coves_plugin_actor::find_actors_by_did(&mut conn, &authors).await?;
        let communities: HashMap<String, _> = coves_plugin_community::find_communities(&mut conn, &communities)
            .await?
            .into_iter()
            .map(|c| (c.did.clone(), c))
            .collect();
        coves_plugin_vote::service::vote_counts(&mut conn, &subjects).await?;
        coves_plugin_comment::service::comment_counts(&mut conn, &subjects).await?;
        let pairs: Vec<(String, String)> = subjects.iter().map(|s| (viewer.to_owned(), (*s).to_owned())).collect();
        coves_plugin_vote::service::effective_votes(&mut conn, &pairs).await?;
        if !communities.is_empty() {
            let dids: Vec<&str> = communities.keys().map(String::as_str).collect();
            coves_plugin_subscription::viewer_subscriptions(&mut conn, viewer, &dids).await?;
        }
        Ok(())
    }
}

/// The server's DID-document lookups so far (`identity_lookups_total{kind="did"}` of its
/// `/metrics`), by `source/outcome`.
pub async fn did_lookups(client: &reqwest::Client, base: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = client.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    let mut lookups = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("identity_lookups_total{") && l.contains("kind=\"did\"")) {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            Some(&line[start..start + line[start..].find('"')?])
        };
        let (Some(source), Some(outcome)) = (label("source"), label("outcome")) else { continue };
        let count = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        lookups.insert(format!("{source}/{outcome}"), count as u64);
    }
    Ok(lookups)
}

/// `after − before`, per key, leaving out zeros.
pub fn difference(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(key, n)| (key.clone(), n.saturating_sub(before.get(key).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect()
}
