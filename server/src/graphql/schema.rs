//! Assembles one schema from the core fields and every plugin's registrations.

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, Schema, TypeRef};
use coves_plugin_api::{AppContext, Plugin, Registrar, RegistrarError};

/// Limits that protect the server from expensive queries.
#[derive(Clone, Copy, Debug)]
pub struct GraphqlLimits {
    /// Deepest selection allowed.
    pub max_depth: usize,
    /// Highest complexity allowed.
    pub max_complexity: usize,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self { max_depth: 16, max_complexity: 2000 }
    }
}

/// Builds the schema. `app` is `None` when only the SDL is wanted (`schema` command).
pub fn build_schema(
    plugins: &[&'static dyn Plugin],
    app: Option<AppContext>,
    limits: GraphqlLimits,
) -> Result<Schema, RegistrarError> {
    let mut registrar = Registrar::new();
    register_core(&mut registrar, plugins)?;
    for plugin in plugins {
        registrar.begin_plugin(plugin.name());
        plugin.register_graphql(&mut registrar)?;
    }
    registrar
        .build(app.as_ref(), |builder| builder.limit_depth(limits.max_depth).limit_complexity(limits.max_complexity))
}

/// What the server itself exposes: a description of this AppView and its plugins.
fn register_core(registrar: &mut Registrar, plugins: &[&'static dyn Plugin]) -> Result<(), RegistrarError> {
    // `JSON` and `PageInfo`, which every plugin may use.
    coves_plugin_api::graphql_types::register_shared_types(registrar)?;
    registrar
        .add_type(Object::new("AppView").description("This AppView: its version and the lexicon plugins it serves."))?;
    registrar.add_type(Object::new("PluginInfo").description("A lexicon plugin linked into this AppView."))?;

    let infos: Vec<Value> = plugins
        .iter()
        .map(|p| {
            Value::from_json(serde_json::json!({
                "name": p.name(),
                "dependsOn": p.depends_on(),
                "collections": p.collections(),
            }))
            .unwrap_or(Value::Null)
        })
        .collect();
    registrar.add_query_field(
        "appview",
        Field::new("appview", TypeRef::named_nn("AppView"), move |_| {
            let infos = infos.clone();
            FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(infos))) })
        })
        .description("Version and plugins of this AppView."),
    )?;
    registrar.add_field(
        "AppView",
        "version",
        Field::new("version", TypeRef::named_nn(TypeRef::STRING), |_| {
            FieldFuture::new(async { Ok(Some(Value::from(env!("CARGO_PKG_VERSION")))) })
        })
        .description("The server's version."),
    )?;
    registrar.add_field(
        "AppView",
        "plugins",
        Field::new("plugins", TypeRef::named_nn_list_nn("PluginInfo"), |ctx| {
            FieldFuture::new(async move {
                let infos = ctx.parent_value.try_downcast_ref::<Vec<Value>>()?;
                Ok(Some(FieldValue::list(infos.iter().cloned().map(FieldValue::value))))
            })
        })
        .description("Linked plugins, in the order they are applied (dependencies first, then by name)."),
    )?;
    for (name, ty, description) in [
        ("name", TypeRef::named_nn(TypeRef::STRING), "The plugin's unique name."),
        ("dependsOn", TypeRef::named_nn_list_nn(TypeRef::STRING), "Plugins this one builds on."),
        (
            "collections",
            TypeRef::named_nn_list_nn(TypeRef::STRING),
            "Record collections (NSIDs) it indexes from Jetstream.",
        ),
    ] {
        registrar.add_field(
            "PluginInfo",
            name,
            Field::new(name, ty, move |ctx| {
                FieldFuture::new(async move {
                    let Value::Object(info) = ctx.parent_value.try_to_value()? else { return Ok(None) };
                    Ok(info.get(name).cloned().map(FieldValue::value))
                })
            })
            .description(description),
        )?;
    }
    Ok(())
}
