//! OpenAPI documentation for [utoipa](https://docs.rs/utoipa) documents (feature `utoipa`).
//!
//! [`FastAuthOpenApi`] is a [`Modify`] addon that
//!
//! 1. registers three security schemes: [`MASTER_TOKEN_SCHEME`] and
//!    [`ACCESS_TOKEN_SCHEME`] (API keys in the `MASTER-TOKEN` and `ACCESS-TOKEN`
//!    headers) and [`BEARER_SCHEME`] (`Authorization: Bearer <jwt>`);
//! 2. attaches them to exactly the operations whose paths the layer protects, with
//!    the same rules the layer applies: a master path requires `MASTER-TOKEN`, an
//!    access path requires `ACCESS-TOKEN` *or* a bearer token, and an unprotected
//!    operation is left as it was;
//! 3. documents the token router's `GET {prefix}/token/new` and
//!    `GET {prefix}/token/refresh` with their envelope responses (switch this off with
//!    [`FastAuthOpenApi::token_endpoints`]).
//!
//! Paths are matched as the layer sees them: a `{param}` segment may be any single
//! segment and `{*rest}` any number of them, and when a template *could* reach a
//! guarded path its operation is marked as guarded (see
//! [`FastAuthOpenApi::level_for`]). Requirements an operation already declares are
//! kept: the layer's requirement is added to each of them, because a request must
//! satisfy both.
//!
//! # Example
//!
//! `#[openapi(modifiers(...))]` only takes values that exist at compile time, while
//! the addon needs the configured [`FastAuth`], so apply it to the generated document:
//!
//! ```
//! use fastauth::{FastAuth, openapi::FastAuthOpenApi};
//! use utoipa::{Modify, OpenApi};
//!
//! /// The items.
//! #[utoipa::path(get, path = "/api/items", responses((status = 200, description = "All items")))]
//! async fn list_items() {}
//!
//! /// Liveness.
//! #[utoipa::path(get, path = "/health", responses((status = 200, description = "Alive")))]
//! async fn health() {}
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(list_items, health))]
//! struct ApiDoc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = FastAuth::builder()
//!     .cryptography_key("k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=")
//!     .master_token("change-me")
//!     .master_paths(["/admin"])
//!     .access_paths(["/api"])
//!     .ignore_environment()
//!     .stateless()
//!     .build()?;
//!
//! let mut doc = ApiDoc::openapi();
//! FastAuthOpenApi::new(&auth).modify(&mut doc);
//!
//! let json: serde_json::Value = serde_json::from_str(&doc.to_json()?)?;
//! assert_eq!(
//!     json["paths"]["/api/items"]["get"]["security"],
//!     serde_json::json!([{ "ACCESS-TOKEN": [] }, { "bearer": [] }])
//! );
//! assert!(json["paths"]["/health"]["get"].get("security").is_none());
//! assert!(json["paths"]["/auth/token/new"]["get"].is_object());
//! # Ok(())
//! # }
//! ```
//!
//! Serve `doc` as usual, for example with `utoipa-swagger-ui`; its "Authorize" dialog
//! then offers the three schemes.

use std::collections::BTreeMap;

