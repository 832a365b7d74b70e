//! The `Community` object type and its connection.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{Object, TypeRef};
use coves_plugin_api::graphql::{parent_field, parent_field_with_app};
use coves_plugin_api::graphql_types::{JSON, register_connection};
use coves_plugin_api::images::ImagePreset;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{AppContext, Registrar, RegistrarError};

use crate::service::CommunityRow;

pub const COMMUNITY: &str = "Community";

type Getter = fn(&CommunityRow) -> Option<Value>;
type AppGetter = fn(&CommunityRow, &AppContext) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(
        Object::new(COMMUNITY)
            .description("A community: its social.coves.community.profile, verified handle and counters."),
    )?;
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let int_nn = || TypeRef::named_nn(TypeRef::INT);
    let fields: [(&str, TypeRef, &str, Getter); 18] = [
        ("did", string_nn(), "The community's own DID.", |c| Some(c.did.clone().into())),
        ("handle", string_nn(), "The handle verified from the DID (normally c-{name}.{instance}).", |c| {
            Some(c.handle.clone().into())
        }),
        ("displayHandle", string_nn(), "How clients show the handle: !{name}@{instance}.", |c| {
            Some(c.display_handle().into())
        }),
        ("name", string_nn(), "The short name (the {name} in the handle).", |c| Some(c.name.clone().into())),
        ("displayName", string(), "Human-friendly title.", |c| c.display_name.clone().map(Value::from)),
        ("description", string(), "What the community is about.", |c| c.description.clone().map(Value::from)),
        (
            "descriptionFacets",
            TypeRef::named(JSON),
            "Facets of description (social.coves.richtext.facet), verbatim: UTF-8 byte ranges with features.",
            |c| c.description_facets.clone().and_then(|f| Value::from_json(f).ok()),
        ),
        ("createdBy", string_nn(), "DID of the user who founded the community.", |c| Some(c.created_by.clone().into())),
        ("hostedBy", string_nn(), "did:web of the hosting instance (verified against the handle).", |c| {
            Some(c.hosted_by.clone().into())
        }),
        ("visibility", string_nn(), "public, unlisted or private (or another value the community host wrote).", |c| {
            Some(c.visibility.clone().into())
        }),
        ("moderationType", string_nn(), "moderator or sortition (or another value the host wrote).", |c| {
            Some(c.moderation_type.clone().into())
        }),
        (
            "contentWarnings",
            TypeRef::named_nn_list_nn(TypeRef::STRING),
            "Warnings for everything posted here (nsfw, violence, spoilers, ...).",
            |c| Some(Value::List(c.content_warnings.iter().cloned().map(Value::from).collect())),
        ),
        (
            "allowExternalDiscovery",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            "Whether other instances may list the community.",
            |c| Some(c.allow_external_discovery.into()),
        ),
        ("subscriberCount", int_nn(), "Users with at least one live subscription.", |c| {
            Some(c.subscriber_count.into())
        }),
        ("memberCount", int_nn(), "Users with membership status (0 until memberships exist).", |c| {
            Some(c.member_count.into())
        }),
        ("postCount", int_nn(), "Live posts in the community.", |c| Some(c.post_count.into())),
        ("createdAt", string_nn(), "The profile's createdAt (RFC 3339, UTC).", |c| {
            Some(format_datetime(&c.created_at).into())
        }),
        ("indexedAt", string_nn(), "When the profile was last indexed (RFC 3339, UTC).", |c| {
            Some(format_datetime(&c.indexed_at).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(COMMUNITY, name, parent_field(name, ty, get).description(description))?;
    }
    let images: [(&str, &str, AppGetter); 3] = [
        ("avatar", "Absolute URL of the icon.", |c, app| {
            c.avatar_url(&app.instance, ImagePreset::Avatar).map(Value::from)
        }),
        ("avatarSmall", "Absolute URL of a small icon (for lists).", |c, app| {
            c.avatar_url(&app.instance, ImagePreset::AvatarSmall).map(Value::from)
        }),
        ("banner", "Absolute URL of the header image.", |c, app| c.banner_url(&app.instance).map(Value::from)),
    ];
    for (name, description, get) in images {
        registrar.add_field(COMMUNITY, name, parent_field_with_app(name, string(), get).description(description))?;
    }
    register_connection::<CommunityRow>(registrar, COMMUNITY, "A page of communities.")
}
