//! Schema assembly: merging plugins, refusing clashes, ordering, and the checked-in SDL.

use coves_appview::graphql::{GraphqlLimits, build_schema};
use coves_appview::plugins::{PluginSetError, order};
use coves_appview::xrpc::XrpcRouter;
use coves_plugin_api::{Plugin, RegistrarError};
use coves_tests::TestApp;
use serde_json::json;

use crate::test_plugins::{Alpha, Beta, FieldClash, Inline, TypeClash, XrpcClash};

fn build(plugins: Vec<&'static dyn Plugin>) -> Result<String, RegistrarError> {
    let plugins = order(plugins).expect("valid plugin set");
    build_schema(&plugins, None, GraphqlLimits::default()).map(|s| s.sdl())
}

#[tokio::test]
async fn a_plugin_adds_a_field_to_another_plugins_type() {
    let sdl = build(vec![&Beta, &Alpha]).expect("schema builds");
    assert!(sdl.contains("type Widget {\n\tname: String!\n\tgadget: String!\n}"), "{sdl}");

    let app = TestApp::with_plugins(vec![&Alpha, &Beta], GraphqlLimits::default()).await;
    let response = app.graphql("{ widget { name gadget } }", json!({})).await;
    assert_eq!(response, json!({"data": {"widget": {"name": "sprocket", "gadget": "gadget for sprocket"}}}));
}

#[test]
fn a_duplicate_type_fails_start_up_naming_both_plugins() {
    let error = build(vec![&Alpha, &TypeClash]).expect_err("duplicate type must fail");
    assert_eq!(
        error.to_string(),
        "GraphQL type `Widget` is registered by both plugin `alpha` and plugin `typeclash`; rename one of them"
    );
}

#[test]
fn a_duplicate_field_fails_start_up_naming_both_plugins() {
    let error = build(vec![&Alpha, &Beta, &FieldClash]).expect_err("duplicate field must fail");
    assert_eq!(
        error,
        RegistrarError::DuplicateField {
            type_name: "Widget".into(),
            field: "gadget".into(),
            first: "beta".into(),
            second: "fieldclash".into(),
        }
    );
}

#[test]
fn fields_added_inline_are_refused() {
    let error = build(vec![&Inline]).expect_err("inline field must fail");
    assert!(
        matches!(error, RegistrarError::UndeclaredField { ref type_name, ref field } if type_name == "Sneaky" && field == "hidden"),
        "{error}"
    );
}

#[test]
fn a_missing_dependency_or_unknown_type_is_reported_with_the_plugin() {
    let plugins: Vec<&'static dyn Plugin> = vec![&Beta];
    assert_eq!(
        order(plugins).err(),
        Some(PluginSetError::MissingDependency { plugin: "beta".into(), missing: "alpha".into() })
    );
    // Without the ordering check, the registrar still names the plugin and the type.
    let error = build_schema(&[&Beta], None, GraphqlLimits::default()).expect_err("unknown type must fail");
    assert_eq!(
        error,
        RegistrarError::UnknownType { type_name: "Widget".into(), field: "gadget".into(), plugin: "beta".into() }
    );
}

#[test]
fn plugins_are_ordered_by_dependencies_then_name() {
    let names = |plugins: Vec<&'static dyn Plugin>| -> Vec<&str> {
        order(plugins).expect("valid").iter().map(|p| p.name()).collect()
    };
    assert_eq!(names(vec![&FieldClash, &Beta, &Alpha]), ["alpha", "beta", "fieldclash"]);
    assert_eq!(names(vec![&TypeClash, &Inline, &Alpha]), ["alpha", "inline", "typeclash"]);
    assert_eq!(order(vec![&Alpha, &Alpha]).err(), Some(PluginSetError::DuplicateName("alpha".into())));
}

#[test]
fn two_plugins_serving_one_xrpc_method_are_refused() {
    let error = XrpcRouter::new(&[&Alpha, &XrpcClash]).err().expect("duplicate method must fail");
    assert_eq!(
        error.to_string(),
        "XRPC method test.alpha.echo is served by both plugin `alpha` and plugin `xrpcclash`"
    );
}

/// The registry is implicit (inventory); these lists make changes to it visible in review.
#[test]
fn linked_plugins_and_xrpc_methods_are_as_reviewed() {
    let plugins = coves_appview::plugins::linked().expect("valid plugin set");
    let names: Vec<_> = plugins.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["actor", "community", "block", "subscription", "vote", "post", "comment", "feed", "unfurl"]);
    let observers: Vec<_> = plugins
        .iter()
        .flat_map(|p| p.observed_collections(&Default::default()).into_iter().map(|c| format!("{c} ({})", p.name())))
        .collect();
    assert_eq!(observers, ["social.coves.community.post (unfurl)"]);
    let methods: Vec<_> = XrpcRouter::new(&plugins)
        .expect("no clashes")
        .methods()
        .map(|(nsid, _, owner)| format!("{nsid} ({owner})"))
        .collect();
    assert_eq!(
        methods,
        [
            "social.coves.actor.getComments (feed)",
            "social.coves.actor.getPosts (feed)",
            "social.coves.actor.getProfile (actor)",
            "social.coves.actor.getprofile (actor)",
            "social.coves.community.blockCommunity (block)",
            "social.coves.community.comment.create (comment)",
            "social.coves.community.comment.delete (comment)",
            "social.coves.community.comment.getComments (feed)",
            "social.coves.community.comment.update (comment)",
            "social.coves.community.get (feed)",
            "social.coves.community.list (feed)",
            "social.coves.community.post.get (feed)",
            "social.coves.community.search (feed)",
            "social.coves.community.subscribe (subscription)",
            "social.coves.community.unblockCommunity (block)",
            "social.coves.community.unsubscribe (subscription)",
            "social.coves.communityFeed.getCommunity (feed)",
            "social.coves.feed.getAll (feed)",
            "social.coves.feed.getCommunity (feed)",
            "social.coves.feed.getDiscover (feed)",
            "social.coves.feed.getTimeline (feed)",
            "social.coves.feed.vote.create (vote)",
            "social.coves.feed.vote.delete (vote)",
        ]
    );
    let collections = coves_appview::ingest::Ingestor::new(plugins).expect("one plugin per collection").collections();
    assert_eq!(
        collections,
        [
            "social.coves.actor.profile",
            "social.coves.community.block",
            "social.coves.community.comment",
            "social.coves.community.post",
            "social.coves.community.profile",
            "social.coves.community.subscription",
            "social.coves.feed.vote"
        ]
    );
}
