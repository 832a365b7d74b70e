//! Merging every plugin's GraphQL contribution into one schema.
//!
//! `async_graphql::dynamic` silently keeps the last of two types (or fields) with the same
//! name. The [`Registrar`] sits in front of it: every type and every field is declared
//! through it, so a clash between two plugins fails start-up with both owners named.
//!
//! Objects are declared as shells (`Object::new("Post")`, with a description if you like)
//! and **all** their fields, the owner's and other plugins', are added with
//! [`Registrar::add_field`]. Fields added inline to an object are refused when the schema is
//! built, because duplicates among them could not be detected.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::dynamic::{
    Enum, Field, InputObject, Interface, Object, Scalar, Schema, SchemaBuilder, Subscription, SubscriptionField, Type,
    Union,
};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::dynamic::ResolverContext;
use async_graphql::registry::MetaType;
pub use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::AppContext;

/// The root query type's name.
pub const QUERY: &str = "Query";
/// The root subscription type's name.
pub const SUBSCRIPTION: &str = "Subscription";

/// A dynamic GraphQL type the registrar can name.
pub trait NamedType: Into<Type> {
    /// The type's GraphQL name.
    fn name(&self) -> &str;
}

macro_rules! named_type {
    ($($t:ty),*) => {$(
        impl NamedType for $t {
            fn name(&self) -> &str {
                self.type_name()
            }
        }
    )*};
}
named_type!(Object, Enum, InputObject, Scalar, Interface, Union);

/// Why the merged schema could not be built. Each message names the plugins involved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistrarError {
    /// Two plugins declared the same type.
    #[error("GraphQL type `{name}` is registered by both plugin `{first}` and plugin `{second}`; rename one of them")]
    DuplicateType {
        /// The type name.
        name: String,
        /// The plugin that registered it first.
        first: String,
        /// The plugin that registered it again.
        second: String,
    },
    /// Two plugins declared the same field on one type.
    #[error(
        "GraphQL field `{type_name}.{field}` is registered by both plugin `{first}` and plugin `{second}`; rename one of them"
    )]
    DuplicateField {
        /// The type the field is on.
        type_name: String,
        /// The field name.
        field: String,
        /// The plugin that registered it first.
        first: String,
        /// The plugin that registered it again.
        second: String,
    },
    /// A field was added to a type nobody registered.
    #[error(
        "plugin `{plugin}` adds field `{field}` to GraphQL type `{type_name}`, which no plugin registers as an object (is the plugin that owns it listed in `depends_on`?)"
    )]
    UnknownType {
        /// The missing type.
        type_name: String,
        /// The field being added.
        field: String,
        /// The plugin adding it.
        plugin: String,
    },
    /// An object declared fields inline instead of through the registrar.
    #[error(
        "GraphQL type `{type_name}` has field `{field}` that was not added with Registrar::add_field; declare every object field through the registrar so clashes are detected"
    )]
    UndeclaredField {
        /// The object type.
        type_name: String,
        /// The inline field.
        field: String,
    },
    /// A field was declared under one name but built with another.
    #[error(
        "plugin `{plugin}` declared field `{type_name}.{declared}` but the Field value has another name; pass the same name to Registrar::add_field and Field::new"
    )]
    FieldNameMismatch {
        /// The object type.
        type_name: String,
        /// The declared name.
        declared: String,
        /// The plugin that declared it.
        plugin: String,
    },
    /// async-graphql rejected the assembled schema.
    #[error("the merged GraphQL schema is invalid: {0}")]
    Schema(String),
}

/// Adds one value, made from the server's [`AppContext`], to the schema's data.
type DataFactory = Box<dyn FnOnce(SchemaBuilder, &AppContext) -> SchemaBuilder + Send>;

struct Declared<T> {
    owner: &'static str,
    value: T,
}

/// Loads one value of a record into its memo ahead of its fields (see
/// [`Registrar::add_prefetch`]); a failure is left for the field itself to meet and report.
pub type Prefetch = for<'c, 'r> fn(&'c ResolverContext<'r>, &'c RecordNode) -> BoxFuture<'c, ()>;

/// The prefetches of each record type, with the fields each one serves (schema data).
#[derive(Default)]
struct Prefetches(BTreeMap<String, Vec<(&'static [&'static str], Prefetch)>>);