use utoipa::{
    Modify,
    openapi::{
        Components, Content, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder, Schema,
        header::Header,
        path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem},
        schema::{ObjectBuilder, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use crate::{FastAuth, Level, paths::PathRules};

/// Name of the security scheme for the `MASTER-TOKEN` header.
pub const MASTER_TOKEN_SCHEME: &str = "MASTER-TOKEN";
/// Name of the security scheme for the `ACCESS-TOKEN` header.
pub const ACCESS_TOKEN_SCHEME: &str = "ACCESS-TOKEN";
/// Name of the security scheme for `Authorization: Bearer <access token>`.
pub const BEARER_SCHEME: &str = "bearer";
/// Name of the component schema of the token endpoints' success envelope.
pub const TOKEN_RESPONSE_SCHEMA: &str = "FastAuthTokenResponse";
/// Name of the component schema of the token endpoints' error envelope.
pub const ERROR_RESPONSE_SCHEMA: &str = "FastAuthErrorResponse";
/// Tag of the token endpoints' operations.
pub const TOKEN_TAG: &str = "fastauth";

/// One security requirement as a map of scheme name to scopes.
type Requirement = BTreeMap<String, Vec<String>>;

/// A [`Modify`] addon that documents what the [`FastAuth`] layer requires. See the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct FastAuthOpenApi {
    rules: PathRules,
    prefix: String,
    token_endpoints: bool,
}

impl FastAuthOpenApi {
    /// An addon for the paths and token prefix configured in `auth`.
    pub fn new(auth: &FastAuth) -> Self {
        Self {
            rules: auth.rules().clone(),
            prefix: auth.token_prefix().to_owned(),
            token_endpoints: true,
        }
    }

    /// Whether to add the token router's two operations (default `true`). Turn it off
    /// when the router is not served, or documented elsewhere.
    pub fn token_endpoints(mut self, include: bool) -> Self {
        self.token_endpoints = include;
        self
    }

    /// The level the layer may require for an OpenAPI path template.
    pub fn level_for(&self, template: &str) -> Level {
        self.rules.level_for_template(template)
    }

    fn add_token_endpoints(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        components
            .schemas
            .entry(TOKEN_RESPONSE_SCHEMA.to_owned())
            .or_insert_with(token_response_schema);
        components
            .schemas
            .entry(ERROR_RESPONSE_SCHEMA.to_owned())
            .or_insert_with(error_response_schema);

        // An operation the application documents itself wins over ours.
        let new = doc
            .paths
            .paths
            .entry(format!("{}/token/new", self.prefix))
            .or_default();
        new.get.get_or_insert_with(token_new_operation);
        let refresh = doc
            .paths
            .paths
            .entry(format!("{}/token/refresh", self.prefix))
            .or_default();
        refresh.get.get_or_insert_with(token_refresh_operation);
    }
}

impl Modify for FastAuthOpenApi {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            MASTER_TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "MASTER-TOKEN",
                "The deployment's master token.",
            ))),
        );
        components.add_security_scheme(
            ACCESS_TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "ACCESS-TOKEN",
                "An access token from the token endpoints.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from the token endpoints."))
                    .build(),
            ),
        );

        if self.token_endpoints {
            self.add_token_endpoints(doc);
        }

        let global = doc.security.clone();
        for (template, item) in doc.paths.paths.iter_mut() {
            let level = self.rules.level_for_template(template);
            if level == Level::Public {
                continue;
            }
            let required = level_requirements(level);
            for operation in operations_mut(item) {
                // Without its own list an operation inherits the document's.
                let declared = operation.security.as_ref().or(global.as_ref());
                operation.security = Some(combine(declared.map(Vec::as_slice), &required));
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .chain(item.additional_operations.values_mut())
}

/// The alternatives that satisfy the layer at `level`.
fn level_requirements(level: Level) -> Vec<Requirement> {
    let one = |name: &str| Requirement::from([(name.to_owned(), Vec::new())]);
    match level {
        Level::Public => Vec::new(),
        Level::Master => vec![one(MASTER_TOKEN_SCHEME)],
        Level::Access => vec![one(ACCESS_TOKEN_SCHEME), one(BEARER_SCHEME)],
    }
}

/// `declared AND required`, as a list of alternatives. Alternatives implied by
/// another one are dropped, which also makes applying the addon twice harmless.
fn combine(declared: Option<&[SecurityRequirement]>, required: &[Requirement]) -> Vec<SecurityRequirement> {
    let declared: Vec<Requirement> = match declared {
        Some(list) if !list.is_empty() => list.iter().map(to_map).collect(),
        // Nothing declared, or `security: []` (explicitly none): only the layer's.
        _ => vec![Requirement::new()],
    };
    let mut product: Vec<Requirement> = Vec::new();
    for have in &declared {
        for need in required {
            let mut both = have.clone();
            for (name, scopes) in need {
                let merged = both.entry(name.clone()).or_default();
                for scope in scopes {
                    if !merged.contains(scope) {
                        merged.push(scope.clone());
                    }
                }
            }
            product.push(both);
        }
    }
    let mut kept: Vec<Requirement> = Vec::new();
    for (i, candidate) in product.iter().enumerate() {
        let redundant = product
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && implies(candidate, other) && (!implies(other, candidate) || j < i));
        if !redundant {
            kept.push(candidate.clone());
        }
    }
    kept.into_iter().map(from_map).collect()
}

