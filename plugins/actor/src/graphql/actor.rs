//! The `Actor` object type.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{Object, TypeRef};
use coves_plugin_api::graphql::parent_field;
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{Registrar, RegistrarError};

use crate::service::ActorRow;

pub const ACTOR: &str = "Actor";

type Getter = fn(&ActorRow) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(ACTOR).description("An account on the network, with its Coves profile."))?;
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
    Ok(())
}