/// Collects types and fields from every plugin, then builds the schema.
pub struct Registrar {
    current: &'static str,
    data: Vec<DataFactory>,
    prefetches: Prefetches,
    types: BTreeMap<String, Declared<Type>>,
    /// Fields per type, in declaration order.
    fields: BTreeMap<String, Vec<(String, Declared<Field>)>>,
    subscription_fields: Vec<(String, Declared<SubscriptionField>)>,
}

impl Default for Registrar {
    fn default() -> Self {
        Self::new()
    }
}

impl Registrar {
    /// An empty registrar whose root `Query` type belongs to the server (`core`).
    pub fn new() -> Self {
        let mut registrar = Self {
            current: "core",
            data: Vec::new(),
            prefetches: Prefetches::default(),
            types: BTreeMap::new(),
            fields: BTreeMap::new(),
            subscription_fields: Vec::new(),
        };
        registrar.types.insert(
            QUERY.to_owned(),
            Declared { owner: "core", value: Object::new(QUERY).description("Everything a client can read.").into() },
        );
        registrar
    }

    /// Sets the plugin whose declarations follow (the server calls this).
    pub fn begin_plugin(&mut self, plugin: &'static str) {
        self.current = plugin;
    }

    /// Declares a type: an object shell, enum, input object, scalar, interface or union.
    pub fn add_type(&mut self, ty: impl NamedType) -> Result<(), RegistrarError> {
        let name = ty.name().to_owned();
        if let Some(existing) = self.types.get(&name) {
            return Err(RegistrarError::DuplicateType {
                name,
                first: existing.owner.to_owned(),
                second: self.current.to_owned(),
            });
        }
        self.types.insert(name, Declared { owner: self.current, value: ty.into() });
        Ok(())
    }

    /// Adds field `name` to object `type_name`, which may belong to another plugin.
    /// `field` must have been built with the same name.
    pub fn add_field(&mut self, type_name: &str, name: &str, field: Field) -> Result<(), RegistrarError> {
        let fields = self.fields.entry(type_name.to_owned()).or_default();
        if let Some((_, existing)) = fields.iter().find(|(n, _)| n == name) {
            return Err(RegistrarError::DuplicateField {
                type_name: type_name.to_owned(),
                field: name.to_owned(),
                first: existing.owner.to_owned(),
                second: self.current.to_owned(),
            });
        }
        fields.push((name.to_owned(), Declared { owner: self.current, value: field }));
        Ok(())
    }

    /// Adds a root query field (`Query.<name>`).
    pub fn add_query_field(&mut self, name: &str, field: Field) -> Result<(), RegistrarError> {
        self.add_field(QUERY, name, field)
    }

    /// Adds a root subscription field (`Subscription.<name>`).
    pub fn add_subscription_field(&mut self, name: &str, field: SubscriptionField) -> Result<(), RegistrarError> {
        if let Some((_, existing)) = self.subscription_fields.iter().find(|(n, _)| n == name) {
            return Err(RegistrarError::DuplicateField {
                type_name: SUBSCRIPTION.to_owned(),
                field: name.to_owned(),
                first: existing.owner.to_owned(),
                second: self.current.to_owned(),
            });
        }
        self.subscription_fields.push((name.to_owned(), Declared { owner: self.current, value: field }));
        Ok(())
    }

    /// Adds schema data made from the [`AppContext`] when the server starts, such as a
    /// [`DataLoader`](async_graphql::dataloader::DataLoader) that batches a field's reads
    /// across the objects of a page (`ctx.data::<DataLoader<MyLoader>>()` in resolvers).
    /// Data is keyed by type: each plugin should add types of its own.
    pub fn add_data<T: std::any::Any + Send + Sync>(&mut self, make: impl FnOnce(&AppContext) -> T + Send + 'static) {
        self.data.push(Box::new(move |builder, app| builder.data(make(app))));
    }

