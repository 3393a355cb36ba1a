//! The browser the console tests and bench drive: headless Chromium through chromedriver
//! (WebDriver, over plain HTTP on loopback), and waiting for what a page shows.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free loopback port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// chromedriver on a free port.
    pub fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromedriver did not start");
    }

    /// A new headless Chromium session at 1366x768.
    pub async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=1366,768"]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The element, once the page that has it has loaded (a click that submits a form
/// returns before the next page is there).
pub async fn soon(c: &Client, l: Locator<'_>) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(l)
        .await
    {
        Ok(e) => e,
        Err(e) => panic!("{e}: {}", c.source().await.unwrap_or_default()),
    }
}

/// Types `text` into the empty field `id`.
pub async fn fill(c: &Client, id: &str, text: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Polls until `read` of the element `id` satisfies `ok` (within 15 s); its value.
async fn until(
    c: &Client,
    id: &str,
    read: impl AsyncFn(&fantoccini::elements::Element) -> Option<String>,
    ok: impl Fn(&str) -> bool,
) -> String {
    let t = Instant::now();
    let mut last = String::new();
    loop {
        if let Ok(e) = c.find(Locator::Id(id)).await {
            if let Some(v) = read(&e).await {
                if ok(&v) {
                    return v;
                }
                last = v;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "#{id} never changed: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of the element `id` once it satisfies `ok`.
pub async fn text_until(c: &Client, id: &str, ok: impl Fn(&str) -> bool) -> String {
    until(c, id, async |e| e.text().await.ok(), ok).await
}

/// The attribute `attr` of the element `id` once it satisfies `ok`.
pub async fn attr_until(c: &Client, id: &str, attr: &str, ok: impl Fn(&str) -> bool) -> String {
    until(c, id, async |e| e.attr(attr).await.ok().flatten(), ok).await
}

/// The record form's fields, in the page's order.
pub const RECORD_FIELDS: [&str; 13] = [
    "citizen_id",
    "title_th",
    "given_name_th",
    "family_name_th",
    "title_en",
    "given_name_en",
    "family_name_en",
    "birth_date",
    "address",
    "issue_date",
    "expiry_date",
    "laser_code",
    "issuing_office",
];

/// The record form filled from sample citizen 0, one field replaced by `(field, text)`,
/// and `portrait` chosen.
pub async fn fill_record_with(
    c: &Client,
    portrait: &std::path::Path,
    replace: Option<(&str, &str)>,
) {
    let v: serde_json::Value = serde_json::from_str(tuaton_common::sample::RECORDS[0]).unwrap();
    for field in RECORD_FIELDS {
        let text = match replace {
            Some((f, t)) if f == field => t.to_owned(),
            _ => v[field].as_str().unwrap().to_owned(),
        };
        fill(c, field, &text).await;
    }
    soon(c, Locator::Id("portrait"))
        .await
        .send_keys(&portrait.display().to_string())
        .await
        .unwrap();
}
