//! The posts workload: a community's first page of posts ranked hot, with each post's
//! author, community and vote and comment counts, as a client's front page asks for it.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use coves_plugin_api::DbPool;
use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::ranking::Sort;
use coves_plugin_post::service::{PostFilter, list_posts, page_start};
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use super::driver::Workload;

/// Posts per page.
const PAGE: i64 = 25;

/// The GraphQL query a client's community page sends.
const QUERY: &str = "query($c: String!) { posts(community: $c, sort: HOT, first: 25) { edges { cursor node { \
     uri title score upvotes downvotes commentCount totalCommentCount createdAt \
     author { did handle displayName } community { did name displayHandle } } } \
     pageInfo { hasNextPage endCursor } } }";

/// A community to read, and how many posts its first page must hold.
#[derive(QueryableByName)]
pub struct Target {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = BigInt)]
    expected: i64,
}

/// Every readable community. Their posts are all readable (live, by active authors), so a
/// first page holds `min(post_count, 25)` posts.
pub async fn targets(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<Target>> {
    Ok(sql_query(format!(
        "SELECT did, LEAST(post_count, {PAGE}) AS expected FROM communities WHERE {} ORDER BY did",
        coves_plugin_community::VISIBLE
    ))
    .load(conn)
    .await?)
}

/// `posts(...)` over HTTP, GraphQL.
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub targets: Arc<Vec<Target>>,
}

impl Workload for Http {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let target = &self.targets[index];
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": QUERY, "variables": { "c": target.did } }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("HTTP {status}: not JSON"))?;
        if let Some(errors) = body.get("errors") {
            bail!("{} answered errors: {errors}", target.did);
        }
        let edges = body["data"]["posts"]["edges"].as_array().map_or(0, Vec::len);
        ensure!(edges as i64 == target.expected, "{}: {edges} posts, expected {}", target.did, target.expected);
        Ok(())
    }
}

/// The same page from the service functions the GraphQL resolvers call, with the same
/// statements: resolve the community, list the page, then load its authors, communities,
/// vote counts and comment counts (the resolvers' batched loaders).
pub struct Direct {
    pub pool: DbPool,
    pub targets: Arc<Vec<Target>>,
}

impl Workload for Direct {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let target = &self.targets[index];
        let id = parse_community_id(&target.did, &[])?;
        let mut conn = self.pool.get().await?;
        let did = coves_plugin_community::resolve_community(&mut conn, &id).await?.context("community not readable")?;
        let filter = PostFilter { community: Some(did), ..PostFilter::default() };
        let page = list_posts(&mut conn, &filter, &page_start(Sort::Hot, None)?, PAGE).await?;
        let posts: Vec<_> = page.items.iter().map(|listed| &listed.item).collect();
        let authors: BTreeSet<&str> = posts.iter().map(|p| p.author_did.as_str()).collect();
        let authors: Vec<String> = authors.into_iter().map(str::to_owned).collect();
        let communities: BTreeSet<&str> = posts.iter().map(|p| p.community_did.as_str()).collect();
        let communities: Vec<&str> = communities.into_iter().collect();
        let uris: Vec<&str> = posts.iter().map(|p| p.uri.as_str()).collect();
        coves_plugin_actor::find_actors_by_did(&mut conn, &authors).await?;
        coves_plugin_community::find_communities(&mut conn, &communities).await?;
        coves_plugin_vote::service::vote_counts(&mut conn, &uris).await?;
        coves_plugin_comment::service::comment_counts(&mut conn, &uris).await?;
        let found = posts.len() as i64;
        ensure!(found == target.expected, "{}: {found} posts, expected {}", target.did, target.expected);
        Ok(())
    }
}
