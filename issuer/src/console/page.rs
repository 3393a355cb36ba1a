//! The console's pages, rendered on the server. Every value from outside (a record field,
//! a name, an error) goes through [`esc`]; nothing is written into a script or a style,
//! and the page carries no inline script (the policy forbids it).

use std::fmt::Write as _;

/// Text made safe for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A whole page: `title` (already bilingual), the signed-in officer if any, the body.
pub fn layout(title: &str, who: Option<(&str, &str, &str)>, body: &str) -> String {
    let bar = match who {
        Some((officer, office, csrf)) => format!(
            r#"<nav><span>{} · {}</span>
<a href="/console">ออกบัตรใหม่ / New offer</a> <a href="/console/today">วันนี้ / Today</a> <a href="/console/admin">ผู้ดูแล / Admin</a>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="{}"><button>ออกจากระบบ / Sign out</button></form></nav>"#,
            esc(officer),
            esc(office),
            esc(csrf)
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="th"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} · tuaton</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script>
</head><body>
<header><h1>tuaton</h1>{bar}</header>
<main>
{body}
</main></body></html>"#,
        t = esc(title)
    )
}

/// The sign-in form, with a message if the last try failed.
pub fn login(message: Option<&str>, name: &str) -> String {
    let msg = message
        .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, esc(m)))
        .unwrap_or_default();
    layout(
        "เข้าสู่ระบบ / Sign in",
        None,
        &format!(
            r#"<h2>เข้าสู่ระบบ / Sign in</h2>{msg}
<form method="post" action="/console/login" class="narrow">
<label for="name">ชื่อผู้ใช้ / Officer</label><input id="name" name="name" value="{}" autocomplete="username" required autofocus>
<label for="password">รหัสผ่าน / Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">เข้าสู่ระบบ / Sign in</button>
</form>"#,
            esc(name)
        ),
    )
}

/// The record form's fields: (name, Thai label, English label, input type, hint).
pub const FIELDS: [(&str, &str, &str, &str, &str); 13] = [
    (
        "citizen_id",
        "เลขประจำตัวประชาชน",
        "ID number",
        "text",
        "13 digits",
    ),
    (
        "title_th",
        "คำนำหน้า (ไทย)",
        "Title (Thai)",
        "text",
        "นาย, นาง, นางสาว",
    ),
    ("given_name_th", "ชื่อ (ไทย)", "Given name (Thai)", "text", ""),
    (
        "family_name_th",
        "นามสกุล (ไทย)",
        "Family name (Thai)",
        "text",
        "",
    ),
    (
        "title_en",
        "คำนำหน้า (อังกฤษ)",
        "Title (English)",
        "text",
        "Mr., Mrs., Miss",
    ),
    (
        "given_name_en",
        "ชื่อ (อังกฤษ)",
        "Given name (English)",
        "text",
        "",
    ),
    (
        "family_name_en",
        "นามสกุล (อังกฤษ)",
        "Family name (English)",
        "text",
        "",
    ),
    (
        "birth_date",
        "วันเกิด",
        "Date of birth",
        "text",
        "YYYY-MM-DD, YYYY-MM or YYYY",
    ),
    ("address", "ที่อยู่", "Address", "text", ""),
    (
        "issue_date",
        "วันออกบัตร",
        "Date of issue",
        "text",
        "YYYY-MM-DD",
    ),
    (
        "expiry_date",
        "วันบัตรหมดอายุ",
        "Date of expiry",
        "text",
        "YYYY-MM-DD or lifelong",
    ),
    (
        "laser_code",
        "รหัสหลังบัตร",
        "Laser code",
        "text",
        "XX0-0000000-00",
    ),
    (
        "issuing_office",
        "สำนักทะเบียนที่ออกบัตร",
        "Issuing office",
        "text",
        "",
    ),
];

