//! The officer console in a real browser: headless Chromium driven through chromedriver
//! (WebDriver), against the real service and PostgreSQL. An officer signs in, fills the
//! record form, the QR is read off the page, a wallet enrols with it, the page sees the
//! card issued, and the officer signs out; a wrong password locks the account; a form
//! another site posts is refused; markup typed into a field stays text.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them).

use fantoccini::{Client, Locator};
use tuaton_common::sample;
use tuaton_tests::{http, run, Service, TestDb, World, PASSPHRASE, PIN};

mod browser_kit;
mod service_kit;
use browser_kit::*;
use service_kit::*;

const PASSWORD: &str = "malee's long password";

async fn sign_in(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/console")).await.unwrap();
    soon(c, Locator::Id("name")).await;
    fill(c, "name", name).await;
    fill(c, "password", password).await;
    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Signed in (the console's navigation), or refused (the sign-in page's message).
    soon(c, Locator::Css("nav, p.error")).await;
}

/// The record form of sample citizen 0 with the sample portrait, one field replaced by
/// `(field, text)`.
async fn fill_record(c: &Client, w: &World, replace: Option<(&str, &str)>) {
    std::fs::write(w.path("portrait.jpg"), sample::PORTRAIT_A).unwrap();
    fill_record_with(c, &w.path("portrait.jpg"), replace).await;
}

/// The form sent with `portrait` (and `replace`): the error shown beside `field`.
async fn refused_beside(
    c: &Client,
    base: &str,
    portrait: &std::path::Path,
    replace: Option<(&str, &str)>,
    field: &str,
) -> String {
    c.goto(&format!("{base}/console")).await.unwrap();
    fill_record_with(c, portrait, replace).await;
    soon(c, Locator::Id("create-offer"))
        .await
        .click()
        .await
        .unwrap();
    soon(c, Locator::Id(&format!("{field}-error")))
        .await
        .text()
        .await
        .unwrap()
}

/// An issuer (its offices "Bang Rak District" and "HQ", an admin's) with console officers
/// `(name, office)`, each with [`PASSWORD`].
fn issuer_with(officers: &[(&str, &str)]) -> (World, TestDb) {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    for (name, office) in officers {
        run(
            "tuaton-issuer",
            &[
                "--database",
                &db.url,
                "officer",
                "add",
                name,
                "--office",
                office,
            ],
            "",
            &[
                ("TUATON_OFFICER_PASSWORD", PASSWORD),
                ("TUATON_ISSUER_PASSPHRASE", PASSPHRASE),
            ],
        )
        .ok();
    }
    (w, db)
}

/// The service on `db`, chromedriver, and a runtime to drive the browser from.
fn served(db: &TestDb) -> (Service, Driver, tokio::runtime::Runtime) {
    (
        Service::start(&db.url, &[], &[]),
        Driver::start(),
        tokio::runtime::Runtime::new().unwrap(),
    )
}

