//! `/openapi.json` documents the whole contract, and `/docs` serves the page that shows it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Anyone,
    /// Anonymous callers too, but a token, when sent, is checked.
    Optional,
    Token,
}

use Auth::{Anyone, Optional, Token};

/// Every operation of the contract (shared/spec/API.md), with the error statuses it can answer.
#[rustfmt::skip]
const CONTRACT: &[(&str, &str, Auth, &[u16])] = &[
    ("post",   "/accounts/signup/",                           Anyone,   &[400, 409, 413, 415, 429, 503]),
    ("post",   "/accounts/login/",                            Anyone,   &[400, 401, 413, 415, 429, 503]),
    ("post",   "/accounts/logout/",                           Token,    &[401, 429, 503]),
    ("post",   "/accounts/logout-all/",                       Token,    &[401, 429, 503]),
    ("get",    "/accounts/me/",                               Token,    &[401, 503]),
    ("get",    "/accounts/{user}/",                           Optional, &[401, 404, 503]),
    ("get",    "/accounts/{user}/posts/",                     Token,    &[400, 401, 404, 503]),
    ("patch",  "/accounts/{user}/",                           Token,    &[400, 401, 403, 404, 413, 415, 429, 503]),
    ("delete", "/accounts/{user}/",                           Token,    &[401, 403, 404, 429, 503]),
    ("post",   "/accounts/follow/{id}/",                      Token,    &[400, 401, 404, 409, 429, 503]),
    ("delete", "/accounts/follow/{id}/",                      Token,    &[401, 404, 429, 503]),
    ("delete", "/accounts/remove-follower/{id}/",             Token,    &[401, 404, 429, 503]),
    ("get",    "/accounts/follower/{user}/",                  Token,    &[400, 401, 404, 503]),
    ("get",    "/accounts/following/{user}/",                 Token,    &[400, 401, 404, 503]),
    ("post",   "/posts/create/",                              Token,    &[400, 401, 413, 415, 429, 503]),
    ("get",    "/posts/edit/{id}/",                           Token,    &[401, 404, 503]),
    ("patch",  "/posts/edit/{id}/",                           Token,    &[400, 401, 403, 404, 413, 415, 429, 503]),
    ("put",    "/posts/edit/{id}/",                           Token,    &[400, 401, 403, 404, 413, 415, 429, 503]),
    ("delete", "/posts/edit/{id}/",                           Token,    &[401, 403, 404, 429, 503]),
    ("post",   "/posts/post-reaction/{id}/",                  Token,    &[401, 404, 429, 503]),
    ("get",    "/posts/post-reaction/{id}/",                  Token,    &[400, 401, 404, 503]),
    ("delete", "/posts/post-reaction/{id}/",                  Token,    &[401, 404, 429, 503]),
    ("delete", "/posts/delete-like/{id}/",                    Token,    &[401, 404, 429, 503]),
    ("get",    "/posts/post-comment/{post_id}/",              Token,    &[400, 401, 404, 503]),
    ("post",   "/posts/post-comment/{post_id}/",              Token,    &[400, 401, 404, 413, 415, 429, 503]),
    ("get",    "/posts/post-comment/{post_id}/{comment_id}/", Token,    &[400, 401, 404, 503]),
    ("post",   "/posts/post-comment/{post_id}/{comment_id}/", Token,    &[400, 401, 404, 413, 415, 429, 503]),
    ("delete", "/posts/delete-comment/{comment_id}/",         Token,    &[401, 403, 404, 429, 503]),
    ("get",    "/posts/post-feed/",                           Token,    &[400, 401, 503]),
    ("get",    "/media/{key}",                                Anyone,   &[404, 503]),
    ("get",    "/healthz",                                    Anyone,   &[]),
    ("get",    "/readyz",                                     Anyone,   &[503]),
    ("get",    "/openapi.json",                               Anyone,   &[]),
    ("get",    "/docs",                                       Anyone,   &[]),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "options", "head", "trace",
];

/// The schema a response's JSON content points at, resolving a `$ref` to a shared response.
fn response_schema<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    let response = match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            &doc["components"]["responses"][name]
        }
        None => response,
    };
    &response["content"]["application/json"]["schema"]
}

