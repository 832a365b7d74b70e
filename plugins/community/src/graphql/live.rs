//! `Subscription.communityStats(id:)`: a community's subscriber and post counts, pushed
//! when the ingest announces the community changed (the subscription and post plugins
//! announce its DID when they move its counters).

use std::collections::HashMap;
use std::sync::Arc;

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::TypeRef;
use coves_plugin_api::diesel::sql_types::{Array, BigInt, Text};
use coves_plugin_api::diesel::{QueryResult, QueryableByName, sql_query};
use coves_plugin_api::diesel_async::{AsyncPgConnection, RunQueryDsl};
use coves_plugin_api::identifiers::parse_community_id;
use coves_plugin_api::live::graphql::{live_field, live_subscription, register_live_type};
use coves_plugin_api::live::{LiveKind, LiveValue};
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::service::{VISIBLE, resolve_community};

const COMMUNITY_STATS: &str = "CommunityStats";

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = Text)]
    did: String,
    #[diesel(sql_type = BigInt)]
    subscriber_count: i64,
    #[diesel(sql_type = BigInt)]
    post_count: i64,
}

static KIND: LiveKind = LiveKind { name: "communityStats", load: |conn, dids| load(conn, dids).boxed() };

async fn load(conn: &mut AsyncPgConnection, dids: &[String]) -> QueryResult<HashMap<String, LiveValue>> {
    let rows: Vec<Counts> = sql_query(format!(
        "/* community::live */ SELECT did, subscriber_count, post_count FROM communities WHERE did = ANY($1) AND {VISIBLE}"
    ))
    .bind::<Array<Text>, _>(dids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.did.clone(), Arc::new(r) as LiveValue)).collect())
}

/// Resolves the `id` argument to the DID its counters are announced under.
fn community_did<'a>(app: &'a AppContext, raw: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
    async move {
        let id = parse_community_id(raw, &app.instance.domains)?;
        let mut conn = app.conn().await?;
        resolve_community(&mut conn, &id)
            .await?
            .ok_or_else(|| ApiError::not_found("CommunityNotFound", format!("community {raw} not found")))
    }
    .boxed()
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_live_type(registrar, COMMUNITY_STATS, "A community's counters, live.")?;
    registrar.add_field(
        COMMUNITY_STATS,
        "did",
        live_field::<Counts>("did", TypeRef::named_nn(TypeRef::STRING), "The community's DID.", |c| {
            Value::from(c.did.as_str())
        }),
    )?;
    registrar.add_field(
        COMMUNITY_STATS,
        "subscriberCount",
        live_field::<Counts>(
            "subscriberCount",
            TypeRef::named_nn(TypeRef::INT),
            "Users with a live subscription.",
            |c| Value::from(c.subscriber_count),
        ),
    )?;
    registrar.add_field(
        COMMUNITY_STATS,
        "postCount",
        live_field::<Counts>("postCount", TypeRef::named_nn(TypeRef::INT), "Live posts.", |c| {
            Value::from(c.post_count)
        }),
    )?;
    registrar.add_subscription_field(
        "communityStats",
        live_subscription(
            "communityStats",
            COMMUNITY_STATS,
            &KIND,
            ("id", "The community: a DID, handle, or !name@instance."),
            community_did,
            "A community's subscriber and post counts: the current value, then each change.",
        ),
    )
}
