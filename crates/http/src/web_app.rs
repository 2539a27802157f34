//! The web app of `web/` (plain JavaScript modules and CSS, no build step), embedded in the binary
//! and served beside the API. The app talks to the API only through its public JSON answers; this
//! module only serves its files.
//!
//! - `GET /assets/{version}/{file}`: the app's files. `{version}` is a hash of every file, so an
//!   answer may be cached for good (`immutable`): any change to any file changes every URL, and the
//!   modules' relative imports stay within one version. Another version or file is the JSON `404`.
//! - The app shell (`web/index.html`, its `{{assets}}` replaced by `/assets/{version}` and its
//!   `{{modulepreload}}` by a preload link for each module): for `GET /`, and for any other `GET`
//!   or `HEAD` whose `Accept` names `text/html` and whose path lies outside the API's own prefixes
//!   (the app's client-side routes, such as `/p/12` or `/u/3/followers`). It is revalidated on
//!   each load (`no-cache`, with an `ETag`) and carries a strict Content-Security-Policy.
//!
//! Everything else is untouched: the API's paths, any path asked without `text/html` (API
//! clients), and any method but `GET` and `HEAD` keep their JSON answers and `404`s (the app's
//! pages are answered by [`fallback`], the default service, only once no API route matched; logs
//! and metrics count them as unmatched routes, like any unknown path).

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::guard;
use actix_web::http::{Method, header};
use actix_web::middleware::Compress;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use include_dir::{Dir, include_dir};
use sha2::{Digest as _, Sha256};

use crate::dto::Urls;
use crate::error::ApiError;

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web");

/// The first path segments the API (and `/assets/`) answer under: never the app shell there.
const API_PREFIXES: &[&str] = &[
    "accounts",
    "posts",
    "media",
    "docs",
    "openapi.json",
    "healthz",
    "readyz",
    "metrics",
    "assets",
];

/// Answers that may be kept for good: their URL changes with their content.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// The shell's policy: the app's own scripts and styles only (no inline code), pictures from
/// itself (plus `blob:` for upload previews and `data:`), API calls to itself only, no plugin,
/// no framing, no base URL or form target elsewhere, and DOM sinks (`innerHTML`) refused.
/// [`shell`] adds the origin of the media URLs when it is not the page's own.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:{media}; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
    object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

struct Assets {
    version: String,
    shell: Bytes,
    shell_etag: String,
    files: HashMap<&'static str, &'static [u8]>,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let mut files = HashMap::new();
    collect(&WEB, &mut files);
    let mut names: Vec<_> = files.keys().copied().collect();
    names.sort_unstable();
    let mut hasher = Sha256::new();
    for name in &names {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(files[name]);
        hasher.update([0]);
    }
    let version: String = hasher.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let prefix = format!("/assets/{version}");
    let preload: String = names
        .iter()
        .filter(|name| name.ends_with(".js"))
        .map(|name| format!("<link rel=\"modulepreload\" href=\"{prefix}/{name}\">\n"))
        .collect();
    let template = files
        .get("index.html")
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let shell = template
        .replace("{{modulepreload}}", preload.trim_end())
        .replace("{{assets}}", &prefix);
    Assets {
        shell_etag: format!("W/\"{version}\""),
        version,
        shell: Bytes::from(shell),
        files,
    }
});

/// Every file under `dir`, by its path relative to `web/`; hidden files and notes (`.md`) stay out.
fn collect(dir: &'static Dir<'static>, into: &mut HashMap<&'static str, &'static [u8]>) {
    for file in dir.files() {
        let Some(path) = file.path().to_str() else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        if !name.starts_with('.') && !name.ends_with(".md") {
            into.insert(path, file.contents());
        }
    }
    for sub in dir.dirs() {
        collect(sub, into);
    }
}

/// Registers the app's files and `/`; register it after the API's routes, with [`fallback`] as the
/// default service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(
        web::resource("/assets/{version}/{file:.+}")
            .guard(get_or_head())
            .wrap(Compress::default())
            .to(asset),
    )
    .service(
        web::resource("/")
            .guard(get_or_head())
            .wrap(Compress::default())
            .to(shell),
    );
}

/// The default service, for paths no route matches: the app shell when a browser asks for a page
/// outside the API (one of the app's client-side routes), the JSON `404` otherwise. Being the
/// default service rather than a catch-all route, it leaves unknown paths unmatched in logs and
/// metrics.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = matches!(*req.method(), Method::GET | Method::HEAD)
        && accepts_html(&req)
        && is_app_path(req.path());
    if page {
        Ok(shell(req).await)
    } else {
        crate::routes::not_found().await
    }
}

fn accepts_html(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// Whether `path` may be a route of the app: its first segment is plain text (no escapes, which
/// could spell an API prefix) and none of the API's.
fn is_app_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let plain = first
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plain && !API_PREFIXES.contains(&first)
}

