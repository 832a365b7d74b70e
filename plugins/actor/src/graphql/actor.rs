//! The `Actor` object type.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{Object, TypeRef};
use coves_plugin_api::graphql::{parent_field, parent_field_with_app};
use coves_plugin_api::images::ImagePreset;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{AppContext, Registrar, RegistrarError};

use crate::service::ActorRow;

pub const ACTOR: &str = "Actor";

type Getter = fn(&ActorRow) -> Option<Value>;
type ImageGetter = fn(&ActorRow, &AppContext) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(ACTOR).description("An active account on the network, with its Coves profile. Deactivated, taken-down and deleted accounts are not shown."))?;
    let string = || TypeRef::named(TypeRef::STRING);
    let string_nn = || TypeRef::named_nn(TypeRef::STRING);
    let fields: [(&str, TypeRef, &str, Getter); 6] = [
        ("did", string_nn(), "The account's DID.", |a| Some(a.did.clone().into())),
        ("handle", string(), "The verified handle; null until one is verified.", |a| a.handle.clone().map(Value::from)),
        ("displayName", string(), "Display name from the profile.", |a| a.display_name.clone().map(Value::from)),
        ("bio", string(), "Profile text (`bio`, or the older `description`).", |a| a.bio.clone().map(Value::from)),
        (
            "createdAt",
            string_nn(),
            "The profile's createdAt, else when the AppView first saw the account (RFC 3339, UTC).",
            |a| Some(format_datetime(&a.created_at()).into()),
        ),
        ("indexedAt", string_nn(), "When the profile was last indexed (RFC 3339, UTC).", |a| {
            Some(format_datetime(&a.indexed_at).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(ACTOR, name, parent_field(name, ty, get).description(description))?;
    }
    let images: [(&str, &str, ImageGetter); 2] = [
        ("avatar", "Absolute URL of the avatar image, when set.", |a, app| {
            a.avatar_url(app, ImagePreset::Avatar).map(Value::from)
        }),
        ("banner", "Absolute URL of the banner image, when set.", |a, app| a.banner_url(app).map(Value::from)),
    ];
    for (name, description, get) in images {
        registrar.add_field(ACTOR, name, parent_field_with_app(name, string(), get).description(description))?;
    }
    Ok(())
}
