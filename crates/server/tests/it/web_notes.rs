//! Visit notes and summaries through the web pages with plain form posts, as a browser without
//! JavaScript does: start, a refused save that keeps what was typed, code search, sign, the
//! locked note with its SHA-256, an addendum, and the patient's printable summary.

use domain::ids::AppointmentId;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::notes::visited;
use crate::on_both_backends;
use crate::web_scheduling::browser_for;

on_both_backends!(
    a_clinician_writes_and_signs_a_note_without_javascript_and_the_patient_reads_the_summary,
    |app: TestApp| async move {
        let v = visited(&app).await;
        // A one-time code is used once: the browser signs in with the next one.
        app.clock.advance(jiff::SignedDuration::from_secs(31));
        let b = browser_for(&app, &v.clinician).await;
        let path = format!("/visits/{}/note", v.id);
        let empty = b.get(&path).await;
        assert_eq!(empty.status, 200, "{}", empty.body);
        assert!(empty.body.contains("Start the note"));
        let started = b.post(&path, &[("csrf", &empty.csrf())]).await;
        assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
        let form = b.get(&path).await;
        form.assert_no_inline_code();
        assert!(form.body.contains("Telehealth facts"));
        assert!(form.body.contains("How the visit was held"));
        assert!(form.body.contains("Version 1, agreed"));
        assert!(form.body.contains("Save draft") && form.body.contains("Sign the note"));
        assert!(form.body.contains("src=\"/assets/notes.js\""));
        let appointment: AppointmentId = v.id.parse().unwrap();
        let note = app
            .store()
            .note_for_appointment(v.c.org.org.id, appointment)
            .await
            .unwrap()
            .unwrap();
        let save = format!("/notes/{}/save", note.id);
        let csrf = form.csrf();

        // A category code is refused beside its field; what was typed stays.
        let refused = b
            .post(
                &save,
                &[
                    ("csrf", &csrf),
                    ("version", "1"),
                    ("subjective", "Cough at night for a week."),
                    ("diagnoses[0]", "R05"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("There is a problem"));
        assert!(refused.body.contains("Cough at night for a week."));
        assert!(refused.body.contains("not a billable code"));
        assert!(refused.body.contains("href=\"#f-diagnoses-0\""));
        let stored = app
            .store()
            .get_note(v.c.org.org.id, note.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.version, 1);

        // Finding a code without JavaScript.
        let found = b.get(&format!("{path}?q=acute+cough")).await;
        assert!(found.body.contains("R05.1"), "{}", found.body);

        let fields = [
            ("csrf", csrf.as_str()),
            ("version", "1"),
            ("subjective", "Cough at night for a week."),
            ("assessment", "Acute cough after a cold."),
            (
                "instructions",
                "Honey in warm water at night. Keep drinking fluids.",
            ),
            ("diagnoses[0]", "R05.1"),
            ("follow_up_days", "14"),
            ("follow_up_modality", "video"),
        ];
        let saved = b.post(&save, &fields).await;
        saved.assert_redirect_starts(&format!("{path}?done=saved"));
        let mut signing = fields.to_vec();
        signing[1] = ("version", "2");
        let signed = b.post(&format!("/notes/{}/sign", note.id), &signing).await;
        signed.assert_redirect_starts(&format!("{path}?done=signed"));
        let page = b.get(&format!("{path}?done=signed")).await;
        assert!(page.body.contains("Note signed."));
        assert!(page.body.contains("SHA-256"));
        assert!(page.body.contains("The note matches its signature"));
        assert!(!page.body.contains("Save draft"));
        let sha = app
            .store()
            .get_note(v.c.org.org.id, note.id)
            .await
            .unwrap()
            .unwrap()
            .signature
            .unwrap()
            .sha256;
        assert!(page.body.contains(&sha));

        // The old form posted again changes nothing.
        let again = b.post(&save, &signing).await;
        // The note as it is now refuses it: 409, as the JSON API answers the same refusal.
        assert_eq!(again.status, 409);
        assert!(again.body.contains("is signed and cannot be changed"));
        let addendum = b
            .post(
                &format!("/notes/{}/addenda", note.id),
                &[("csrf", &csrf), ("text", "Chest X-ray clear.")],
            )
            .await;
        addendum.assert_redirect_starts(&format!("{path}?done=addendum"));
        assert!(b.get(&path).await.body.contains("Chest X-ray clear."));

        // The patient reads the summary; it is printable and says what to do.
        let p = browser_for(&app, &v.c.patient_user).await;
        let list = p.get("/summaries").await;
        assert_eq!(list.status, 200);
        assert!(list.body.contains("New"));
        let href = list.link("/summaries/");
        let summary = p.get(&href).await;
        summary.assert_no_inline_code();
        assert!(summary.body.contains("What we found"));
        assert!(summary.body.contains("Acute cough"));
        assert!(summary.body.contains("Honey in warm water"));
        assert!(summary.body.contains("in about two weeks"));
        assert!(summary.body.contains("If things get worse"));
        assert!(summary.body.contains("Print this summary"));
        // The patient never opens the note itself.
        assert_eq!(p.get(&path).await.status, 404);
    }
);

on_both_backends!(
    the_demo_has_signed_notes_with_summaries_and_a_draft_waiting_for_its_signature,
    |app: TestApp| async move {
        server::demo::seed_and_print(&app.state, "http://127.0.0.1:8080")
            .await
            .unwrap();
        let org = app
            .store()
            .find_org_by_name(server::demo::ORG_NAME)
            .await
            .unwrap()
            .unwrap();
        let user = |email: &'static str| {
            let store = app.store();
            async move { store.find_user_by_email(email).await.unwrap().unwrap() }
        };
        let ctx = app.state.ctx();
        let olivia =
            server::auth::actor::actor_for_user(&user("patient1@mail.example").await, None);
        let summaries = domain::notes::service::my_summaries(ctx, &olivia)
            .await
            .unwrap();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].0.diagnoses[0].code, "J01.00");
        let adams =
            server::auth::actor::actor_for_user(&user("dr.adams@riverside.example").await, None);
        let drafts = domain::notes::service::unsigned(ctx, &adams).await.unwrap();
        assert_eq!(drafts.len(), 1, "one overdue draft");
        let emma = app
            .store()
            .find_user_by_email("patient3@mail.example")
            .await
            .unwrap()
            .unwrap();
        let notes = app
            .store()
            .patient_notes(org.id, emma.patient_id.unwrap(), true)
            .await
            .unwrap();
        assert_eq!(
            notes[0].template,
            domain::notes::NoteTemplate::BehavioralHealth
        );
        assert!(domain::notes::rules::signature_matches(&notes[0]));
    }
);