#[test]
fn an_officer_signs_in_makes_an_offer_a_wallet_enrols_and_the_page_sees_it() {
    let (w, db) = issuer_with(&[("malee", "Bang Rak District"), ("hq-admin", "HQ")]);
    let (svc, driver, rt) = served(&db);
    rt.block_on(async {
        let c = driver.browser().await;
        let base = svc.url.as_str();
        // Not signed in: the console sends the browser to sign in.
        sign_in(&c, base, "malee", PASSWORD).await;
        assert_eq!(c.current_url().await.unwrap().path(), "/console");
        fill_record(&c, &w, None).await;
        c.find(Locator::Id("create-offer"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        // The QR, read off the page as a phone would, is the offer the page names.
        let qr = soon(&c, Locator::Id("qr"))
            .await
            .screenshot()
            .await
            .unwrap();
        let img = image::load_from_memory(&qr).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code on the offer screen");
        let (_, scanned) = grids[0].decode().unwrap();
        let text = c
            .find(Locator::Id("offer-text"))
            .await
            .unwrap()
            .prop("textContent")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(scanned, text);
        assert!(
            scanned.starts_with("openid-credential-offer://"),
            "{scanned}"
        );
        let tx: String = c
            .find(Locator::Id("tx-code"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(tx.len(), 6);
        // Nothing redeemed yet: no state, or (once the page's first poll, a second after
        // loading, has come back on a slow machine) "waiting".
        let state = c
            .find(Locator::Id("state"))
            .await
            .unwrap()
            .attr("data-state")
            .await
            .unwrap();
        assert!(
            state.is_none() || state.as_deref() == Some("waiting"),
            "nothing redeemed yet: {state:?}"
        );

        // The citizen's wallet enrols; the page sees the card issued without a reload.
        w.new_wallet("phone");
        let r = w.wallet(
            "phone",
            &[
                "--json",
                "enroll",
                "--expect-root",
                &root_of(&scanned),
                &scanned,
            ],
            &format!("{PIN}\n{tx}\n"),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let id: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        let id = id["credential_id"].as_str().unwrap().to_owned();
        attr_until(&c, "state", "data-state", |s| s == "issued").await;

        // Today's issuances name it, with the officer.
        c.goto(&format!("{base}/console/today")).await.unwrap();
        let today = soon(&c, Locator::Id("today")).await.text().await.unwrap();
        assert!(today.contains(&id) && today.contains("malee"), "{today}");

        // A form another site's page posts is refused, even with the officer's cookie;
        // and one without the session's token.
        let cookie = c.get_named_cookie("tuaton_console").await.unwrap();
        let cookie = format!("tuaton_console={}", cookie.value());
        let evil = [
            ("Cookie", cookie.as_str()),
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        assert_eq!(http_post(base, "/console/logout", &evil, "csrf=x"), 403);
        let no_token = [
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        assert_eq!(
            http_post(base, "/console/logout", &no_token, "csrf=wrong"),
            403
        );

        // Markup typed into a field is shown as text beside the field's error.
        let markup = r#"<b id="injected">1</b>"#;
        let err = refused_beside(
            &c,
            base,
            &w.path("portrait.jpg"),
            Some(("citizen_id", markup)),
            "citizen_id",
        )
        .await;
        assert!(err.contains("citizen_id"), "{err}");
        assert!(
            c.find(Locator::Id("injected")).await.is_err(),
            "the markup became an element"
        );
        let kept = c
            .find(Locator::Id("citizen_id"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some(markup));
        // Every page carries the policy that forbids inline script.
        let csp = c.source().await.unwrap();
        assert!(!csp.contains("<script>"), "no inline script");

        // A control character in a name (pasted from somewhere): refused beside the field.
        c.goto(&format!("{base}/console")).await.unwrap();
        fill_record(&c, &w, None).await;
        c.execute(
            "document.getElementById('given_name_en').value = 'Som\\u0007chai';",
            vec![],
        )
        .await
        .unwrap();
        c.find(Locator::Id("create-offer"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let err = soon(&c, Locator::Id("given_name_en-error"))
            .await
            .text()
            .await
            .unwrap();
        assert!(err.contains("given_name_en"), "{err}");

        // A JPEG over 64 KiB, and a picture that is not a JPEG: refused beside the
        // portrait, nothing made.
        let big = w.path("big.jpg");
        image::RgbImage::from_fn(400, 400, |x, y| {
            let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761);
            image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
        })
        .save(&big)
        .unwrap();
        assert!(std::fs::metadata(&big).unwrap().len() > 64 * 1024);
        let err = refused_beside(&c, base, &big, None, "portrait").await;
        assert!(err.contains("64 KiB"), "{err}");
        let png = w.path("portrait.png");
        image::RgbImage::new(64, 80).save(&png).unwrap();
        let err = refused_beside(&c, base, &png, None, "portrait").await;
        assert!(err.to_lowercase().contains("jpeg"), "{err}");

        // An officer of an office that is not an admin's cannot revoke.
        c.goto(&format!("{base}/console/admin")).await.unwrap();
        let refused = soon(&c, Locator::Css("p.error"))
            .await
            .text()
            .await
            .unwrap();
        assert!(refused.contains("admin office"), "{refused}");

        // Signing out ends the session: the console asks to sign in again.
        c.goto(&format!("{base}/console")).await.unwrap();
        soon(&c, Locator::Css("nav button"))
            .await
            .click()
            .await
            .unwrap();
        soon(&c, Locator::Id("sign-in")).await;
        c.goto(&format!("{base}/console")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");

        // The head office's officer revokes the card (a lost phone) and publishes.
        sign_in(&c, base, "hq-admin", PASSWORD).await;
        c.goto(&format!("{base}/console/admin")).await.unwrap();
        fill(&c, "credential_id", &id).await;
        soon(&c, Locator::Id("revoke")).await.click().await.unwrap();
        let done = soon(&c, Locator::Id("done")).await.text().await.unwrap();
        assert!(done.contains(&id), "{done}");
        soon(&c, Locator::Id("publish"))
            .await
            .click()
            .await
            .unwrap();
        text_until(&c, "done", |t| t.contains("Published")).await;

        // And manages officers: one added, one revoked, who then cannot sign in.
        fill(&c, "officer_name", "nok").await;
        fill(&c, "officer_office", "Bang Rak District").await;
        fill(&c, "officer_password", PASSWORD).await;
        soon(&c, Locator::Id("add-officer"))
            .await
            .click()
            .await
            .unwrap();
        text_until(&c, "officers", |t| t.contains("nok")).await;
        let malee = soon(&c, Locator::XPath("//tr[td[1]='malee']//button")).await;
        malee.click().await.unwrap();
        text_until(&c, "done", |t| t.contains("no longer sign in")).await;
        soon(&c, Locator::Css("nav button"))
            .await
            .click()
            .await
            .unwrap();
        soon(&c, Locator::Id("sign-in")).await;
        sign_in(&c, base, "malee", PASSWORD).await;
        let alert = soon(&c, Locator::Css("p.error"))
            .await
            .text()
            .await
            .unwrap();
        assert!(alert.contains("Wrong name or password"), "{alert}");
        sign_in(&c, base, "nok", PASSWORD).await;
        soon(&c, Locator::Css("nav")).await;
        soon(&c, Locator::Css("nav button"))
            .await
            .click()
            .await
            .unwrap();
        soon(&c, Locator::Id("sign-in")).await;

        // Offices too: a new office's credential is shown once and works for its
        // machine; a revoked office's does not.
        sign_in(&c, base, "hq-admin", PASSWORD).await;
        c.goto(&format!("{base}/console/admin")).await.unwrap();
        fill(&c, "office_name", "Chatuchak District").await;
        soon(&c, Locator::Id("add-office"))
            .await
            .click()
            .await
            .unwrap();
        let cred = soon(&c, Locator::Id("credential"))
            .await
            .text()
            .await
            .unwrap();
        assert!(cred.contains("tuaton-office-credential/1"), "{cred}");
        std::fs::write(w.path("chatuchak.json"), &cred).unwrap();
        let made = officer_offer(&w, &svc, "chatuchak.json", &sample_record(&w), &["--text"]);
        assert_eq!(made.code, 0, "{}", made.stderr);
        let revoke = soon(
            &c,
            Locator::XPath("//table[@id='offices']//tr[td[1]='Chatuchak District']//button"),
        )
        .await;
        revoke.click().await.unwrap();
        text_until(&c, "offices", |t| !t.contains("Chatuchak")).await;
        let refused = officer_offer(&w, &svc, "chatuchak.json", &sample_record(&w), &["--text"]);
        assert_ne!(refused.code, 0, "a revoked office's credential still works");
        c.close().await.unwrap();
    });
    let mut pg = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let n: i64 = pg
        .query_one("SELECT count(*) FROM revocations", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the admin's revocation");
    // Each administrator's change is audited with who made it.
    for (action, detail) in [
        ("office-add", "Chatuchak District%"),
        ("office-revoke", "Chatuchak District%"),
        ("officer add", "nok %"),
        ("officer revoke", "malee"),
    ] {
        let by: String = pg
            .query_one(
                "SELECT office || '/' || officer FROM audit WHERE action = $1 AND detail LIKE $2",
                &[&action, &detail],
            )
            .unwrap_or_else(|e| panic!("{action}: {e}"))
            .get(0);
        assert_eq!(by, "HQ/hq-admin", "{action}");
    }
    // Nothing was issued twice: one card.
    let mut pg = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let n: i64 = pg
        .query_one("SELECT count(*) FROM credentials", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[test]
fn attack_wrong_passwords_lock_the_account_even_against_the_right_one() {
    let (_w, db) = issuer_with(&[("somsak", "Bang Rak District"), ("hq-admin", "HQ")]);
    let (svc, driver, rt) = served(&db);
    rt.block_on(async {
        let c = driver.browser().await;
        let base = svc.url.as_str();
        // An unknown name gets the same answer as a wrong password: names stay unknown.
        sign_in(&c, base, "nobody", "guess").await;
        let unknown = soon(&c, Locator::Css("p.error"))
            .await
            .text()
            .await
            .unwrap();
        for i in 0..5 {
            sign_in(&c, base, "somsak", &format!("guess number {i}")).await;
            let alert = soon(&c, Locator::Css("p.error"))
                .await
                .text()
                .await
                .unwrap();
            assert_eq!(alert, unknown);
        }
        // The right password now: locked, the same answer, and not signed in.
        sign_in(&c, base, "somsak", PASSWORD).await;
        let alert = soon(&c, Locator::Css("p.error"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(alert, unknown);
        c.goto(&format!("{base}/console")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");
        // An administrator sees the lock and ends it; the officer signs in again.
        sign_in(&c, base, "hq-admin", PASSWORD).await;
        c.goto(&format!("{base}/console/admin")).await.unwrap();
        soon(
            &c,
            Locator::XPath("//tr[td[1]='somsak']//button[@class='unlock']"),
        )
        .await
        .click()
        .await
        .unwrap();
        text_until(&c, "done", |t| t.contains("can sign in again")).await;
        soon(&c, Locator::Css("nav button"))
            .await
            .click()
            .await
            .unwrap();
        soon(&c, Locator::Id("sign-in")).await;
        sign_in(&c, base, "somsak", PASSWORD).await;
        soon(&c, Locator::Css("nav")).await;
        c.close().await.unwrap();
    });
    // A sign-in another site's page starts is refused before the password is checked.
    let status = http_post(
        &svc.url,
        "/console/login",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "name=somsak&password=x",
    );
    assert_eq!(status, 403);
}

#[test]
fn a_session_ends_after_fifteen_idle_minutes() {
    let (_w, db) = issuer_with(&[("malee", "Bang Rak District")]);
    let now = chrono::Utc::now().timestamp();
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339();
    // Instances of the service whose clocks stand at the times of the officer's requests
    // (they share the database, as instances behind one balancer do).
    let signed_in_at = Service::start(&db.url, &["--at", &at(now)], &[]);
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", "malee")
        .append_pair("password", PASSWORD)
        .finish();
    let (status, head, _) = http(
        &signed_in_at.url,
        "POST",
        "/console/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // Fourteen minutes on: still signed in, and the request keeps the session alive.
    let later = Service::start(&db.url, &["--at", &at(now + 14 * 60)], &[]);
    assert_eq!(
        http(&later.url, "GET", "/console", &[("Cookie", &cookie)], "").0,
        200
    );
    // Sixteen idle minutes after that: the session has ended.
    let idle = Service::start(&db.url, &["--at", &at(now + 30 * 60)], &[]);
    let (status, head, _) = http(&idle.url, "GET", "/console", &[("Cookie", &cookie)], "");
    assert_eq!(status, 303, "{head}");
    assert!(
        head.to_lowercase().contains("location: /console/login"),
        "{head}"
    );
}

/// One POST over a fresh connection: its status.
fn http_post(base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    http(base, "POST", path, headers, body).0
}