    /// Declares that the fields `fields` of the record type `type_name` (a [`RecordNode`]
    /// type) read a value that `prefetch` loads into the record's memo. A list of records
    /// ([`prefetch_records`]) runs the prefetches whose fields it selects for all its
    /// records at once: async-graphql resolves a nested object's fields one after another,
    /// so without this each loader of a page would wait out its batching delay in turn.
    pub fn add_prefetch(&mut self, type_name: &str, fields: &'static [&'static str], prefetch: Prefetch) {
        self.prefetches.0.entry(type_name.to_owned()).or_default().push((fields, prefetch));
    }

    /// Builds the schema. With `app` (absent when only the SDL is wanted), the schema's
    /// data holds it and every value from [`Registrar::add_data`]; `configure` adds
    /// limits and extensions to the builder.
    pub fn build(
        mut self,
        app: Option<&AppContext>,
        configure: impl FnOnce(SchemaBuilder) -> SchemaBuilder,
    ) -> Result<Schema, RegistrarError> {
        let mut expected: BTreeMap<String, (BTreeSet<String>, BTreeMap<String, &'static str>)> = BTreeMap::new();
        for (type_name, fields) in std::mem::take(&mut self.fields) {
            let (owner, mut object) = match self.types.remove(&type_name) {
                Some(Declared { owner, value: Type::Object(object) }) => (owner, object),
                _ => {
                    let (field, plugin) = fields.first().map(|(n, d)| (n.clone(), d.owner)).unwrap_or_default();
                    return Err(RegistrarError::UnknownType { type_name, field, plugin: plugin.to_owned() });
                }
            };
            let entry = expected.entry(type_name.clone()).or_default();
            for (name, declared) in fields {
                entry.0.insert(name.clone());
                entry.1.insert(name, declared.owner);
                object = object.field(declared.value);
            }
            self.types.insert(type_name, Declared { owner, value: object.into() });
        }

        let subscription = (!self.subscription_fields.is_empty()).then(|| {
            let mut names = BTreeSet::new();
            let mut owners = BTreeMap::new();
            let mut sub =
                Subscription::new(SUBSCRIPTION).description("Live values, pushed over the GraphQL websocket.");
            for (name, declared) in std::mem::take(&mut self.subscription_fields) {
                names.insert(name.clone());
                owners.insert(name, declared.owner);
                sub = sub.field(declared.value);
            }
            expected.insert(SUBSCRIPTION.to_owned(), (names, owners));
            sub
        });

        let mut builder = Schema::build(QUERY, None, subscription.as_ref().map(|_| SUBSCRIPTION));
        if let Some(sub) = subscription {
            builder = builder.register(sub);
        }
        for declared in self.types.into_values() {
            builder = builder.register(declared.value);
        }
        if let Some(app) = app {
            builder = builder.data(app.clone()).data(std::mem::take(&mut self.prefetches));
            for add in std::mem::take(&mut self.data) {
                builder = add(builder, app);
            }
        }
        let schema = configure(builder).finish().map_err(|e| RegistrarError::Schema(e.to_string()))?;
        verify_declared_fields(&schema, &expected)?;
        Ok(schema)
    }
}

