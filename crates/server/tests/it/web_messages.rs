//! Secure messages through the web pages as a browser without JavaScript sends them (multipart
//! forms with files), and the staff inbox told live through the staff WebSocket.

use domain::identity::Role;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::messages::{JPEG, PNG};
use crate::on_both_backends;
use crate::visits::{Live, person};
use crate::web_scheduling::{Browser, Page, browser_for};

/// A `multipart/form-data` body as a browser builds it: text fields, then files.
pub(crate) fn multipart(
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (String, Vec<u8>) {
    let boundary = "----TelemedTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file_name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn post_multipart(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> Page {
    let (content_type, body) = multipart(fields, files);
    let response = b
        .client
        .post(format!("{}{path}", b.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let page = Browser::page(response).await;
    assert_ne!(page.status, 500, "POST {path}:\n{}", page.body);
    page
}

on_both_backends!(
    a_patient_sends_a_photo_without_javascript_and_staff_answer_from_the_inbox,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let patient = browser_for(&app, &c.patient_user).await;
        let list = patient.get("/messages").await;
        assert_eq!(list.status, 200, "{}", list.body);
        list.assert_no_inline_code();
        assert!(list.body.contains("You have no messages yet."));
        let form = patient.get("/messages/new").await;
        assert!(form.body.contains("enctype=\"multipart/form-data\""));
        assert!(form.body.contains("Care team at Riverside North Clinic"));
        assert!(
            !form.body.contains("West Clinic"),
            "only the patient's own care team"
        );
        let csrf = form.csrf();
        let home = c.org.sites[0].id.to_string();
        // A file that is not an image by its content: refused beside the files, text kept.
        let refused = post_multipart(
            &patient,
            "/messages/new",
            &[
                ("csrf", &csrf),
                ("site_id", &home),
                ("subject", "My rash"),
                ("body", "It itches."),
            ],
            &[("files", "rash.jpg", b"GIF89a not allowed")],
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("There is a problem"));
        assert!(
            refused
                .body
                .contains("only JPEG and PNG photos and PDF documents")
        );
        assert!(refused.body.contains("It itches."));
        // Another site's care team: refused by name.
        let west = c.org.sites[1].id.to_string();
        let refused = post_multipart(
            &patient,
            "/messages/new",
            &[
                ("csrf", &csrf),
                ("site_id", &west),
                ("subject", "My rash"),
                ("body", "It itches."),
            ],
            &[],
        )
        .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused
                .body
                .contains("care team of a clinic that cares for you")
        );
        // Without the CSRF token: refused.
        let forged = post_multipart(
            &patient,
            "/messages/new",
            &[("site_id", &home), ("subject", "x"), ("body", "y")],
            &[],
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(
            app.store()
                .patient_threads(c.org.org.id, c.patient.id)
                .await
                .unwrap()
                .is_empty()
        );

        // The staff inbox is open, live.
        let nurse_user = app.staff(&c.org, Role::Nurse, &[0]).await;
        let nurse_live = person(&app, &nurse_user).await;
        let mut watching = Live::open_path(&app, &nurse_live.cookie, "/api/v1/live/staff", None)
            .await
            .unwrap();

        let sent = post_multipart(
            &patient,
            "/messages/new",
            &[
                ("csrf", &csrf),
                ("site_id", &home),
                ("clinician_id", ""),
                ("subject", "My rash"),
                ("body", "It itches since Monday."),
            ],
            &[("files", "IMG_0042.JPG", JPEG), ("files", "", b"")],
        )
        .await;
        sent.assert_redirect_starts("/messages/");
        let frame = watching.next("thread").await;
        assert_eq!(frame["site_id"], home.as_str());
        assert!(!frame.to_string().contains("rash"), "ids only: {frame}");
        let thread_page = patient.follow(&sent).await;
        assert!(thread_page.body.contains("Message sent."));
        assert!(thread_page.body.contains("IMG_0042.JPG"));
        assert!(thread_page.body.contains("Not read yet"));
        let thread_path = sent.location.split('?').next().unwrap().to_string();
        let thread_id = thread_path.trim_start_matches("/messages/").to_string();

        // The nurse's inbox: the thread, unread, with its reply target. (A one-time code is
        // used once: the browser signs in with the next one.)
        app.clock.advance(jiff::SignedDuration::from_secs(31));
        let nurse = browser_for(&app, &nurse_user).await;
        let inbox = nurse.get("/messages").await;
        assert_eq!(inbox.status, 200, "{}", inbox.body);
        inbox.assert_no_inline_code();
        assert!(inbox.body.contains("src=\"/assets/live/inbox.js\""));
        assert!(
            inbox
                .body
                .contains("<span id=\"unread-count\">1</span> unread")
        );
        assert!(inbox.body.contains("Ada Lovelace"));
        assert!(inbox.body.contains("1 unread"));
        let opened = nurse.get(&thread_path).await;
        assert!(opened.body.contains("It itches since Monday."));
        assert!(opened.body.contains("Reply due by"));
        let image = nurse.get(&opened.link("/attachments/")).await;
        assert_eq!(image.status, 200);
        // A staff-only note and an answer with a photo, from the same form.
        let csrf = opened.csrf();
        let note = post_multipart(
            &nurse,
            &format!("{thread_path}/reply"),
            &[
                ("csrf", &csrf),
                ("body", "Looks like contact dermatitis; ask Dr. Lee."),
                ("staff_only", "yes"),
            ],
            &[],
        )
        .await;
        note.assert_redirect_starts(&format!("{thread_path}?done=note"));
        let answer = post_multipart(
            &nurse,
            &format!("{thread_path}/reply"),
            &[
                ("csrf", &csrf),
                ("body", "Use the cream twice a day, as in the picture."),
            ],
            &[("files", "cream.png", PNG)],
        )
        .await;
        answer.assert_redirect_starts(&format!("{thread_path}?done=sent"));
        let inbox = nurse.get("/messages").await;
        assert!(
            inbox
                .body
                .contains("<span id=\"unread-count\">0</span> unread")
        );
        assert!(inbox.body.contains("Waiting on patient"));
        assert!(
            inbox.body.contains("Test Nurse"),
            "assigned to whoever answered"
        );

        // The patient: the answer and its photo, never the note; their message was read.
        let seen = patient.get(&thread_path).await;
        assert!(seen.body.contains("Use the cream twice a day"));
        assert!(seen.body.contains("cream.png"));
        assert!(!seen.body.contains("Dr. Lee"), "{}", seen.body);
        assert!(!seen.body.contains("Staff only"));
        assert!(seen.body.contains("Read "), "read receipt: {}", seen.body);
        assert!(seen.body.contains("Answered"));

        // Close, then the state machine refuses closing again (the page says why).
        let closed = nurse
            .post(&format!("{thread_path}/close"), &[("csrf", &csrf)])
            .await;
        closed.assert_redirect_starts(&format!("{thread_path}?done=closed"));
        let again = nurse
            .post(&format!("{thread_path}/close"), &[("csrf", &csrf)])
            .await;
        // The state refuses it: 409, as the JSON API answers the same refusal.
        assert_eq!(again.status, 409);
        assert!(again.body.contains("already closed"));
        let shown = nurse.get("/messages?status=closed").await;
        assert!(shown.body.contains(&thread_id));
        let default_view = nurse.get("/messages").await;
        assert!(
            !default_view.body.contains(&thread_id),
            "closed threads leave the default view"
        );
        // Someone of another site cannot open it.
        let west_user = app.staff(&c.org, Role::Nurse, &[1]).await;
        let west_browser = browser_for(&app, &west_user).await;
        let refused = west_browser.get(&thread_path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
);
