//! Wire shapes: CommunityView (list, search) and CommunityViewDetailed (get), COVES_API
//! §5.4. Optional keys are omitted, never null; counters are flat integers; datetimes end
//! in `Z`.

use coves_plugin_api::InstanceInfo;
use coves_plugin_api::images::ImagePreset;
use coves_plugin_api::syntax::format_datetime;
use serde_json::{Map, Value};

use crate::service::{CommunityPage, CommunityRow};

/// CommunityView: what lists and searches show (small avatar).
pub fn community_view(community: &CommunityRow, instance: &InstanceInfo) -> Map<String, Value> {
    common(community, instance, ImagePreset::AvatarSmall)
}

/// `{"communities": [CommunityView], "cursor"?}`: a page of a list or a search, each view
/// with the `viewer` state `viewer` gives it (if any).
pub fn community_page(
    page: &CommunityPage,
    instance: &InstanceInfo,
    viewer: impl Fn(&CommunityRow) -> Option<Value>,
) -> Map<String, Value> {
    let mut body = Map::new();
    let communities: Vec<Value> = page
        .items
        .iter()
        .map(|item| {
            let mut view = community_view(&item.item, instance);
            if let Some(state) = viewer(&item.item) {
                view.insert("viewer".into(), state);
            }
            Value::Object(view)
        })
        .collect();
    body.insert("communities".into(), communities.into());
    if let Some(cursor) = page.next_cursor() {
        body.insert("cursor".into(), cursor.into());
    }
    body
}

/// CommunityViewDetailed: everything `community.get` shows.
pub fn community_view_detailed(community: &CommunityRow, instance: &InstanceInfo) -> Map<String, Value> {
    let mut view = common(community, instance, ImagePreset::Avatar);
    if let Some(facets) = community.description_facets.as_ref().filter(|f| f.as_array().is_some_and(|a| !a.is_empty()))
    {
        view.insert("descriptionFacets".into(), facets.clone());
    }
    if let Some(banner) = community.banner_url(instance) {
        view.insert("banner".into(), banner.into());
    }
    view.insert("createdBy".into(), community.created_by.clone().into());
    view.insert("hostedBy".into(), community.hosted_by.clone().into());
    view.insert("moderationType".into(), community.moderation_type.clone().into());
    if !community.content_warnings.is_empty() {
        view.insert("contentWarnings".into(), community.content_warnings.clone().into());
    }
    view.insert("allowExternalDiscovery".into(), community.allow_external_discovery.into());
    view
}

fn common(community: &CommunityRow, instance: &InstanceInfo, avatar: ImagePreset) -> Map<String, Value> {
    let mut view = Map::new();
    view.insert("did".into(), community.did.clone().into());
    view.insert("handle".into(), community.handle.clone().into());
    view.insert("displayHandle".into(), community.display_handle().into());
    view.insert("name".into(), community.name.clone().into());
    if let Some(display_name) = &community.display_name {
        view.insert("displayName".into(), display_name.clone().into());
    }
    if let Some(description) = &community.description {
        view.insert("description".into(), description.clone().into());
    }
    if let Some(url) = community.avatar_url(instance, avatar) {
        view.insert("avatar".into(), url.into());
    }
    view.insert("visibility".into(), community.visibility.clone().into());
    view.insert("subscriberCount".into(), community.subscriber_count.into());
    view.insert("memberCount".into(), community.member_count.into());
    view.insert("postCount".into(), community.post_count.into());
    view.insert("createdAt".into(), format_datetime(&community.created_at).into());
    view
}
