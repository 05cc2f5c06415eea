//! The OpenAPI addon, judged on the JSON document a client would download: the
//! security schemes exist, protected operations carry exactly the layer's
//! requirement, unprotected ones carry none, and the token endpoints are described.
//! The same document's claims are then checked against a real server on 127.0.0.1.
#![cfg(feature = "utoipa")]

mod common;

use axum::{Router, routing::get};
use fastauth::{
    FastAuth, Level,
    openapi::{ACCESS_TOKEN_SCHEME, BEARER_SCHEME, FastAuthOpenApi, MASTER_TOKEN_SCHEME},
};
use serde_json::{Value, json};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        HttpMethod, Info, PathItem, Paths,
        path::{OperationBuilder, PathItemBuilder},
        security::SecurityRequirement,
    },
};

use common::{
    auth::stored,
    client::{pair_of, request_pair},
    keys::MASTER,
    server::{protected, serve},
};

fn auth() -> FastAuth {
    stored()
        .master_token(MASTER)
        .master_paths(["/admin"])
        .access_paths(["/api"])
        .build()
        .unwrap()
}

fn op(id: &str) -> utoipa::openapi::path::Operation {
    OperationBuilder::new()
        .operation_id(Some(id))
        .response("200", utoipa::openapi::Response::new("ok"))
        .build()
}

/// The application's own document, before the addon.
fn app_doc() -> utoipa::openapi::OpenApi {
    let mut paths = Paths::new();
    paths.add_path_operation("/api/items", vec![HttpMethod::Get], op("list_items"));
    paths.add_path_operation("/api/items", vec![HttpMethod::Post], op("create_item"));
    paths.add_path_operation("/api/items/{id}", vec![HttpMethod::Get], op("get_item"));
    paths.add_path_operation("/admin/stats", vec![HttpMethod::Get], op("stats"));
    paths.add_path_operation("/health", vec![HttpMethod::Get], op("health"));
    paths.add_path_operation("/apis", vec![HttpMethod::Get], op("apis"));
    utoipa::openapi::OpenApi::new(Info::new("app", "1.0.0"), paths)
}

fn to_json(doc: &utoipa::openapi::OpenApi) -> Value {
    serde_json::from_str(&doc.to_json().unwrap()).unwrap()
}

fn documented(addon: &FastAuthOpenApi) -> Value {
    let mut doc = app_doc();
    addon.modify(&mut doc);
    to_json(&doc)
}

fn access() -> Value {
    json!([{ "ACCESS-TOKEN": [] }, { "bearer": [] }])
}

fn master() -> Value {
    json!([{ "MASTER-TOKEN": [] }])
}

#[test]
fn registers_the_three_schemes() {
    let json = documented(&FastAuthOpenApi::new(&auth()));
    let schemes = &json["components"]["securitySchemes"];
    assert_eq!(schemes.as_object().unwrap().len(), 3, "{schemes:#}");

    let master = &schemes[MASTER_TOKEN_SCHEME];
    assert_eq!(master["type"], "apiKey");
    assert_eq!(master["in"], "header");
    assert_eq!(master["name"], "MASTER-TOKEN");

    let access = &schemes[ACCESS_TOKEN_SCHEME];
    assert_eq!(access["type"], "apiKey");
    assert_eq!(access["in"], "header");
    assert_eq!(access["name"], "ACCESS-TOKEN");

    let bearer = &schemes[BEARER_SCHEME];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(bearer["bearerFormat"], "JWT");
}

#[test]
fn protected_operations_carry_exactly_the_layers_requirement() {
    let json = documented(&FastAuthOpenApi::new(&auth()));
    let paths = &json["paths"];
    assert_eq!(paths["/api/items"]["get"]["security"], access());
    assert_eq!(paths["/api/items"]["post"]["security"], access());
    assert_eq!(paths["/api/items/{id}"]["get"]["security"], access());
    assert_eq!(paths["/admin/stats"]["get"]["security"], master());
}

#[test]
fn unprotected_operations_carry_none() {
    let json = documented(&FastAuthOpenApi::new(&auth()));
    for path in ["/health", "/apis"] {
        let operation = &json["paths"][path]["get"];
        assert!(operation.is_object(), "{path} lost its operation");
        assert!(operation.get("security").is_none(), "{path}: {operation:#}");
    }
    assert!(
        json.get("security").is_none(),
        "no document-wide requirement is added"
    );
}

