//! GraphQL: the fields votes add to every votable record type (`Post`, `Comment`):
//! `upvotes`, `downvotes`, `score` and the viewer's `viewerVote`.
//!
//! They read only the parent's URI ([`RecordNode`]), through loaders that batch a page's
//! subjects into one query each.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, Object, ResolverContext, TypeRef,
};
use coves_plugin_api::graphql::{RecordNode, parent_field, parent_record};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar, RegistrarError, Viewer};

use crate::service::{EffectiveVote, VoteCounts, effective_votes, vote_counts};

/// The record types votes count on.
pub const VOTABLE_TYPES: &[&str] = &["Post", "Comment"];

const VIEWER_VOTE: &str = "ViewerVote";
const DIRECTION: &str = "VoteDirection";

/// Vote counts by subject URI.
struct CountsLoader(AppContext);

impl Loader<String> for CountsLoader {
    type Value = VoteCounts;
    type Error = LoadError;

    async fn load(&self, subjects: &[String]) -> Loaded<String, VoteCounts> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        vote_counts(&mut conn, &subjects).await.map_err(load_error)
    }
}

/// Effective votes by (voter DID, subject URI).
struct ViewerVoteLoader(AppContext);

impl Loader<(String, String)> for ViewerVoteLoader {
    type Value = EffectiveVote;
    type Error = LoadError;

    async fn load(&self, pairs: &[(String, String)]) -> Loaded<(String, String), EffectiveVote> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        effective_votes(&mut conn, pairs).await.map_err(load_error)
    }
}

/// The viewer's vote with the voter's DID (for its URI).
struct ViewerVote {
    voter: String,
    vote: EffectiveVote,
}

/// A record's counts, loaded once for its three count fields.
async fn counts(ctx: &ResolverContext<'_>, record: &RecordNode) -> coves_plugin_api::async_graphql::Result<VoteCounts> {
    record
        .memo(|| async { Ok(load_one::<_, CountsLoader>(ctx, record.uri().to_owned()).await?.unwrap_or_default()) })
        .await
}

/// The viewer's effective vote on a record; `None` for anonymous requests.
async fn viewer_vote(
    ctx: &ResolverContext<'_>,
    record: &RecordNode,
) -> coves_plugin_api::async_graphql::Result<Option<ViewerVote>> {
    let Some(voter) = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref()) else { return Ok(None) };
    let voter = voter.as_str().to_owned();
    let key = (voter.clone(), record.uri().to_owned());
    let vote = record.memo(|| async { load_one::<_, ViewerVoteLoader>(ctx, key).await }).await?;
    Ok(vote.map(|vote| ViewerVote { voter, vote }))
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| CountsLoader(app.clone()));
    register_loader(registrar, |app| ViewerVoteLoader(app.clone()));
    registrar.add_type(
        Enum::new(DIRECTION).description("A vote's direction.").items([EnumItem::new("UP"), EnumItem::new("DOWN")]),
    )?;
    registrar.add_type(Object::new(VIEWER_VOTE).description("The viewer's effective vote on a post or comment."))?;
    registrar.add_field(
        VIEWER_VOTE,
        "direction",
        parent_field::<ViewerVote>("direction", TypeRef::named_nn(DIRECTION), |v| {
            Some(Value::Enum(coves_plugin_api::async_graphql::Name::new(v.vote.direction_name().to_ascii_uppercase())))
        })
        .description("UP or DOWN."),
    )?;
    registrar.add_field(
        VIEWER_VOTE,
        "uri",
        parent_field::<ViewerVote>("uri", TypeRef::named_nn(TypeRef::STRING), |v| Some(v.vote.uri(&v.voter).into()))
            .description("The vote record's AT-URI in the viewer's repo (delete it to retract the vote)."),
    )?;
    registrar.add_field(
        VIEWER_VOTE,
        "rkey",
        parent_field::<ViewerVote>("rkey", TypeRef::named_nn(TypeRef::STRING), |v| Some(v.vote.rkey.clone().into()))
            .description("The vote record's key."),
    )?;
    for ty in VOTABLE_TYPES {
        register_on(registrar, ty)?;
    }
    Ok(())
}

type CountGetter = fn(&VoteCounts) -> i64;

fn register_on(registrar: &mut Registrar, ty: &str) -> Result<(), RegistrarError> {
    let counters: [(&str, &str, CountGetter); 3] = [
        ("upvotes", "Effective upvotes (one per voter: the newest of the voter's live votes).", |c| {
            i64::from(c.upvotes)
        }),
        ("downvotes", "Effective downvotes.", |c| i64::from(c.downvotes)),
        ("score", "upvotes − downvotes (may be negative).", VoteCounts::score),
    ];
    for (name, description, get) in counters {
        let field = Field::new(name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
            FieldFuture::new(async move { Ok(Some(Value::from(get(&counts(&ctx, parent_record(&ctx)?).await?)))) })
        });
        registrar.add_field(ty, name, field.description(description))?;
    }
    let field = Field::new("viewerVote", TypeRef::named(VIEWER_VOTE), |ctx| {
        FieldFuture::new(async move { Ok(viewer_vote(&ctx, parent_record(&ctx)?).await?.map(FieldValue::owned_any)) })
    });
    registrar.add_prefetch(ty, &["upvotes", "downvotes", "score"], |ctx, record| {
        Box::pin(async move { drop(counts(ctx, record).await) })
    });
    registrar
        .add_prefetch(ty, &["viewerVote"], |ctx, record| Box::pin(async move { drop(viewer_vote(ctx, record).await) }));
    registrar.add_field(
        ty,
        "viewerVote",
        field.description("The authenticated viewer's effective vote; null for anonymous requests or without a vote."),
    )
}