/// One of the app's files (not the shell's template: pages are served only with their policy).
async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let assets = &*ASSETS;
    let info = req.match_info();
    let (Some(version), Some(name)) = (info.get("version"), info.get("file")) else {
        return Err(ApiError::NoRoute);
    };
    let served = version == assets.version && !name.ends_with(".html");
    let Some(bytes) = assets.files.get(name).filter(|_| served) else {
        return Err(ApiError::NoRoute);
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type(name))
        .insert_header((header::CACHE_CONTROL, CACHE_FOREVER))
        .body(Bytes::from_static(bytes)))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" | "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// The app shell, whatever the route: the app reads the path itself.
async fn shell(req: HttpRequest) -> HttpResponse {
    let assets = &*ASSETS;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, assets.shell_etag.as_str()))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy(&req)))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == assets.shell_etag));
    if fresh {
        return response
            .status(actix_web::http::StatusCode::NOT_MODIFIED)
            .finish();
    }
    response
        .content_type("text/html; charset=utf-8")
        .body(assets.shell.clone())
}

/// [`CSP`], with the origin of the API's absolute media URLs when they name another host than
/// the page's (`PUBLIC_URL` or the listening address while the page was opened by another name,
/// such as `localhost`). An origin that is not plainly a scheme, host and port is left out.
fn policy(req: &HttpRequest) -> String {
    let base = Urls::from_request(req).absolute("");
    let origin = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    let plain = origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https")
            && !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let media = if plain && !origin.eq_ignore_ascii_case(&own) {
        format!(" {origin}")
    } else {
        String::new()
    };
    CSP.replace("{media}", &media)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::App;
    use actix_web::http::StatusCode;
    use actix_web::test::{TestRequest, call_service, init_service, read_body_json};

    #[test]
    fn app_paths() {
        for path in [
            "/",
            "/p/12",
            "/u/3/followers",
            "/login",
            "/index.html",
            "/new",
        ] {
            assert!(is_app_path(path), "{path}");
        }
        for path in [
            "/accounts/",
            "/accounts",
            "/posts/edit/1/",
            "/media/x.jpg",
            "/docs/",
            "/openapi.json",
            "/healthz",
            "/readyz",
            "/metrics",
            "/assets/x/app.js",
            "/%61ccounts/nope",
        ] {
            assert!(!is_app_path(path), "{path}");
        }
    }

    #[test]
    fn the_shell_names_its_assets() {
        let assets = &*ASSETS;
        assert_eq!(assets.version.len(), 12);
        let shell = std::str::from_utf8(&assets.shell).unwrap();
        assert!(!shell.contains("{{"), "{shell}");
        assert!(shell.contains(&format!("/assets/{}/", assets.version)));
        assert!(shell.contains("rel=\"modulepreload\""));
        assert!(!shell.contains("<script>"), "no inline script: {shell}");
        assert!(!shell.contains("style="), "no inline style: {shell}");
    }

    #[actix_web::test]
    async fn shell_assets_and_json_404s() {
        let app = init_service(
            App::new()
                .configure(configure)
                .default_service(web::to(fallback)),
        )
        .await;
        let html = |uri: &str| {
            TestRequest::get()
                .uri(uri)
                .insert_header((header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8"))
        };
        for uri in ["/", "/p/1", "/u/2/following"] {
            let response = call_service(&app, html(uri).to_request()).await;
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let csp = response.headers().get(header::CONTENT_SECURITY_POLICY);
            assert!(
                csp.unwrap()
                    .to_str()
                    .unwrap()
                    .contains("script-src 'self';")
            );
            assert_eq!(
                response.headers().get(header::CACHE_CONTROL).unwrap(),
                "no-cache"
            );
        }
        // API clients keep the JSON 404, and so do the API's prefixes for browsers.
        for req in [
            TestRequest::get().uri("/nope").to_request(),
            TestRequest::get()
                .uri("/nope")
                .insert_header((header::ACCEPT, "*/*"))
                .to_request(),
            html("/accounts/nope/").to_request(),
            html("/media/nope").to_request(),
            TestRequest::post()
                .uri("/p/1")
                .insert_header((header::ACCEPT, "text/html"))
                .to_request(),
        ] {
            let response = call_service(&app, req).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let body: serde_json::Value = read_body_json(response).await;
            assert_eq!(body["code"], "not_found");
        }

        let version = &ASSETS.version;
        let uri = format!("/assets/{version}/app.css");
        let response = call_service(&app, TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get(header::CACHE_CONTROL).unwrap(),
            CACHE_FOREVER
        );
        for uri in [
            "/assets/000000000000/app.css",
            &format!("/assets/{version}/nope.js"),
            &format!("/assets/{version}/index.html"),
        ] {
            let response = call_service(&app, TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        }

        let etag = ASSETS.shell_etag.clone();
        let response = call_service(
            &app,
            html("/")
                .insert_header((header::IF_NONE_MATCH, etag))
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }
}