/// The record form, with the values typed and an error beside the field it names (or
/// above the form).
pub fn record_form(
    who: (&str, &str, &str),
    values: &std::collections::BTreeMap<String, String>,
    error: Option<(&str, &str)>,
) -> String {
    let mut f = String::new();
    let (bad_field, message) = error.unwrap_or(("", ""));
    if !message.is_empty()
        && !FIELDS.iter().any(|(n, ..)| *n == bad_field)
        && bad_field != "portrait"
    {
        let _ = write!(f, r#"<p class="error" role="alert">{}</p>"#, esc(message));
    }
    let _ = write!(
        f,
        r#"<h2>ข้อมูลบัตร / Card record</h2>
<form method="post" action="/console/offers" enctype="multipart/form-data" class="record">
<input type="hidden" name="csrf" value="{}">"#,
        esc(who.2)
    );
    for (name, th, en, kind, hint) in FIELDS {
        let v = values.get(name).map(String::as_str).unwrap_or("");
        let err = if name == bad_field {
            format!(
                r#"<span class="error" id="{name}-error" role="alert">{}</span>"#,
                esc(message)
            )
        } else {
            String::new()
        };
        let _ = write!(
            f,
            r#"<div class="field"><label for="{name}">{th} / {en}</label>
<input id="{name}" name="{name}" type="{kind}" value="{}" placeholder="{}" required>{err}</div>"#,
            esc(v),
            esc(hint)
        );
    }
    let perr = if bad_field == "portrait" {
        format!(
            r#"<span class="error" id="portrait-error" role="alert">{}</span>"#,
            esc(message)
        )
    } else {
        String::new()
    };
    let _ = write!(
        f,
        r#"<div class="field"><label for="portrait">รูปถ่าย / Portrait (JPEG)</label>
<input id="portrait" name="portrait" type="file" accept="image/jpeg" capture="user" required>{perr}</div>
<button type="submit" id="create-offer">สร้างข้อเสนอ / Create offer</button>
</form>"#
    );
    layout("ออกบัตรใหม่ / New offer", Some(who), &f)
}

/// The offer screen: the QR (SVG), the transaction code in large digits, the expiry
/// counting down and the state, which console.js keeps current.
pub fn offer_screen(
    who: (&str, &str, &str),
    qr_svg: &str,
    offer_text: &str,
    tx_code: &str,
    handle: &str,
    expires: i64,
    now: i64,
) -> String {
    let (a, b) = tx_code.split_at(tx_code.len() / 2);
    layout(
        "ข้อเสนอ / Offer",
        Some(who),
        &format!(
            r#"<h2>ให้ประชาชนสแกนด้วยแอป / Ask the citizen to scan this</h2>
<section class="offer" id="offer" data-status="/console/offers/{handle}/status" data-expires-in="{left}">
<div class="qr" id="qr">{qr_svg}</div>
<div class="side">
<p>รหัสยืนยัน / Transaction code</p>
<p class="code" id="tx-code">{} {}</p>
<p>อ่านรหัสให้ประชาชนฟัง / Read it out to the citizen</p>
<p class="state" id="state" aria-live="polite">รอโทรศัพท์ / Waiting for the phone</p>
<p>หมดอายุใน / Expires in <span id="countdown">{mm}:{ss:02}</span></p>
</div></section>
<details><summary>ข้อความข้อเสนอ / Offer text</summary><p class="offer-text" id="offer-text">{}</p></details>
<p><a href="/console">ออกบัตรใหม่ / New offer</a></p>"#,
            esc(a),
            esc(b),
            esc(offer_text),
            handle = esc(handle),
            left = (expires - now).max(0),
            mm = (expires - now).max(0) / 60,
            ss = (expires - now).max(0) % 60,
        ),
    )
}

/// Today's issuances of the office.
pub fn today(who: (&str, &str, &str), rows: &[super::officers::Issued]) -> String {
    let mut t = String::from(
        r#"<h2>บัตรที่ออกวันนี้ / Issued today</h2><table id="today"><thead><tr><th>เวลา / Time</th><th>เจ้าหน้าที่ / Officer</th><th>บัตร / Credential</th></tr></thead><tbody>"#,
    );
    for r in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&tuaton_common::model::format_rfc3339(r.at)),
            esc(&r.officer),
            esc(&r.credential_id)
        );
    }
    if rows.is_empty() {
        t.push_str(r#"<tr><td colspan="3">ยังไม่มี / None yet</td></tr>"#);
    }
    t.push_str("</tbody></table>");
    layout("วันนี้ / Today", Some(who), &t)
}

