//! The comments workload: a post's comment thread, three levels deep, ranked hot, as a
//! client's post page asks for it.

use std::sync::Arc;

use anyhow::{Context, ensure};
use coves_plugin_api::DbPool;
use coves_plugin_api::ranking::Sort;
use coves_plugin_comment::thread::{self, CommentFilter, CommentRow, list_comments};
use coves_plugin_post::service::find_thread_root;
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::driver::Workload;

/// The XRPC method measured.
pub const METHOD: &str = "social.coves.community.comment.getComments";

/// Comments per page (top level).
const PAGE: i64 = 25;
/// Levels of replies below the top level.
const DEPTH: i64 = 3;
/// How many posts with comments the clients pick from.
const SAMPLE: i64 = 10_000;

/// A deterministic sample of readable posts that have live comments.
pub async fn targets(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Uri {
        #[diesel(sql_type = Text)]
        uri: String,
    }
    let rows: Vec<Uri> = sql_query(format!(
        "SELECT p.uri FROM posts p JOIN comment_counts cc ON cc.subject_uri = p.uri \
         WHERE cc.thread_count > 0 AND NOT p.deleted ORDER BY md5(p.uri) LIMIT {SAMPLE}"
    ))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.uri).collect())
}

/// `getComments` over HTTP, XRPC.
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub targets: Arc<Vec<String>>,
}

impl Http {
    fn get(&self, post: &str) -> reqwest::RequestBuilder {
        let depth = DEPTH.to_string();
        let limit = PAGE.to_string();
        self.client.get(format!("{}/xrpc/{METHOD}", self.base)).query(&[
            ("post", post),
            ("sort", "hot"),
            ("depth", &depth),
            ("limit", &limit),
        ])
    }

    /// Whether the server serves the method (an unknown one answers 501
    /// `MethodNotImplemented`; 404 `MethodNotFound` is accepted too).
    pub async fn served(&self) -> anyhow::Result<bool> {
        let post = self.targets[..].first().context("no post to ask for")?;
        let response = self.get(post).send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        let unknown = matches!(body["error"].as_str(), Some("MethodNotImplemented" | "MethodNotFound"));
        Ok(!(matches!(status, 404 | 501) && unknown))
    }
}

impl Workload for Http {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let post = &self.targets[index];
        let response = self.get(post).send().await?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("HTTP {status}: not JSON"))?;
        ensure!(status.is_success(), "{post}: HTTP {status}: {body}");
        ensure!(body["post"].is_object(), "{post}: no post in the answer");
        ensure!(body["comments"].is_array(), "{post}: no comments list in the answer");
        Ok(())
    }
}

/// The same thread from the service functions the XRPC handler calls.
pub struct Direct {
    pub pool: DbPool,
    pub targets: Arc<Vec<String>>,
}

impl Workload for Direct {
    fn targets(&self) -> usize {
        self.targets.len()
    }

    async fn request(&self, index: usize) -> anyhow::Result<()> {
        let post = &self.targets[index];
        let mut conn = self.pool.get().await?;
        direct_comments(&mut conn, post).await
    }
}

/// Reads `post`'s thread as `getComments` does, statement by statement: the root post,
/// the first page of top-level comments ranked hot, [`DEPTH`] levels of first replies
/// with which comments at the depth limit have more (`thread::expand`, as the handler
/// does), then the commenters, the community, and the vote and comment counts of them all.
async fn direct_comments(conn: &mut AsyncPgConnection, post: &str) -> anyhow::Result<()> {
    let start = thread::page_start(Sort::Hot, None)?;
    let root = find_thread_root(conn, post).await?.context("thread root not readable")?;
    let filter = CommentFilter::TopLevel { root: post.to_owned() };
    let page = list_comments(conn, &filter, &start, PAGE).await?;
    let top: Vec<&CommentRow> = page.items.iter().map(|i| &i.item).collect();
    let tree = thread::expand(conn, &top, &start, DEPTH).await?;
    let comments: Vec<&CommentRow> = top.iter().copied().chain(tree.comments()).collect();
    let mut subjects: Vec<&str> = comments.iter().map(|c| c.uri.as_str()).collect();
    subjects.push(&root.post.uri);
    let mut actors: Vec<String> = comments.iter().map(|c| c.commenter_did.clone()).collect();
    actors.push(root.post.author_did.clone());
    coves_plugin_actor::find_actors_by_did(conn, &actors).await?;
    coves_plugin_community::find_communities(conn, &[&root.post.community_did]).await?;
    coves_plugin_vote::service::vote_counts(conn, &subjects).await?;
    coves_plugin_comment::service::comment_counts(conn, &subjects).await?;
    Ok(())
}
