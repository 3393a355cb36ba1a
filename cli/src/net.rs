//! The one HTTP client of the three programs: the gate's bundle sync, the wallet's
//! enrolment and refresh, and the officer's client all go through it. Every request of a
//! client shares one deadline (a server that trickles bytes cannot hold a command for
//! ever); bodies are read through a cap, never buffered whole first; redirects are
//! followed only within the origin the client was made for; and an error keeps its whole
//! cause (the DNS failure, the refused connection, the TLS alert), without the URL twice.

use crate::CliError;
use std::io::Read;
use std::time::{Duration, Instant};

/// How long connecting to a server may take, within a client's deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed (within the origin) before the request fails.
pub const MAX_REDIRECTS: usize = 5;

/// A blocking HTTP(S) client bound to one origin and one deadline.
pub struct Http {
    client: reqwest::blocking::Client,
    deadline: Instant,
    budget: Duration,
}

/// The answer to a request: the status and the body, at most the cap the caller gave.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Http {
    /// A client for the origin of `base` (scheme, host and port), whose requests must all
    /// finish within `budget` from now.
    pub fn new(base: &str, budget: Duration) -> Result<Http, CliError> {
        // The address's rules are tuaton's (http or https, a host, no user name); the
        // origin compared with a redirect's is the URL parser's, so a host written in
        // Thai script (an IDN) and its punycode form are one origin.
        let bad = || CliError::Unreachable {
            url: base.to_owned(),
            reason: "not an http:// or https:// address with a host".into(),
        };
        tuaton_common::bundle::url_origin(base).ok_or_else(bad)?;
        let origin = reqwest::Url::parse(base).map_err(|_| bad())?.origin();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let url = attempt.url();
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if url.origin() != origin
                || !url.username().is_empty()
                || url.password().is_some()
            {
                // A mirror or a service must not send the client elsewhere (another host,
                // or http from https).
                attempt.error("a redirect to another origin was refused")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::blocking::Client::builder()
            .redirect(policy)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| CliError::Unreachable {
                url: base.to_owned(),
                reason: cause(&e),
            })?;
        Ok(Http {
            client,
            deadline: Instant::now() + budget,
            budget,
        })
    }

    /// The same client (its connections and TLS roots kept: building a client costs more
    /// than a request on a quiet network) with a fresh deadline of `budget` from now.
    pub fn renewed(&self, budget: Duration) -> Http {
        Http {
            client: self.client.clone(),
            deadline: Instant::now() + budget,
            budget,
        }
    }

    /// GETs `url`; a status other than 2xx is an error. The body is at most `max` bytes.
    pub fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, CliError> {
        let a = self.send(self.client.get(url), url, max)?;
        if !a.is_success() {
            return Err(CliError::HttpStatus {
                url: url.to_owned(),
                status: a.status,
            });
        }
        Ok(a.body)
    }

    /// POSTs `body` as JSON to `url` (with a bearer token if given); any status is an
    /// answer for the caller to read. The answer is at most `max` bytes.
    pub fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: &impl serde::Serialize,
        max: u64,
    ) -> Result<Answer, CliError> {
        let body = serde_json::to_vec(body).map_err(|e| CliError::Unreachable {
            url: url.to_owned(),
            reason: format!("the request does not encode ({e})"),
        })?;
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        self.send(req, url, max)
    }

    /// POSTs `pairs` form-encoded (`application/x-www-form-urlencoded`, as an OAuth token
    /// request is) to `url`; any status is an answer. The answer is at most `max` bytes.
    pub fn post_form(
        &self,
        url: &str,
        pairs: &[(&str, &str)],
        max: u64,
    ) -> Result<Answer, CliError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let req = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req, url, max)
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
        max: u64,
    ) -> Result<Answer, CliError> {
        let timed_out = || CliError::TimedOut {
            url: url.to_owned(),
            secs: self.budget.as_secs(),
        };
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        let resp = req.timeout(left).send().map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                CliError::Unreachable {
                    url: url.to_owned(),
                    reason: cause(&e),
                }
            }
        })?;
        let status = resp.status().as_u16();
        let too_large = || CliError::TooLarge {
            url: url.to_owned(),
            max,
        };
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        resp.take(max.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| {
                if Instant::now() >= self.deadline || e.kind() == std::io::ErrorKind::TimedOut {
                    timed_out()
                } else {
                    CliError::Unreachable {
                        url: url.to_owned(),
                        reason: chain(&e),
                    }
                }
            })?;
        if body.len() as u64 > max {
            return Err(too_large());
        }
        Ok(Answer { status, body })
    }
}