/// Checks that each object has exactly the fields declared through the registrar.
fn verify_declared_fields(
    schema: &Schema,
    expected: &BTreeMap<String, (BTreeSet<String>, BTreeMap<String, &'static str>)>,
) -> Result<(), RegistrarError> {
    for (type_name, meta) in &schema.registry().types {
        let MetaType::Object { fields, .. } = meta else { continue };
        if type_name.starts_with("__") {
            continue;
        }
        let (declared, owners) = expected.get(type_name).cloned().unwrap_or_default();
        for actual in fields.keys().filter(|f| !f.starts_with("__")) {
            if !declared.contains(actual) {
                return Err(RegistrarError::UndeclaredField { type_name: type_name.clone(), field: actual.clone() });
            }
        }
        for name in &declared {
            if !fields.contains_key(name) {
                return Err(RegistrarError::FieldNameMismatch {
                    type_name: type_name.clone(),
                    declared: name.clone(),
                    plugin: owners.get(name).copied().unwrap_or("core").to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// A field computed from the parent object's Rust value, e.g.
/// `parent_field::<ActorRow>("did", TypeRef::named_nn(TypeRef::STRING), |a| Some(a.did.clone().into()))`.
///
/// The parent must have been returned as `FieldValue::owned_any(T)` (or `borrowed_any`).
pub fn parent_field<T: std::any::Any + Send + Sync>(
    name: &str,
    ty: async_graphql::dynamic::TypeRef,
    get: fn(&T) -> Option<async_graphql::Value>,
) -> Field {
    Field::new(name, ty, move |ctx| {
        async_graphql::dynamic::FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<T>()?;
            Ok(get(parent).map(async_graphql::dynamic::FieldValue::value))
        })
    })
}

/// Like [`parent_field`], for values that also need the [`crate::AppContext`] (e.g. image
/// URLs, which depend on the instance's image proxy).
pub fn parent_field_with_app<T: std::any::Any + Send + Sync>(
    name: &str,
    ty: async_graphql::dynamic::TypeRef,
    get: fn(&T, &crate::AppContext) -> Option<async_graphql::Value>,
) -> Field {
    Field::new(name, ty, move |ctx| {
        async_graphql::dynamic::FieldFuture::new(async move {
            let app = ctx.data::<crate::AppContext>()?;
            let parent = ctx.parent_value.try_downcast_ref::<T>()?;
            Ok(get(parent, app).map(async_graphql::dynamic::FieldValue::value))
        })
    })
}

/// The parent value of a record object type (`Post`, `Comment`, ...): the record's URI and
/// CID, which any plugin may read to add fields to the type (vote counts, comment counts,
/// the viewer's vote), and the owning plugin's row, which only the owner reads.
///
/// Resolvers of such a type return `FieldValue::owned_any(RecordNode::new(uri, cid, row))`.
#[derive(Clone)]
pub struct RecordNode {
    uri: String,
    cid: String,
    row: Arc<dyn Any + Send + Sync>,
    /// Values loaded for this record, one per type (see [`RecordNode::memo`]).
    memo: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl RecordNode {
    /// Wraps the owner's `row` of the record at `uri` (version `cid`).
    pub fn new<T: Any + Send + Sync>(uri: impl Into<String>, cid: impl Into<String>, row: T) -> Self {
        Self { uri: uri.into(), cid: cid.into(), row: Arc::new(row), memo: Arc::default() }
    }

    /// The record's AT-URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The CID of the indexed version.
    pub fn cid(&self) -> &str {
        &self.cid
    }

    /// The owner's row, if it is a `T`.
    pub fn row<T: Any>(&self) -> Option<&T> {
        self.row.downcast_ref()
    }

    /// The value of type `V` loaded for this record by `load`, run once: fields that
    /// share a load (`upvotes`, `downvotes`, `score`) cost one read, and a list's
    /// prefetch ([`Registrar::add_prefetch`]) leaves the value here for its fields.
    pub async fn memo<V, F>(&self, load: impl FnOnce() -> F) -> async_graphql::Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = async_graphql::Result<V>>,
    {
        let cell = {
            let mut memo = self.memo.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let cell = memo.entry(TypeId::of::<V>()).or_insert_with(|| Arc::new(OnceCell::<V>::new())).clone();
            cell.downcast::<OnceCell<V>>().map_err(|_| "memo holds another type")?
        };
        cell.get_or_try_init(load).await.cloned()
    }

    /// The owner's row, or a GraphQL error naming the type that was expected.
    pub fn try_row<T: Any>(&self) -> async_graphql::Result<&T> {
        self.row().ok_or_else(|| format!("record {} is not a {}", self.uri, std::any::type_name::<T>()).into())
    }
}

/// Runs, for all `records` at once, the prefetches of `type_name` whose fields the list
/// field resolving them selects (under `nodes` or `edges { node }` of a connection).
pub async fn prefetch_records<'a>(
    ctx: &ResolverContext<'_>,
    type_name: &str,
    records: impl IntoIterator<Item = &'a RecordNode>,
) {
    let Some(prefetches) = ctx.data_opt::<Prefetches>().and_then(|p| p.0.get(type_name)) else { return };
    let look_ahead = ctx.look_ahead();
    let selections = [look_ahead.field("nodes"), look_ahead.field("edges").field("node")];
    let selected: Vec<Prefetch> = prefetches
        .iter()
        .filter(|(fields, _)| fields.iter().any(|f| selections.iter().any(|s| s.field(f).exists())))
        .map(|(_, prefetch)| *prefetch)
        .collect();
    if selected.is_empty() {
        return;
    }
    let loads = records.into_iter().flat_map(|record| selected.iter().map(move |prefetch| prefetch(ctx, record)));
    futures::future::join_all(loads).await;
}

/// The record node of a resolver's parent (see [`RecordNode`]).
pub fn parent_record<'a>(ctx: &async_graphql::dynamic::ResolverContext<'a>) -> async_graphql::Result<&'a RecordNode> {
    ctx.parent_value.try_downcast_ref::<RecordNode>()
}

/// Like [`parent_field_with_app`], for record object types: `get` receives the owner's row
/// of the parent [`RecordNode`].
pub fn record_field<T: std::any::Any + Send + Sync>(
    name: &str,
    ty: async_graphql::dynamic::TypeRef,
    get: fn(&T, &AppContext) -> Option<async_graphql::Value>,
) -> Field {
    Field::new(name, ty, move |ctx| {
        async_graphql::dynamic::FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let row = parent_record(&ctx)?.try_row::<T>()?;
            Ok(get(row, app).map(async_graphql::dynamic::FieldValue::value))
        })
    })
}
