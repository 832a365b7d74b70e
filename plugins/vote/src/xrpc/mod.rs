//! XRPC methods of the vote plugin: the write procedures, which answer
//! `WriteDirectlyToPDS` (COVES_API §1.3): votes are written by clients to their own PDS.

mod create;
mod delete;

use coves_plugin_api::syntax::Did;
use coves_plugin_api::write_directly;
use coves_plugin_api::{AppContext, XrpcMethod};

use crate::service::{EffectiveVote, effective_vote};

/// Where clients find the URI of the viewer's vote.
const VOTE_URI_FIELD: &str = "viewer.voteUri of the post or comment view";

pub fn methods() -> Vec<XrpcMethod> {
    vec![
        write_directly::procedure(create::NSID, |req| Box::pin(create::create_vote(req))),
        write_directly::procedure(delete::NSID, |req| Box::pin(delete::delete_vote(req))),
    ]
}

/// The viewer's effective vote on `subject_uri`, best effort: the answer is the same
/// error with or without it, so a database problem only leaves it out (and is logged).
async fn indexed_vote(app: &AppContext, viewer: &Did, subject_uri: &str) -> Option<EffectiveVote> {
    let lookup = async {
        let mut conn = app.conn().await.map_err(|e| e.message)?;
        effective_vote(&mut conn, viewer.as_str(), subject_uri).await.map_err(|e| e.to_string())
    };
    match lookup.await {
        Ok(vote) => vote,
        Err(error) => {
            tracing::warn!(%error, "viewer's vote lookup failed; answering WriteDirectlyToPDS without it");
            None
        }
    }
}