/// Whether meeting `a` always meets `b`: `a` asks for everything `b` asks for.
fn implies(a: &Requirement, b: &Requirement) -> bool {
    b.iter().all(|(name, scopes)| {
        a.get(name)
            .is_some_and(|have| scopes.iter().all(|s| have.contains(s)))
    })
}

fn to_map(requirement: &SecurityRequirement) -> Requirement {
    // utoipa keeps the map private; its serialized form is exactly that map.
    serde_json::to_value(requirement)
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

fn from_map(map: Requirement) -> SecurityRequirement {
    map.into_iter()
        .fold(SecurityRequirement::default(), |req, (name, scopes)| {
            req.add(name, scopes)
        })
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn token_response_schema() -> RefOr<Schema> {
    let pair = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "client_id",
            string().description(Some("The client both tokens belong to.")),
        )
        .property(
            "access_token",
            string().description(Some(
                "HS256 JWT for the `ACCESS-TOKEN` header or `Authorization: Bearer`.",
            )),
        )
        .property(
            "refresh_token",
            string().description(Some("HS256 JWT for `token/refresh`.")),
        )
        .required("client_id")
        .required("access_token")
        .required("refresh_token");
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A new token pair, in fastauth-api's envelope."))
        .property("status", string().enum_values(Some(["success"])))
        .property("message", string().examples(["Token generated"]))
        .property(
            "code",
            ObjectBuilder::new().schema_type(Type::Integer).examples([200]),
        )
        .property("data", pair)
        .required("status")
        .required("message")
        .required("code")
        .required("data")
        .into()
}

fn error_response_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A refusal, in fastauth-api's envelope; `code` repeats the HTTP status.",
        ))
        .property("status", string().enum_values(Some(["error"])))
        .property("message", string().examples(["Invalid refresh token"]))
        .property(
            "code",
            ObjectBuilder::new().schema_type(Type::Integer).examples([401]),
        )
        .required("status")
        .required("message")
        .required("code")
        .into()
}

fn envelope(description: &str, schema: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
}

fn unavailable() -> Response {
    ResponseBuilder::new()
        .description("The token store is unreachable; nothing was issued.")
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(ERROR_RESPONSE_SCHEMA))),
        )
        .header(
            "Retry-After",
            Header::builder()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        )
        .build()
}

fn token_new_operation() -> Operation {
    OperationBuilder::new()
        .tag(TOKEN_TAG)
        .operation_id(Some("fastauth_token_new"))
        .summary(Some("Issue a token pair"))
        .description(Some(
            "Issues an access and a refresh token for `client_id`, or for a random UUIDv4 \
             when it is left out. Requires the master token.",
        ))
        .parameter(
            ParameterBuilder::new()
                .name("client_id")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("The client the tokens are for (default: a random UUIDv4)."))
                .schema(Some(string())),
        )
        .response("200", envelope("A new token pair.", TOKEN_RESPONSE_SCHEMA))
        .response(
            "400",
            envelope(
                "`client_id` is empty, too long or contains control characters.",
                ERROR_RESPONSE_SCHEMA,
            ),
        )
        .response(
            "401",
            envelope("The master token is missing or wrong.", ERROR_RESPONSE_SCHEMA),
        )
        .response("503", unavailable())
        .security(SecurityRequirement::new(
            MASTER_TOKEN_SCHEME,
            Vec::<String>::new(),
        ))
        .build()
}

fn token_refresh_operation() -> Operation {
    OperationBuilder::new()
        .tag(TOKEN_TAG)
        .operation_id(Some("fastauth_token_refresh"))
        .summary(Some("Refresh a token pair"))
        .description(Some(
            "Issues a new pair for the refresh token's client. In stored mode the refresh \
             token is rotated: presenting an old one again revokes the client's tokens.",
        ))
        .parameter(
            ParameterBuilder::new()
                .name("refresh_token")
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some("The refresh token of the current pair."))
                .schema(Some(string())),
        )
        .response("200", envelope("A new token pair.", TOKEN_RESPONSE_SCHEMA))
        .response(
            "400",
            envelope("`refresh_token` is missing.", ERROR_RESPONSE_SCHEMA),
        )
        .response(
            "401",
            envelope(
                "The refresh token is invalid, expired, already rotated or revoked.",
                ERROR_RESPONSE_SCHEMA,
            ),
        )
        .response("503", unavailable())
        .build()
}
