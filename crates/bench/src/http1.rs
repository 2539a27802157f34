//! A minimal HTTP/1.1 client for the load drivers: one keep-alive connection, one request at a
//! time, responses with a `Content-Length` (every answer of the server has one).
//!
//! Why not reqwest: a load driver shares the machine's two cores with the server and PostgreSQL,
//! so its own CPU shows up in the server's latency. Writing prepared bytes and parsing only the
//! answer's head (with `httparse`), as wrk does, halved the driver's user CPU for the 4,000 mutual
//! follows against reqwest (pool bookkeeping, URL parsing, header maps), and their p99 went from
//! 20-24 ms to 17-20 ms in alternating runs on the benchmark's database.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: `host:port` and the path (with query) of an `http://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, to connect to and for the `Host` header.
    pub authority: String,
    pub path: String,
}

impl Target {
    /// # Errors
    /// A URL that is not `http://host:port/...`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{url:?} is not an http:// URL"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !authority.contains(':') {
            anyhow::bail!("{url:?} has no port");
        }
        Ok(Self {
            authority: authority.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
        })
    }

    /// The bytes of a request for `path` with `body` of type `content_type`.
    pub fn request_with_body(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Vec<u8> {
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// The bytes of a request for `path` on this target (a body-less `POST` says so).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.authority);
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" {
            out.push_str("Content-Length: 0\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
}

impl Connection {
    /// # Errors
    /// When the server cannot be reached.
    pub async fn open(target: &Target) -> io::Result<Self> {
        let stream = TcpStream::connect(&target.authority).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(32 * 1024),
        })
    }

    /// Sends `request` and reads the whole answer; returns its status.
    ///
    /// # Errors
    /// A transport error, a malformed answer, or one without `Content-Length`.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, len)) = parse_head(&self.buf)? {
                while self.buf.len() < len {
                    self.fill().await?;
                }
                self.buf.drain(..len);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    /// Sends `request` and reads the whole answer; returns its status and body.
    ///
    /// # Errors
    /// As [`Self::send`].
    pub async fn send_for_body(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, len, head)) = parse_head_len(&self.buf)? {
                while self.buf.len() < len {
                    self.fill().await?;
                }
                let body = self.buf[head..len].to_vec();
                self.buf.drain(..len);
                return Ok((status, body));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// The status and the whole answer's length (head and body), once the head is complete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize)>> {
    Ok(parse_head_len(buf)?.map(|(status, len, _)| (status, len)))
}

/// The status, the whole answer's length and the head's, once the head is complete.
fn parse_head_len(buf: &[u8]) -> io::Result<Option<(u16, usize, usize)>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(invalid(&err.to_string())),
    };
    let status = response.code.ok_or_else(|| invalid("no status"))?;
    // No body, and no Content-Length needed (an unfollow answers 204).
    if status == 204 || status == 304 {
        return Ok(Some((status, head_len, head_len)));
    }
    let body_len = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or_else(|| invalid("an answer without Content-Length"))?;
    Ok(Some((status, head_len + body_len, head_len)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_requests() {
        let target = Target::parse("http://127.0.0.1:8080/posts/post-feed/?limit=30").unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.path, "/posts/post-feed/?limit=30");
        assert_eq!(Target::parse("http://h:1").unwrap().path, "/");
        assert!(Target::parse("https://h:1/").is_err());
        assert!(Target::parse("http://h/").is_err());
        let bytes = target.request("POST", "/x/", &[("Authorization", "Token t")]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /x/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Token t\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn heads_are_parsed_once_complete() {
        let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_head(&answer[..20]).unwrap(), None);
        assert_eq!(parse_head(answer).unwrap(), Some((201, answer.len())));
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parse_head(empty).unwrap(), Some((204, empty.len())));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
    }
}
