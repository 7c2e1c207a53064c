//! Plain HTTP requests to a server's own local ports, carried through the
//! SSH connection (a `direct-tcpip` channel), so Gantry can ask a server's
//! nginx "what are you serving?" from where nginx itself is listening,
//! without curl on the server and without opening any port to the outside.

use crate::SshError;
use crate::conn::{Connection, Step};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

/// Largest response Gantry reads back (markers and status pages are tiny).
const MAX_RESPONSE: usize = 256 * 1024;

/// An HTTP response read through the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Response headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (bounded).
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses an HTTP/1.x response read to EOF (`Connection: close`).
pub fn parse_reply(raw: &[u8]) -> Result<HttpReply, String> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the response has no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:.80}"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line: {status_line:.80}"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    }
    Ok(HttpReply { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

impl Connection {
    /// `GET path` with `Host: host_header` to `addr:port` as seen from the
    /// server (e.g. `127.0.0.1:80`), through a `direct-tcpip` channel.
    ///
    /// Fails with [`SshError::Session`] when the server refuses forwarding
    /// (`AllowTcpForwarding no`) or nothing listens there.
    pub async fn http_get_local(
        &self,
        addr: &str,
        port: u16,
        host_header: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<HttpReply, SshError> {
        if [addr, host_header, path].iter().any(|s| s.chars().any(|c| c.is_control() || c == ' ')) {
            return Err(SshError::InvalidCommand("HTTP request fields must not contain spaces or control characters".into()));
        }
        let span = tracing::debug_span!("ssh_http", server_id = self.server_id, addr, port, host = host_header, path);
        let work = async {
            let ch = self
                .handle
                .channel_open_direct_tcpip(addr, u32::from(port), "127.0.0.1", 0)
                .await
                .map_err(|e| SshError::Session(format!("cannot open a tunnel to {addr}:{port} on the server: {e}")))?;
            let mut stream = ch.into_stream();
            let req = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: gantry\r\nConnection: close\r\n\r\n");
            stream.write_all(req.as_bytes()).await.map_err(|e| SshError::Session(format!("tunnel write: {e}")))?;
            stream.flush().await.map_err(|e| SshError::Session(format!("tunnel write: {e}")))?;
            let mut raw = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = stream.read(&mut buf).await.map_err(|e| SshError::Session(format!("tunnel read: {e}")))?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    break;
                }
            }
            if raw.is_empty() {
                return Err(SshError::Session(format!("nothing answered on {addr}:{port} on the server")));
            }
            parse_reply(&raw).map_err(|e| SshError::Session(format!("{addr}:{port}: {e}")))
        };
        match tokio::time::timeout(timeout, work).instrument(span).await {
            Ok(r) => r,
            Err(_) => Err(SshError::Timeout { step: Step::Command, seconds: timeout.as_secs().max(1) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_plain_and_chunked() {
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: b\r\n\r\nhello").unwrap_or_else(|e| HttpReply {
            status: 0,
            headers: vec![],
            body: e.into_bytes(),
        });
        assert_eq!((r.status, r.text().as_str(), r.header("x-a")), (200, "hello", Some("b")));
        let r = parse_reply(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(r.map(|r| (r.status, r.text())), Ok((404, "abcde".to_string())));
        assert!(parse_reply(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