/// The administrators' page: revoke a card or every card of a citizen (a lost phone),
/// and publish; `done` says what the last action did.
pub fn admin(
    who: (&str, &str, &str),
    done: Option<&str>,
    officers: &[(String, String, bool)],
    offices: &[(String, bool)],
    credential: Option<&str>,
) -> String {
    let done = done
        .map(|d| format!(r#"<p class="state" id="done" role="status">{}</p>"#, esc(d)))
        .unwrap_or_default();
    let csrf = esc(who.2);
    let credential = credential
        .map(|c| {
            format!(
                r#"<p>บันทึกเป็นไฟล์ office.json บนเครื่องของสำนักงานนั้นเท่านั้น แสดงครั้งเดียว / Save this as the office machine's credential file (office.json); it is shown once.</p><pre id="credential">{}</pre>"#,
                esc(c)
            )
        })
        .unwrap_or_default();
    let mut office_rows = String::new();
    for (name, admin) in offices {
        let _ = write!(
            office_rows,
            r#"<tr><td>{}</td><td>{}</td><td><form method="post" action="/console/admin/offices/revoke"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="name" value="{}"><button>เพิกถอน / Revoke</button></form></td></tr>"#,
            esc(name),
            if *admin {
                "ผู้ดูแล / admin"
            } else {
                ""
            },
            esc(name),
        );
    }
    let mut rows = String::new();
    for (name, office, locked) in officers {
        let _ = write!(
            rows,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td><form method="post" action="/console/admin/officers/revoke"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="name" value="{}"><button>เพิกถอน / Revoke</button></form></td></tr>"#,
            esc(name),
            esc(office),
            if *locked {
                format!(
                    r#"ล็อก / locked <form method="post" action="/console/admin/officers/unlock"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="name" value="{}"><button class="unlock">ปลดล็อก / Unlock</button></form>"#,
                    esc(name)
                )
            } else {
                String::new()
            },
            esc(name),
        );
    }
    layout(
        "ผู้ดูแล / Administration",
        Some(who),
        &format!(
            r#"<h2>เพิกถอนบัตร / Revoke</h2>{done}
<form method="post" action="/console/admin/revoke" class="narrow">
<input type="hidden" name="csrf" value="{csrf}">
<label for="credential_id">รหัสบัตร / Credential id (16 hex digits)</label><input id="credential_id" name="credential_id">
<label for="citizen_id">หรือ เลขประจำตัวประชาชน / or the citizen's ID number (every card: a lost phone)</label><input id="citizen_id" name="citizen_id">
<button type="submit" id="revoke">เพิกถอน / Revoke</button>
</form>
<h2>เผยแพร่ / Publish</h2>
<form method="post" action="/console/admin/publish" class="narrow">
<input type="hidden" name="csrf" value="{csrf}">
<p>Gates see revocations and key changes from the next publish.</p>
<button type="submit" id="publish">เผยแพร่ / Publish</button>
</form>
<h2>เจ้าหน้าที่ / Officers</h2>
<table id="officers"><thead><tr><th>ชื่อ / Name</th><th>สำนักงาน / Office</th><th></th><th></th></tr></thead><tbody>{rows}</tbody></table>
<form method="post" action="/console/admin/officers" class="narrow">
<input type="hidden" name="csrf" value="{csrf}">
<label for="officer_name">ชื่อ / Name</label><input id="officer_name" name="name" required>
<label for="officer_office">สำนักงาน / Office</label><input id="officer_office" name="office" required>
<label for="officer_password">รหัสผ่าน / Password (10 characters or more)</label><input id="officer_password" name="password" type="password" autocomplete="new-password" required>
<button type="submit" id="add-officer">เพิ่มเจ้าหน้าที่ / Add officer</button>
</form>
<h2>สำนักงาน / Offices</h2>{credential}
<table id="offices"><thead><tr><th>ชื่อ / Name</th><th></th><th></th></tr></thead><tbody>{office_rows}</tbody></table>
<form method="post" action="/console/admin/offices" class="narrow">
<input type="hidden" name="csrf" value="{csrf}">
<label for="office_name">ชื่อสำนักงาน / Office name</label><input id="office_name" name="name" required>
<label><input type="checkbox" name="admin" value="1"> สำนักงานผู้ดูแล / An admin office (revokes, publishes)</label>
<button type="submit" id="add-office">เพิ่มสำนักงาน / Add office</button>
</form>
<p>เพิกถอนสำนักงานปิดข้อเสนอที่เปิดอยู่ทั้งหมด; บัตรที่ออกแล้วยังใช้ได้ (เพิกถอนบัตรตั้งแต่เวลาหนึ่งด้วย <code>tuaton-issuer office revoke --revoke-issued-since</code>) / Revoking an office closes its open offers; cards it issued stay valid (to revoke those from a time on, use the command line).</p>"#
        ),
    )
}

/// A page that says one thing (a refused form, a session that ended).
pub fn message(title: &str, text: &str, back: &str) -> String {
    layout(
        title,
        None,
        &format!(
            r#"<h2>{}</h2><p class="error" role="alert">{}</p><p><a href="{}">กลับ / Back</a></p>"#,
            esc(title),
            esc(text),
            esc(back)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_value_is_text() {
        assert_eq!(
            esc(r#"<b onclick="x">'&'</b>"#),
            "&lt;b onclick=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
        let page = login(Some("<script>alert(1)</script>"), "\"><img src=x>");
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x>"));
    }
}
