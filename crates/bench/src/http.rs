//! A lean HTTP/1.1 client over one keep-alive TCP connection.
//!
//! The load generator shares the machine's cores with the server it measures, so it does as little
//! as it can per request: requests are prebuilt bytes, responses are parsed with `httparse` into a
//! reused buffer, and nothing is allocated on the hot path once the buffers have grown.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection. Reconnects by itself when the server closes it.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Bytes read from the socket and not yet consumed.
    buf: Vec<u8>,
    /// The body of the last response (chunked bodies are decoded into it).
    body: Vec<u8>,
    /// The session cookie (`name=value`) the last response set, if any.
    cookie: Option<String>,
}

struct Head {
    status: u16,
    len: usize,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    cookie: Option<String>,
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 40];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("bad HTTP response: {e}"))),
    };
    let mut head = Head {
        status: response.code.unwrap_or(0),
        len,
        content_length: None,
        chunked: false,
        close: false,
        cookie: None,
    };
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|e| invalid(e.to_string()))?;
            head.content_length = Some(
                text.trim()
                    .parse()
                    .map_err(|_| invalid("bad content-length"))?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            head.close = h.value.eq_ignore_ascii_case(b"close");
        } else if h.name.eq_ignore_ascii_case("set-cookie") {
            let text = String::from_utf8_lossy(h.value);
            head.cookie = text.split(';').next().map(|pair| pair.trim().to_string());
        }
    }
    Ok(Some(head))
}

/// Decodes a complete chunked body at the start of `data` into `out`; `None` while incomplete.
fn decode_chunked(data: &[u8], out: &mut Vec<u8>) -> io::Result<Option<usize>> {
    out.clear();
    let mut pos = 0;
    loop {
        let Some(line_end) = data[pos..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[pos..pos + line_end])
            .map_err(|_| invalid("bad chunk size line"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        pos += line_end + 2;
        if size == 0 {
            // Skip trailers up to the blank line.
            loop {
                let Some(end) = data[pos..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        if data.len() < pos + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[pos..pos + size]);
        pos += size + 2;
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let mut conn = Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            body: Vec::with_capacity(16 * 1024),
            cookie: None,
        };
        conn.connect().await?;
        Ok(conn)
    }

    async fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.buf.clear();
        Ok(())
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The cookie (`name=value`) the last response set, if it set one.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    /// Sends one complete request (head and body) and reads the response; returns its status.
    /// A connection the server closed while idle is reopened once, transparently.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        match self.exchange(request).await {
            Err(e) if is_stale(&e) => {
                self.connect().await?;
                self.exchange(request).await
            }
            other => other,
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let result = self.exchange_inner(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_inner(&mut self, request: &[u8]) -> io::Result<u16> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        stream.write_all(request).await?;
        self.buf.clear();
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let consumed = if head.chunked {
            loop {
                if let Some(used) = decode_chunked(&self.buf[head.len..], &mut self.body)? {
                    break head.len + used;
                }
                read_more(stream, &mut self.buf).await?;
            }
        } else {
            // Without a length (204, 304) the body is empty: our server never ends one by closing.
            let len = head.content_length.unwrap_or(0);
            while self.buf.len() < head.len + len {
                read_more(stream, &mut self.buf).await?;
            }
            self.body.clear();
            self.body
                .extend_from_slice(&self.buf[head.len..head.len + len]);
            head.len + len
        };
        if consumed != self.buf.len() {
            return Err(invalid("unexpected bytes after the response"));
        }
        if head.close {
            self.stream = None;
        }
        self.cookie = head.cookie;
        Ok(head.status)
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    let n = stream.read_buf(buf).await?;
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(())
}

fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// Builds the bytes of one HTTP/1.1 request.
pub fn request(
    method: &str,
    host: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    let mut bytes = match body {
        Some((content_type, body)) => {
            out.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ));
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(body);
            bytes
        }
        None => {
            out.push_str("\r\n");
            out.into_bytes()
        }
    };
    bytes.shrink_to_fit();
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_decoded_once_complete() {
        let mut out = Vec::new();
        let data = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(decode_chunked(&data[..10], &mut out).ok(), Some(None));
        assert_eq!(decode_chunked(data, &mut out).ok(), Some(Some(data.len())));
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn head_gives_status_length_and_connection() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\nConnection: close\r\n\r\n";
        let head = parse_head(raw).ok().flatten();
        assert!(matches!(
            head,
            Some(Head {
                status: 404,
                content_length: Some(12),
                close: true,
                chunked: false,
                ..
            })
        ));
    }
}
