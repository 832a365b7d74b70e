//! GraphQL for live values: a plugin declares a value type with
//! [`register_live_type`] (it gets `seq` and `changedAt`), adds its own fields with
//! [`live_field`], and a subscription field with [`live_subscription`].

use std::any::Any;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, Scalar, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::{ErrorExtensions, Value};
use chrono::SecondsFormat;
use futures::StreamExt;
use futures::future::BoxFuture;

use super::{LiveConnection, LiveKind, LiveUpdate, live_value};
use crate::{ApiError, AppContext, Registrar, RegistrarError};

/// The scalar of sequence labels.
pub const SEQ: &str = "Seq";

/// Resolves a subscription's subject argument (as sent) to the subject its values are
/// announced under (e.g. a community handle to its DID); errors say what to fix.
pub type ResolveSubject = for<'a> fn(&'a AppContext, &'a str) -> BoxFuture<'a, Result<String, ApiError>>;

/// The `Seq` scalar (registered once, by the core).
pub fn register_seq(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    registrar.add_type(Scalar::new(SEQ).description(
        "A live value's sequence label: an integer (a JSON number) that only grows across the whole deployment. A \
         value labelled n includes every change announced up to n; pass the last one received as `after` when \
         subscribing again to get a value only if something changed since.",
    ))
}

/// Declares the live value type `type_name` with its `seq` and `changedAt` fields.
pub fn register_live_type(registrar: &mut Registrar, type_name: &str, description: &str) -> Result<(), RegistrarError> {
    registrar.add_type(Object::new(type_name).description(description))?;
    registrar.add_field(
        type_name,
        "seq",
        Field::new("seq", TypeRef::named_nn(SEQ), |ctx| {
            FieldFuture::new(async move {
                let update = ctx.parent_value.try_downcast_ref::<LiveUpdate>()?;
                Ok(Some(Value::from(update.seq)))
            })
        })
        .description("This value's sequence label."),
    )?;
    registrar.add_field(
        type_name,
        "changedAt",
        Field::new("changedAt", TypeRef::named(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                let update = ctx.parent_value.try_downcast_ref::<LiveUpdate>()?;
                // Microseconds: clients measure delivery latency with it.
                Ok(update.changed_at.map(|at| Value::from(at.to_rfc3339_opts(SecondsFormat::Micros, true))))
            })
        })
        .description(
            "When the newest change this value includes was committed (RFC 3339, UTC); null for a first value \
             sent before any change was seen.",
        ),
    )
}

/// A field of a live value type, read from the owner's row `T`.
pub fn live_field<T: Any + Send + Sync>(name: &str, ty: TypeRef, description: &str, read: fn(&T) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let update = ctx.parent_value.try_downcast_ref::<LiveUpdate>()?;
            Ok(live_value::<T>(update).map(read))
        })
    })
    .description(description)
}

/// `Subscription.<name>(<arg>: String!, after: Seq): <type_name>!`: the current value of
/// the subject `arg` names, then every change.
pub fn live_subscription(
    name: &str,
    type_name: &str,
    kind: &'static LiveKind,
    (arg, arg_description): (&'static str, &str),
    resolve: ResolveSubject,
    description: &str,
) -> SubscriptionField {
    SubscriptionField::new(name, TypeRef::named_nn(type_name), move |ctx| {
        SubscriptionFieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let raw = ctx.args.try_get(arg)?.string()?;
            let after = match ctx.args.get("after").filter(|v| !v.is_null()) {
                Some(value) => Some(value.i64().map_err(|_| {
                    ApiError::invalid_request("after must be a seq received earlier (an integer)").extend()
                })?),
                None => None,
            };
            let subject = resolve(app, raw).await.map_err(|e| e.extend())?;
            let connection = ctx.data_opt::<LiveConnection>();
            let stream = app.live.subscribe(kind, subject, after, connection).map_err(|e| e.extend())?;
            Ok(stream.map(|item| item.map(FieldValue::owned_any).map_err(|e| e.extend())))
        })
    })
    .argument(InputValue::new(arg, TypeRef::named_nn(TypeRef::STRING)).description(arg_description))
    .argument(InputValue::new("after", TypeRef::named(SEQ)).description(
        "The last `seq` received (after a reconnect): the first value is sent only if something changed since.",
    ))
    .description(description)
}