/// A request error's whole cause, outermost first, without the URL the message already
/// names: "error sending request: client error (Connect): dns error: failed to lookup
/// address information: Name or service not known".
pub fn cause(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" for url ({u})"), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        src = c.source();
    }
    s
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        src = c.source();
    }
    s
}

/// A trust bundle served over HTTP(S) at `base` (a gate's mirror or CDN, or a service's
/// `/bundle/`), read through one [`Http`] client: every file shares its deadline and cap.
/// `E` is the caller's error, into which the client's errors convert.
pub struct HttpSource<E> {
    base: String,
    http: Http,
    _error: std::marker::PhantomData<fn() -> E>,
}

impl<E> HttpSource<E> {
    /// A source for `base` whose reads must all finish within `budget`.
    pub fn new(base: &str, budget: Duration) -> Result<HttpSource<E>, CliError> {
        Ok(HttpSource {
            base: base.trim_end_matches('/').to_owned(),
            http: Http::new(base, budget)?,
            _error: std::marker::PhantomData,
        })
    }
}

impl<E> tuaton_common::bundle::Source for HttpSource<E>
where
    E: From<CliError>,
{
    type Error = E;
    fn location(&self) -> String {
        self.base.clone()
    }
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, E> {
        Ok(self.http.get(&format!("{}/{rel}", self.base), max)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A loopback server answering each request with `answer(path)`; its base URL.
    fn server(answer: fn(&str, u16) -> String) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten().take(8) {
                let mut s = s;
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = s.write_all(answer(&path, port).as_bytes());
            }
        });
        format!("http://127.0.0.1:{port}/")
    }

    fn redirect(to: &str) -> String {
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn redirects_are_followed_within_the_origin_only() {
        let base = server(|path, port| match path {
            "/here" => redirect(&format!("http://127.0.0.1:{port}/there")),
            "/there" => ok("the file"),
            // Another host (localhost is not 127.0.0.1 to an origin) and another port.
            "/away" => redirect(&format!("http://localhost:{port}/there")),
            _ => redirect("http://127.0.0.1:9/there"),
        });
        let http = Http::new(&base, Duration::from_secs(10)).unwrap();
        assert_eq!(http.get(&format!("{base}here"), 100).unwrap(), b"the file");
        for p in ["away", "elsewhere"] {
            let e = http.get(&format!("{base}{p}"), 100).unwrap_err();
            assert!(e.to_string().contains("another origin"), "{p}: {e}");
        }
    }

    #[test]
    fn a_body_past_its_cap_is_refused_before_it_is_read_whole() {
        let base = server(|_, _| ok(&"x".repeat(5000)));
        let http = Http::new(&base, Duration::from_secs(10)).unwrap();
        assert!(matches!(
            http.get(&format!("{base}big"), 100),
            Err(CliError::TooLarge { max: 100, .. })
        ));
    }

    #[test]
    fn a_thai_host_and_its_punycode_are_one_origin() {
        let a = reqwest::Url::parse("https://ทดสอบ.ไทย/bundle/").unwrap();
        let b =
            reqwest::Url::parse(&format!("https://{}/index.json", a.host_str().unwrap())).unwrap();
        assert!(a.host_str().unwrap().starts_with("xn--"));
        assert_eq!(a.origin(), b.origin());
        assert!(Http::new("https://ทดสอบ.ไทย/bundle/", Duration::from_secs(1)).is_ok());
        assert!(Http::new("https://user@example.org/", Duration::from_secs(1)).is_err());
    }
}
