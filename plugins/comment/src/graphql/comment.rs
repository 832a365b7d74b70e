//! The `Comment` object type. Its parent value is a [`RecordNode`] holding a
//! [`CommentRow`], so other plugins add fields to it from the URI (votes).

use coves_plugin_actor::ActorRow;
use coves_plugin_actor::graphql::{ACTOR, load_actor};
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, ResolverContext, TypeRef};
use coves_plugin_api::async_graphql::{self, Value};
use coves_plugin_api::graphql::{RecordNode, parent_record, record_field};
use coves_plugin_api::graphql_types::{JSON, register_connection};
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::views::{BlobOwner, embed_view};
use coves_plugin_api::{AppContext, Registrar, RegistrarError};
use coves_plugin_post::graphql::{POST, load_post};

use crate::thread::CommentRow;

pub const COMMENT: &str = "Comment";

type Getter = fn(&CommentRow, &AppContext) -> Option<Value>;

/// The comment as a GraphQL parent value.
pub fn node(comment: CommentRow) -> RecordNode {
    RecordNode::new(comment.uri.clone(), comment.cid.clone(), comment)
}

fn json(value: &Option<serde_json::Value>) -> Option<Value> {
    value.clone().and_then(|v| Value::from_json(v).ok())
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(COMMENT).description(
        "A comment (social.coves.community.comment) in a post's thread. A deleted comment inside a thread stays \
         as a placeholder (isDeleted, no content or author) so its replies keep their place.",
    ))?;
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let fields: [(&str, TypeRef, &str, Getter); 15] = [
        ("uri", string_nn(), "at://<author DID>/social.coves.community.comment/<rkey>.", |c, _| {
            Some(c.uri.clone().into())
        }),
        ("cid", string_nn(), "CID of the indexed version.", |c, _| Some(c.cid.clone().into())),
        ("rkey", string_nn(), "Record key (a TID).", |c, _| Some(c.rkey.clone().into())),
        ("content", string(), "The text; null on placeholders.", |c, _| c.content.clone().map(Value::from)),
        ("facets", TypeRef::named(JSON), "Rich-text facets of content (UTF-8 byte ranges), verbatim.", |c, _| {
            json(&c.facets)
        }),
        ("langs", TypeRef::named_nn_list_nn(TypeRef::STRING), "Languages (BCP 47).", |c, _| {
            Some(Value::List(c.langs.iter().cloned().map(Value::from).collect()))
        }),
        ("labels", TypeRef::named(JSON), "Self-labels, verbatim.", |c, _| json(&c.labels)),
        (
            "record",
            TypeRef::named(JSON),
            "The record, createdAt normalized to UTC (Z); null on placeholders.",
            |c, _| c.record_view().and_then(|r| Value::from_json(r).ok()),
        ),
        ("rootUri", string_nn(), "The thread's post.", |c, _| Some(c.root_uri.clone().into())),
        ("parentUri", string_nn(), "The post (for top-level comments) or comment replied to.", |c, _| {
            Some(c.parent_uri.clone().into())
        }),
        (
            "createdAt",
            string_nn(),
            "Effective creation time: the record's createdAt, or when the AppView first saw the comment if earlier.",
            |c, _| Some(format_datetime(&c.sort_at).into()),
        ),
        ("indexedAt", string_nn(), "When the AppView indexed this version.", |c, _| {
            Some(format_datetime(&c.indexed_at).into())
        }),
        ("editedAt", string(), "When the comment was last edited; null if never.", |c, _| {
            c.edited_at.as_ref().map(|t| format_datetime(t).into())
        }),
        (
            "isDeleted",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            "Whether this is a placeholder of a deleted comment.",
            |c, _| Some(c.deleted.into()),
        ),
        ("deletionReason", string(), "author or moderator, on placeholders.", |c, _| {
            c.deletion_reason.clone().map(Value::from)
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(COMMENT, name, record_field::<CommentRow>(name, ty, get).description(description))?;
    }
    registrar.add_field(
        COMMENT,
        "embed",
        Field::new("embed", TypeRef::named(JSON), |ctx| {
            FieldFuture::new(async move {
                let app = ctx.data::<AppContext>()?;
                let record = parent_record(&ctx)?;
                let comment = record.try_row::<CommentRow>()?;
                let Some(embed) = &comment.embed else { return Ok(None) };
                // A comment's blobs live in its author's repo.
                let author = author(&ctx, record).await?;
                let owner = BlobOwner {
                    did: &comment.commenter_did,
                    pds: author.as_ref().and_then(|a| a.pds_endpoint.as_deref()),
                    instance: &app.instance,
                };
                Ok(Value::from_json(embed_view(embed, &owner)).ok().map(FieldValue::value))
            })
        })
        .description("The embed (images, quoted post) with blobs as absolute URLs."),
    )?;
    registrar.add_field(
        COMMENT,
        "author",
        Field::new("author", TypeRef::named(ACTOR), |ctx| {
            FieldFuture::new(async move {
                let record = parent_record(&ctx)?;
                if record.try_row::<CommentRow>()?.deleted {
                    return Ok(None);
                }
                Ok(author(&ctx, record).await?.map(FieldValue::owned_any))
            })
        })
        .description("The author; null on placeholders."),
    )?;
    registrar.add_field(
        COMMENT,
        "post",
        Field::new("post", TypeRef::named(POST), |ctx| {
            FieldFuture::new(async move {
                let comment = parent_record(&ctx)?.try_row::<CommentRow>()?;
                Ok(load_post(&ctx, &comment.root_uri).await?.map(FieldValue::owned_any))
            })
        })
        .description("The thread's post; null while it is not indexed or readable."),
    )?;
    registrar.add_prefetch(COMMENT, &["author", "embed"], |ctx, record| {
        Box::pin(async move { drop(author(ctx, record).await) })
    });
    register_connection::<RecordNode>(registrar, COMMENT, "A page of comments.")
}

/// The commenter, loaded once for `author` and `embed`.
async fn author(ctx: &ResolverContext<'_>, record: &RecordNode) -> async_graphql::Result<Option<ActorRow>> {
    let comment = record.try_row::<CommentRow>()?;
    record.memo(|| load_actor(ctx, &comment.commenter_did)).await
}
