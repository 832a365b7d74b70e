//! The `Post` object type. Its parent value is a [`RecordNode`] holding a [`PostRow`], so
//! other plugins add fields to it from the URI alone (votes, comment counts).

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::{ACTOR, load_actor};
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, ResolverContext, TypeRef};
use coves_plugin_api::async_graphql::{self, Value};
use coves_plugin_api::graphql::{RecordNode, parent_record, record_field};
use coves_plugin_api::graphql_types::{JSON, register_connection};
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::views::{BlobOwner, embed_view};
use coves_plugin_api::{AppContext, Registrar, RegistrarError};
use coves_plugin_community::CommunityRow;
use coves_plugin_community::graphql::{COMMUNITY, load_community};

use crate::service::PostRow;

pub const POST: &str = "Post";

type Getter = fn(&PostRow, &AppContext) -> Option<Value>;

fn json(value: &Option<serde_json::Value>) -> Option<Value> {
    value.clone().and_then(|v| Value::from_json(v).ok())
}

fn strings(values: &[String]) -> Option<Value> {
    Some(Value::List(values.iter().cloned().map(Value::from).collect()))
}

/// The post as a GraphQL parent value.
pub fn node(post: PostRow) -> RecordNode {
    RecordNode::new(post.uri.clone(), post.cid.clone(), post)
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(POST).description(
        "A post (social.coves.community.post) in a community. Live posts of readable communities by active \
         authors only.",
    ))?;
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let list = || TypeRef::named_nn_list_nn(TypeRef::STRING);
    let fields: [(&str, TypeRef, &str, Getter); 13] = [
        ("uri", string_nn(), "at://<community DID>/social.coves.community.post/<rkey>.", |p, _| {
            Some(p.uri.clone().into())
        }),
        ("cid", string_nn(), "CID of the indexed version.", |p, _| Some(p.cid.clone().into())),
        ("rkey", string_nn(), "Record key (a TID).", |p, _| Some(p.rkey.clone().into())),
        ("title", string(), "Title.", |p, _| p.title.clone().map(Value::from)),
        ("content", string(), "Body text (Markdown unless facets are given).", |p, _| {
            p.content.clone().map(Value::from)
        }),
        ("facets", TypeRef::named(JSON), "Rich-text facets of content (UTF-8 byte ranges), verbatim.", |p, _| {
            json(&p.facets)
        }),
        ("langs", list(), "Languages (BCP 47).", |p, _| strings(&p.langs)),
        ("tags", list(), "Hashtags.", |p, _| strings(&p.tags)),
        ("labels", TypeRef::named(JSON), "Self-labels (com.atproto.label.defs#selfLabels), verbatim.", |p, _| {
            json(&p.labels)
        }),
        (
            "record",
            TypeRef::named_nn(JSON),
            "The record as stored, with $type, createdAt normalized to UTC (Z).",
            |p, _| Value::from_json(p.record_view()).ok(),
        ),
        (
            "createdAt",
            string_nn(),
            "Effective creation time: the record's createdAt, or when the AppView first saw the post if earlier (RFC 3339, UTC).",
            |p, _| Some(format_datetime(&p.sort_at).into()),
        ),
        ("indexedAt", string_nn(), "When the AppView first indexed the post.", |p, _| {
            Some(format_datetime(&p.indexed_at).into())
        }),
        ("editedAt", string(), "When the post was last edited; null if never.", |p, _| {
            p.edited_at.as_ref().map(|t| format_datetime(t).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(POST, name, record_field::<PostRow>(name, ty, get).description(description))?;
    }
    registrar.add_field(
        POST,
        "embed",
        Field::new("embed", TypeRef::named(JSON), |ctx| {
            FieldFuture::new(async move {
                let app = ctx.data::<AppContext>()?;
                let record = parent_record(&ctx)?;
                let post = record.try_row::<PostRow>()?;
                let Some(embed) = &post.embed else { return Ok(None) };
                // Blobs live in the community's repo.
                let community = community(&ctx, record).await?;
                let owner = BlobOwner {
                    did: &post.community_did,
                    pds: community.as_ref().and_then(|c| c.pds_endpoint.as_deref()),
                    instance: &app.instance,
                };
                Ok(Value::from_json(embed_view(embed, &owner)).ok().map(FieldValue::value))
            })
        })
        .description("The embed (external link, images, video, quoted post) with blobs as absolute URLs."),
    )?;
    registrar.add_field(
        POST,
        "community",
        Field::new("community", TypeRef::named(COMMUNITY), |ctx| {
            FieldFuture::new(async move { Ok(community(&ctx, parent_record(&ctx)?).await?.map(FieldValue::owned_any)) })
        })
        .description("The community the post is in (null only if it became unreadable since)."),
    )?;
    registrar.add_field(
        POST,
        "author",
        Field::new("author", TypeRef::named(ACTOR), |ctx| {
            FieldFuture::new(async move { Ok(author(&ctx, parent_record(&ctx)?).await?.map(FieldValue::owned_any)) })
        })
        .description("The author (null only if the account became inactive since)."),
    )?;
    registrar.add_prefetch(POST, &["community", "embed"], |ctx, record| {
        Box::pin(async move { drop(community(ctx, record).await) })
    });
    registrar.add_prefetch(POST, &["author"], |ctx, record| Box::pin(async move { drop(author(ctx, record).await) }));
    register_connection::<RecordNode>(registrar, POST, "A page of posts.")
}

/// The post's community, loaded once for `community` and `embed`.
async fn community(ctx: &ResolverContext<'_>, record: &RecordNode) -> async_graphql::Result<Option<CommunityRow>> {
    let post = record.try_row::<PostRow>()?;
    record.memo(|| load_community(ctx, &post.community_did)).await
}

async fn author(ctx: &ResolverContext<'_>, record: &RecordNode) -> async_graphql::Result<Option<ActorRow>> {
    let post = record.try_row::<PostRow>()?;
    record.memo(|| load_actor(ctx, &post.author_did)).await
}
