//! GraphQL: the `LinkPreview` type, `Post.linkPreview` (batched per page with a loader)
//! and `Query.unfurl(url:)`. Both read the cache only: no query ever fetches a link.

use coves_plugin_api::async_graphql::dataloader::Loader;
use coves_plugin_api::async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use coves_plugin_api::async_graphql::{ErrorExtensions, Value};
use coves_plugin_api::graphql::{parent_field, parent_record};
use coves_plugin_api::loader::{LoadError, Loaded, load_error, load_one, register_loader};
use coves_plugin_api::syntax::format_datetime;
use coves_plugin_api::{ApiError, AppContext, Registrar, RegistrarError};

use crate::link::normalize;
use crate::store::{CachedPreview, previews_by_post, previews_by_url};

const LINK_PREVIEW: &str = "LinkPreview";

/// Cached previews by post URI.
struct PostPreviewLoader(AppContext);

impl Loader<String> for PostPreviewLoader {
    type Value = CachedPreview;
    type Error = LoadError;

    async fn load(&self, posts: &[String]) -> Loaded<String, CachedPreview> {
        let mut conn = self.0.conn().await.map_err(load_error)?;
        previews_by_post(&mut conn, posts).await.map_err(load_error)
    }
}

type Getter = fn(&CachedPreview) -> Option<Value>;

pub fn register(registrar: &mut Registrar) -> Result<(), RegistrarError> {
    register_loader(registrar, |app| PostPreviewLoader(app.clone()));
    registrar.add_type(Object::new(LINK_PREVIEW).description(
        "A link's preview (title, description, image), fetched in the background after a post linking it was indexed.",
    ))?;
    let fields: [(&str, TypeRef, &str, Getter); 8] = [
        (
            "url",
            TypeRef::named_nn(TypeRef::STRING),
            "The normalized link (lowercase scheme and host, no fragment, no default port).",
            |p| Some(p.url.clone().into()),
        ),
        (
            "title",
            TypeRef::named(TypeRef::STRING),
            "oEmbed title, og:title, twitter:title or the page's <title>.",
            |p| p.title.clone().map(Value::from),
        ),
        (
            "description",
            TypeRef::named(TypeRef::STRING),
            "og:description, twitter:description or the meta description (oEmbed: the author).",
            |p| p.description.clone().map(Value::from),
        ),
        (
            "imageUrl",
            TypeRef::named(TypeRef::STRING),
            "Absolute http(s) URL of the preview image, on the linked site (not proxied).",
            |p| p.image_url.clone().map(Value::from),
        ),
        ("siteName", TypeRef::named(TypeRef::STRING), "og:site_name or the oEmbed provider's name.", |p| {
            p.site_name.clone().map(Value::from)
        }),
        (
            "type",
            TypeRef::named(TypeRef::STRING),
            "og:type (article, website, ...) or the oEmbed type (video, rich, photo, link).",
            |p| p.kind.clone().map(Value::from),
        ),
        (
            "provider",
            TypeRef::named(TypeRef::STRING),
            "Who describes the link: the oEmbed provider's name, else the page's host.",
            |p| p.provider.clone().map(Value::from),
        ),
        ("fetchedAt", TypeRef::named_nn(TypeRef::STRING), "When the link was fetched (RFC 3339, UTC).", |p| {
            Some(format_datetime(&p.fetched_at).into())
        }),
    ];
    for (name, ty, description, get) in fields {
        registrar.add_field(
            LINK_PREVIEW,
            name,
            parent_field::<CachedPreview>(name, ty, get).description(description),
        )?;
    }

    let field = Field::new("linkPreview", TypeRef::named(LINK_PREVIEW), |ctx| {
        FieldFuture::new(async move {
            let uri = parent_record(&ctx)?.uri().to_owned();
            let preview = load_one::<_, PostPreviewLoader>(&ctx, uri).await?;
            Ok(preview.map(FieldValue::owned_any))
        })
    })
    .description(
        "The preview of the post's link (its external embed, else its first link): null until it has been fetched, or when it could not be.",
    );
    registrar.add_field("Post", "linkPreview", field)?;

    let field = Field::new("unfurl", TypeRef::named(LINK_PREVIEW), |ctx| {
        FieldFuture::new(async move {
            let app = ctx.data::<AppContext>()?;
            let raw = ctx.args.try_get("url")?.string()?;
            let url = normalize(raw).ok_or_else(|| {
                ApiError::invalid_request("url must be an absolute http(s) URL without credentials, at most 2048 bytes")
                    .extend()
            })?;
            let mut conn = app.conn().await.map_err(|e| e.extend())?;
            let preview = previews_by_url(&mut conn, &[url]).await.map_err(|e| ApiError::from(e).extend())?.pop();
            Ok(preview.map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("url", TypeRef::named_nn(TypeRef::STRING)).description("An http(s) URL, normalized before the lookup."))
    .description(
        "The cached preview of a link; null when it has not been fetched (a link is fetched only after a post linking it is indexed, never by this query) or could not be.",
    );
    registrar.add_query_field("unfurl", field)
}
