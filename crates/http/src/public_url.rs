//! Where the absolute URLs of answers (`image_url`, `thumbnail_url`, `avatar_url`, `next`) point.
//!
//! A client must not choose the host of links that others may follow or that a cache may keep:
//! `Forwarded` and `X-Forwarded-Host` are only believed behind a proxy that sets them
//! (`BEHIND_PROXY`), and `PUBLIC_URL` beats every header.

use std::net::SocketAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::http::uri::Authority;

/// `http://` or `https://`, a host with an optional port, and an optional path prefix; no
/// trailing slash, no user info, query or fragment. Built only by [`BaseUrl::parse`] and
/// [`BaseUrl::for_address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// # Errors
    /// Why `text` is not such a URL, as a phrase for the configuration error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('/');
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("expected a URL starting with http:// or https://")?;
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty()
            || authority.contains('@')
            || authority.parse::<Authority>().is_err()
        {
            return Err(
                "expected a host (and port) after the scheme, such as https://social.example"
                    .into(),
            );
        }
        if prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return Err("the path may not hold spaces, a query or a fragment".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// `http://` and the address the server listens on.
    pub fn for_address(address: SocketAddr) -> Self {
        Self(format!("http://{address}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the base of a request's absolute URLs is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicUrl {
    /// Always this base: `PUBLIC_URL`, or else the address the server listens on.
    Fixed(BaseUrl),
    /// The scheme and host the proxy in front reports (`Forwarded`, `X-Forwarded-Proto`,
    /// `X-Forwarded-Host`, then `Host`): behind a proxy, without `PUBLIC_URL`.
    FromProxy,
    /// The `Host` header, else `fallback`: the server listens on every interface (`0.0.0.0`,
    /// `::`) and was not told its public address, so no single address would be right.
    FromHost { fallback: BaseUrl },
}

impl PublicUrl {
    /// The policy for a server listening on `listening`: `configured` (`PUBLIC_URL`) when given,
    /// else what the proxy reports when `behind_proxy`, else the listening address.
    pub fn new(configured: Option<BaseUrl>, behind_proxy: bool, listening: SocketAddr) -> Self {
        match configured {
            Some(base) => Self::Fixed(base),
            None if behind_proxy => Self::FromProxy,
            None if listening.ip().is_unspecified() => Self::FromHost {
                fallback: BaseUrl::for_address(listening),
            },
            None => Self::Fixed(BaseUrl::for_address(listening)),
        }
    }

    /// The base of `req`'s absolute URLs under this policy.
    pub fn base(&self, req: &HttpRequest) -> String {
        match self {
            Self::Fixed(base) => base.0.clone(),
            Self::FromProxy => {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            }
            Self::FromHost { fallback } => {
                host_header(req).map_or_else(|| fallback.0.clone(), |host| format!("http://{host}"))
            }
        }
    }
}

/// The request's `Host` (or HTTP/2 `:authority`) when it is a well-formed host and port.
fn host_header(req: &HttpRequest) -> Option<String> {
    let host = match req.headers().get(header::HOST) {
        Some(value) => value.to_str().ok()?.to_owned(),
        None => req.uri().authority()?.as_str().to_owned(),
    };
    let authority: Authority = host.parse().ok()?;
    (!authority.as_str().contains('@')).then(|| authority.as_str().to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn forged() -> HttpRequest {
        TestRequest::get()
            .insert_header(("host", "api.example:8080"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("forwarded", "host=evil.example;proto=https"))
            .to_http_request()
    }

    #[test]
    fn base_urls() {
        let ok = |text: &str| BaseUrl::parse(text).unwrap().as_str().to_owned();
        assert_eq!(ok("https://social.example/"), "https://social.example");
        assert_eq!(ok(" http://10.0.0.1:8080 "), "http://10.0.0.1:8080");
        assert_eq!(
            ok("https://example.org/social/"),
            "https://example.org/social"
        );
        assert_eq!(ok("http://[::1]:8080"), "http://[::1]:8080");
        for bad in [
            "",
            "social.example",
            "ftp://social.example",
            "https://",
            "https://user@social.example",
            "https://social example",
            "https://social.example/a?b",
            "https://social.example/#x",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(BaseUrl::for_address(v6).as_str(), "http://[::1]:8080");
    }

    #[test]
    fn forged_headers_count_only_behind_a_proxy() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let configured = BaseUrl::parse("https://social.example").ok();
        let base = |policy: PublicUrl| policy.base(&forged());

        assert_eq!(
            base(PublicUrl::new(None, false, local)),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base(PublicUrl::new(configured.clone(), false, local)),
            "https://social.example"
        );
        assert_eq!(
            base(PublicUrl::new(configured, true, local)),
            "https://social.example"
        );
        assert_eq!(
            base(PublicUrl::new(None, false, any)),
            "http://api.example:8080"
        );
        assert_eq!(
            base(PublicUrl::new(None, true, local)),
            "https://evil.example"
        );

        let junk = TestRequest::get()
            .insert_header(("host", "a b"))
            .to_http_request();
        assert_eq!(
            PublicUrl::new(None, false, any).base(&junk),
            "http://0.0.0.0:8080"
        );
    }
}