async fn openapi(app: &TestApp) -> Value {
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_the_contract() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = openapi(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );

    for (method, path, auth, errors) in CONTRACT {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let responses = &operation["responses"];
        assert!(
            responses
                .as_object()
                .is_some_and(|r| r.keys().any(|status| status.starts_with(['2', '3']))),
            "{method} {path} documents no success"
        );
        for status in *errors {
            let response = &responses[status.to_string()];
            assert!(response.is_object(), "{method} {path} lacks {status}");
            assert_eq!(
                response_schema(&doc, response)["$ref"],
                "#/components/schemas/Error",
                "{method} {path} {status} has not the error body"
            );
        }
        for (status, response) in responses.as_object().into_iter().flatten() {
            if status.starts_with(['4', '5']) {
                let known = errors.iter().any(|e| e.to_string() == *status);
                assert!(
                    known,
                    "{method} {path} documents {status}, not in the contract"
                );
                assert!(response_schema(&doc, response).is_object());
            }
        }
        let security: Vec<Value> = operation["security"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let has = |scheme: &str| security.iter().any(|s| s.get(scheme).is_some());
        let optional = security
            .iter()
            .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
        match auth {
            Anyone => assert!(security.is_empty(), "{method} {path} asks for a token"),
            Optional | Token => {
                assert!(
                    has("token") && has("bearer"),
                    "{method} {path}: {security:?}"
                );
                assert_eq!(optional, *auth == Optional, "{method} {path}: {security:?}");
            }
        }
    }

    // Nothing is documented that the contract does not have.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            assert!(
                CONTRACT.iter().any(|(m, p, ..)| m == method && p == path),
                "{method} {path} is documented but not in the contract"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemes_bodies_and_parameters() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = openapi(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["type"], "apiKey");
    assert_eq!(schemes["token"]["in"], "header");
    assert_eq!(schemes["token"]["name"], "Authorization");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    let error = &doc["components"]["schemas"]["Error"];
    let required: Vec<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["detail", "code"]);

    // Uploads are multipart with their fields.
    let upload = &doc["paths"]["/posts/create/"]["post"]["requestBody"]["content"];
    let form = &upload["multipart/form-data"]["schema"];
    let form = match form["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => form,
    };
    for field in ["image", "caption", "alt_text"] {
        assert!(form["properties"][field].is_object(), "no {field}: {form}");
    }
    // `image` repeats (one to ten pictures): an array of binary strings.
    let image = &form["properties"]["image"];
    assert_eq!(image["type"], "array", "{image}");
    assert_eq!(image["items"]["format"], "binary", "{image}");
    assert_eq!(image["maxItems"], 10, "{image}");
    let profile = &doc["paths"]["/accounts/{user}/"]["patch"]["requestBody"]["content"];
    assert!(profile["multipart/form-data"].is_object());
    assert!(profile["application/json"].is_object());

    // Trimmed text fields declare no maxLength: the server counts their length after trimming
    // (as DRF did), which a JSON Schema maximum cannot say; their descriptions say it instead.
    // (schemathesis sent 2,200 characters after a space and saw them accepted.)
    let text = doc.to_string();
    assert!(
        !text.contains("\"maxLength\":2200"),
        "caption or content has a maxLength"
    );
    assert!(
        !text.contains("\"maxLength\":1000"),
        "alt_text has a maxLength"
    );
    assert!(
        !text.contains("\"maxLength\":255"),
        "full_name or bio has a maxLength"
    );
    assert!(
        text.contains("\"maxLength\":1024"),
        "passwords are not trimmed: theirs stays"
    );

    // JSON bodies and lists with their query parameters.
    let signup = &doc["paths"]["/accounts/signup/"]["post"]["requestBody"]["content"];
    assert!(signup["application/json"]["schema"].is_object());
    for path in [
        "/posts/post-feed/",
        "/accounts/follower/{user}/",
        "/posts/post-reaction/{id}/",
    ] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        for name in ["limit", "cursor"] {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "query"),
                "{path} lacks ?{name}="
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serves_the_swagger_ui_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/docs", "/docs/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.url().path(), "/docs/");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let page = response.text().await.unwrap();
        assert!(page.contains("swagger-ui"), "{page}");
    }
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    let script = initializer.text().await.unwrap();
    assert!(script.contains("/openapi.json"), "{script}");
    let (status, _) = app.get("/docs/no-such-file.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, doc) = app.get("/openapi.json/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"].is_object());
}
