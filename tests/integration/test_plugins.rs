//! Small plugins that exercise the contract: they are passed to the server explicitly,
//! never registered with inventory, so they do not leak into the real schema.

use coves_plugin_api::async_graphql::Value;
use coves_plugin_api::async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use coves_plugin_api::graphql::parent_field;
use coves_plugin_api::{Plugin, Registrar, RegistrarError, XrpcMethod, async_trait};

/// The widget a query returns.
pub struct Widget {
    pub name: String,
}

/// Owns `Widget`, `Query.widget` and `Subscription.countdown`, and serves one XRPC method.
pub struct Alpha;

#[async_trait]
impl Plugin for Alpha {
    fn name(&self) -> &'static str {
        "alpha"
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_type(Object::new("Widget"))?;
        r.add_field(
            "Widget",
            "name",
            parent_field::<Widget>("name", TypeRef::named_nn(TypeRef::STRING), |w| Some(w.name.clone().into())),
        )?;
        r.add_query_field(
            "widget",
            Field::new("widget", TypeRef::named_nn("Widget"), |_| {
                FieldFuture::new(async { Ok(Some(FieldValue::owned_any(Widget { name: "sprocket".into() }))) })
            }),
        )?;
        r.add_subscription_field(
            "countdown",
            SubscriptionField::new("countdown", TypeRef::named_nn(TypeRef::INT), |ctx| {
                SubscriptionFieldFuture::new(async move {
                    let from = ctx.args.try_get("from")?.i64()?;
                    Ok(futures::stream::iter((0..=from).rev().map(|n| Ok(Value::from(n)))))
                })
            })
            .argument(InputValue::new("from", TypeRef::named_nn(TypeRef::INT))),
        )
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        vec![
            XrpcMethod::query("test.alpha.echo", |req| {
                Box::pin(async move {
                    let text = req.params.required("text")?;
                    Ok(serde_json::json!({"echo": text, "all": req.params.all("text").collect::<Vec<_>>()}))
                })
            }),
            XrpcMethod::procedure("test.alpha.submit", |req| {
                Box::pin(async move { Ok(serde_json::json!({"bytes": req.body.len()})) })
            }),
        ]
    }
}

/// Adds `Widget.gadget`, a field on Alpha's type.
pub struct Beta;

#[async_trait]
impl Plugin for Beta {
    fn name(&self) -> &'static str {
        "beta"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["alpha"]
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_field(
            "Widget",
            "gadget",
            parent_field::<Widget>("gadget", TypeRef::named_nn(TypeRef::STRING), |w| {
                Some(format!("gadget for {}", w.name).into())
            }),
        )
    }
}

/// Declares `Widget` again.
pub struct TypeClash;

#[async_trait]
impl Plugin for TypeClash {
    fn name(&self) -> &'static str {
        "typeclash"
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_type(Object::new("Widget"))
    }
}

/// Declares `Widget.gadget` again.
pub struct FieldClash;

#[async_trait]
impl Plugin for FieldClash {
    fn name(&self) -> &'static str {
        "fieldclash"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["beta"]
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_field(
            "Widget",
            "gadget",
            Field::new("gadget", TypeRef::named(TypeRef::STRING), |_| FieldFuture::from_value(None)),
        )
    }
}

/// Builds an object with an inline field, bypassing the registrar's checks.
pub struct Inline;

#[async_trait]
impl Plugin for Inline {
    fn name(&self) -> &'static str {
        "inline"
    }

    fn register_graphql(&self, r: &mut Registrar) -> Result<(), RegistrarError> {
        r.add_type(
            Object::new("Sneaky")
                .field(Field::new("hidden", TypeRef::named(TypeRef::STRING), |_| FieldFuture::from_value(None))),
        )?;
        r.add_query_field("sneaky", Field::new("sneaky", TypeRef::named("Sneaky"), |_| FieldFuture::from_value(None)))
    }
}

/// Serves the same XRPC method as Alpha.
pub struct XrpcClash;

#[async_trait]
impl Plugin for XrpcClash {
    fn name(&self) -> &'static str {
        "xrpcclash"
    }

    fn xrpc_methods(&self) -> Vec<XrpcMethod> {
        vec![XrpcMethod::query("test.alpha.echo", |_| Box::pin(async { Ok(serde_json::json!({})) }))]
    }
}
