//! `Community.viewerSubscription`: the authenticated viewer's subscription, read for all
//! the communities of a page with one query.

use std::collections::{BTreeMap, HashMap};

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::{AppContext, Registrar, RegistrarError, Viewer};
use coves_plugin_community::CommunityRow;
use coves_plugin_community::graphql::COMMUNITY;

use super::COMMUNITY_SUBSCRIPTION;
use super::subscription::SubscriptionNode;
use crate::service::{Subscription, viewer_subscriptions};

/// Subscriptions by (viewer DID, community DID).
struct ViewerSubscriptionLoader(AppContext);

impl Loader<(String, String)> for ViewerSubscriptionLoader {
    type Value = Subscription;
    type Error = LoadError;

    async fn load(&self, pairs: &[(String, String)]) -> Loaded<(String, String), Subscription> {
        // A request has one viewer; group anyway, as loaders are shared by all requests.
        let mut by_viewer: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (viewer, community) in pairs {
            by_viewer.entry(viewer.as_str()).or_default().push(community.as_str());
        }
        let mut conn = self.0.conn().await.map_err(load_error)?;
        let mut found = HashMap::new();
        for (viewer, communities) in by_viewer {
            let subscriptions = viewer_subscriptions(&mut conn, viewer, &communities).await.map_err(load_error)?;
            found.extend(subscriptions.into_iter().map(|(community, s)| ((viewer.to_owned(), community), s)));
        }
        Ok(found)
    }
}

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| ViewerSubscriptionLoader(app.clone()));
    let field = Field::new("viewerSubscription", TypeRef::named(COMMUNITY_SUBSCRIPTION), |ctx| {
        FieldFuture::new(async move {
            let Some(viewer) = ctx.data_opt::<Viewer>().and_then(|v| v.did.as_ref()) else { return Ok(None) };
            let actor_did = viewer.as_str().to_owned();
            let community = ctx.parent_value.try_downcast_ref::<CommunityRow>()?.did.clone();
            let subscription = load_one::<_, ViewerSubscriptionLoader>(&ctx, (actor_did.clone(), community)).await?;
            Ok(subscription.map(|subscription| FieldValue::owned_any(SubscriptionNode { actor_did, subscription })))
        })
    });
    registrar.add_field(
        COMMUNITY,
        "viewerSubscription",
        field.description(
            "The authenticated viewer's subscription to this community; null for anonymous requests or when not \
             subscribed.",
        ),
    )
}