#[test]
fn documents_the_token_endpoints() {
    let json = documented(&FastAuthOpenApi::new(&auth()));
    let new = &json["paths"]["/auth/token/new"]["get"];
    assert_eq!(new["security"], master());
    let param = &new["parameters"][0];
    assert_eq!(param["name"], "client_id");
    assert_eq!(param["in"], "query");
    assert_eq!(param["required"], false);
    for status in ["200", "400", "401", "503"] {
        assert!(
            new["responses"][status]["description"].is_string(),
            "token/new {status}"
        );
    }

    let refresh = &json["paths"]["/auth/token/refresh"]["get"];
    assert!(refresh.get("security").is_none(), "{refresh:#}");
    let param = &refresh["parameters"][0];
    assert_eq!(param["name"], "refresh_token");
    assert_eq!(param["in"], "query");
    assert_eq!(param["required"], true);
    for status in ["200", "400", "401", "503"] {
        assert!(
            refresh["responses"][status]["description"].is_string(),
            "token/refresh {status}"
        );
    }
    assert!(refresh["responses"]["503"]["headers"]["Retry-After"].is_object());

    // The envelopes are real schemas, referenced from the responses.
    let ok = &new["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(ok, "#/components/schemas/FastAuthTokenResponse");
    let err = &refresh["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(err, "#/components/schemas/FastAuthErrorResponse");
    let schemas = &json["components"]["schemas"];
    let data = &schemas["FastAuthTokenResponse"]["properties"]["data"];
    assert_eq!(
        data["required"],
        json!(["client_id", "access_token", "refresh_token"])
    );
    assert_eq!(
        schemas["FastAuthErrorResponse"]["properties"]["status"]["enum"],
        json!(["error"])
    );
}

#[test]
fn token_endpoints_follow_the_configured_prefix_and_can_be_left_out() {
    let custom = stored()
        .master_token(MASTER)
        .token_prefix("/v1/tokens/")
        .build()
        .unwrap();
    let json = documented(&FastAuthOpenApi::new(&custom));
    assert!(json["paths"]["/v1/tokens/token/new"]["get"].is_object());
    assert!(json["paths"]["/v1/tokens/token/refresh"]["get"].is_object());
    assert!(json["paths"].get("/auth/token/new").is_none());

    let json = documented(&FastAuthOpenApi::new(&auth()).token_endpoints(false));
    assert!(json["paths"].get("/auth/token/new").is_none());
    assert!(json["paths"].get("/auth/token/refresh").is_none());
    assert!(json["components"].get("schemas").is_none());
    assert_eq!(
        json["components"]["securitySchemes"].as_object().unwrap().len(),
        3
    );
}

#[test]
fn applying_twice_changes_nothing() {
    let addon = FastAuthOpenApi::new(&auth());
    let mut doc = app_doc();
    addon.modify(&mut doc);
    let once = to_json(&doc);
    addon.modify(&mut doc);
    assert_eq!(to_json(&doc), once);
}

#[test]
fn declared_requirements_are_kept_and_combined() {
    let mut doc = app_doc();
    let oauth = || SecurityRequirement::new("oauth", ["read"]);
    let mut with = |path: &str, item: PathItem| doc.paths.paths.insert(path.to_owned(), item);
    with(
        "/api/orders",
        PathItemBuilder::new()
            .operation(HttpMethod::Get, OperationBuilder::new().security(oauth()).build())
            .build(),
    );
    with(
        "/health/deep",
        PathItemBuilder::new()
            .operation(HttpMethod::Get, OperationBuilder::new().security(oauth()).build())
            .build(),
    );
    with(
        "/api/public",
        PathItemBuilder::new()
            .operation(
                HttpMethod::Get,
                // An explicitly empty requirement ("no auth") cannot lift the layer's.
                OperationBuilder::new()
                    .security(SecurityRequirement::default())
                    .build(),
            )
            .build(),
    );
    FastAuthOpenApi::new(&auth()).modify(&mut doc);
    let json = to_json(&doc);
    assert_eq!(
        json["paths"]["/api/orders"]["get"]["security"],
        json!([
            { "ACCESS-TOKEN": [], "oauth": ["read"] },
            { "bearer": [], "oauth": ["read"] }
        ])
    );
    assert_eq!(
        json["paths"]["/health/deep"]["get"]["security"],
        json!([{ "oauth": ["read"] }]),
        "unprotected operations keep what they declared"
    );
    assert_eq!(json["paths"]["/api/public"]["get"]["security"], access());
}

#[test]
fn a_document_wide_requirement_is_combined_not_dropped() {
    let mut doc = app_doc();
    doc.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
    FastAuthOpenApi::new(&auth()).modify(&mut doc);
    let json = to_json(&doc);
    assert_eq!(
        json["paths"]["/admin/stats"]["get"]["security"],
        json!([{ "MASTER-TOKEN": [], "api_key": [] }])
    );
    // Unprotected operations still inherit the document's requirement untouched.
    assert!(json["paths"]["/health"]["get"].get("security").is_none());
    assert_eq!(json["security"], json!([{ "api_key": [] }]));
}

#[test]
fn token_router_under_a_guarded_prefix_gets_both_requirements() {
    // `/` guards everything, the token router included, when the layer wraps it.
    let everything = stored().master_token(MASTER).access_paths(["/"]).build().unwrap();
    let json = documented(&FastAuthOpenApi::new(&everything));
    assert_eq!(
        json["paths"]["/auth/token/new"]["get"]["security"],
        json!([
            { "ACCESS-TOKEN": [], "MASTER-TOKEN": [] },
            { "MASTER-TOKEN": [], "bearer": [] }
        ])
    );
    assert_eq!(json["paths"]["/auth/token/refresh"]["get"]["security"], access());
    assert_eq!(json["paths"]["/health"]["get"]["security"], access());
}

#[test]
fn a_parameter_that_may_be_a_guarded_segment_is_marked() {
    let mut doc = app_doc();
    doc.paths
        .add_path_operation("/{section}/stats", vec![HttpMethod::Get], op("section_stats"));
    let addon = FastAuthOpenApi::new(&auth());
    assert_eq!(addon.level_for("/{section}/stats"), Level::Master);
    addon.modify(&mut doc);
    assert_eq!(
        to_json(&doc)["paths"]["/{section}/stats"]["get"]["security"],
        master()
    );
}

#[test]
fn works_on_a_derived_document() {
    /// Items.
    #[utoipa::path(get, path = "/api/items/{id}", params(("id" = u32, Path)), responses((status = 200)))]
    #[allow(dead_code)]
    async fn get_item() {}

    #[derive(OpenApi)]
    #[openapi(paths(get_item))]
    struct ApiDoc;

    let mut doc = ApiDoc::openapi();
    FastAuthOpenApi::new(&auth()).modify(&mut doc);
    let json = to_json(&doc);
    assert_eq!(json["paths"]["/api/items/{id}"]["get"]["security"], access());
}

/// The document's claims hold against the real layer: what it marks unprotected
/// answers without a token, what it marks protected is refused without one and
/// accepted with the documented credential.
#[tokio::test]
async fn the_document_matches_what_the_layer_does() {
    let auth = auth();
    let json = documented(&FastAuthOpenApi::new(&auth));

    let routes = Router::new()
        .route("/api/items", get(|| async { "items" }))
        .route("/api/items/{id}", get(|| async { "item" }))
        .route("/admin/stats", get(|| async { "stats" }))
        .route("/health", get(|| async { "ok" }))
        .route("/apis", get(|| async { "apis" }));
    let app = protected(&auth, routes);
    let base = format!("http://{}", serve(app).await);
    let client = reqwest::Client::new();

    let (status, body) = request_pair(&client, &base, "doc-test").await;
    assert_eq!(status, 200, "{body}");
    let (access_token, _) = pair_of(&body);

    for (template, concrete) in [
        ("/api/items", "/api/items"),
        ("/api/items/{id}", "/api/items/7"),
        ("/admin/stats", "/admin/stats"),
        ("/health", "/health"),
        ("/apis", "/apis"),
    ] {
        let url = format!("{base}{concrete}");
        let bare = client.get(&url).send().await.unwrap().status();
        let security = &json["paths"][template]["get"]["security"];
        if security.is_null() {
            assert_eq!(bare, 200, "{concrete} is documented as open");
            continue;
        }
        assert_eq!(bare, 401, "{concrete} is documented as protected");
        let granted = if *security == master() {
            client
                .get(&url)
                .header("MASTER-TOKEN", MASTER)
                .send()
                .await
                .unwrap()
        } else {
            assert_eq!(*security, access());
            let bearer = client.get(&url).bearer_auth(&access_token).send().await.unwrap();
            assert_eq!(bearer.status(), 200, "{concrete} with a bearer token");
            client
                .get(&url)
                .header("ACCESS-TOKEN", &access_token)
                .send()
                .await
                .unwrap()
        };
        assert_eq!(granted.status(), 200, "{concrete} with its documented credential");
    }
}
