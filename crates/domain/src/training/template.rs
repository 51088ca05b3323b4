//! The built-in curricula an organization starts from: the telehealth competency course for
//! clinicians and nurses (it certifies), and the front desk's virtual-visit course.

use super::model::{CourseModule, Question};
use super::rules::CourseInput;

fn module(title: &str, body: &str) -> CourseModule {
    CourseModule {
        title: title.into(),
        body: body.into(),
        link: None,
    }
}

fn question(prompt: &str, choices: &[&str], answer: usize) -> Question {
    Question {
        prompt: prompt.into(),
        choices: choices.iter().map(|c| (*c).to_string()).collect(),
        answer,
    }
}

/// Telehealth competency: passing it certifies a clinician to run video visits for 12 months.
pub fn telehealth_competency() -> CourseInput {
    CourseInput {
        title: "Telehealth competency".into(),
        summary: "Running a safe, private and effective video visit: set-up, consent, licensure, \
                  emergencies and what to do when the connection fails."
            .into(),
        audience: vec!["clinician".into(), "nurse".into()],
        modules: vec![
            module(
                "Before the visit",
                "Check your camera, microphone and connection on the device-check page. Sit in a private, well-lit room with a plain background. Read the pre-visit questionnaire in the waiting room before you admit the patient.",
            ),
            module(
                "Consent and privacy",
                "A virtual visit needs the patient's telehealth consent on file for the current consent text. Confirm who else is in the room at both ends, and never record a visit.",
            ),
            module(
                "Where the patient is",
                "You may see a patient only in a state where you hold a valid license on the visit date. The patient confirms their location at check-in; Telemed checks it again and shows it to you during the visit.",
            ),
            module(
                "Emergencies",
                "If the patient is in danger, use the Emergency action: it records the time, the patient's stated location and your reason, and alerts the site's staff, who call local emergency services for that location.",
            ),
            module(
                "When the connection is poor",
                "Offer audio only when the video stutters: the visit continues and the record shows the modality used. If the call drops, stay in the visit; the patient can return from their portal and the call resumes.",
            ),
        ],
        questions: vec![
            question(
                "What must be on file before a video visit can start?",
                &[
                    "A signed paper form",
                    "The patient's telehealth consent to the current text",
                    "Nothing",
                ],
                1,
            ),
            question(
                "The patient says they are travelling in a state where you are not licensed. What happens?",
                &[
                    "The visit goes ahead",
                    "Check-in is stopped and staff are alerted",
                    "You ask them to lie",
                ],
                1,
            ),
            question(
                "The video keeps freezing. What do you do first?",
                &[
                    "End the visit",
                    "Switch to audio only and continue",
                    "Ask the patient to install an app",
                ],
                1,
            ),
            question(
                "Where do you see the patient's location during the visit?",
                &[
                    "It is shown on the visit page",
                    "Only in the EHR",
                    "Nowhere",
                ],
                0,
            ),
            question(
                "The patient reports chest pain and trouble breathing. Which action records the escalation and alerts the site?",
                &["Chat", "Emergency", "End visit"],
                1,
            ),
            question(
                "Who may be in the room with the patient?",
                &[
                    "Anyone",
                    "Whoever the patient agrees to, confirmed at the start",
                    "No one, ever",
                ],
                1,
            ),
            question(
                "May you record a video visit for your notes?",
                &["Yes", "No"],
                1,
            ),
            question(
                "The call drops. What happens to the visit?",
                &[
                    "It ends",
                    "It stays open and the patient can return",
                    "It is cancelled",
                ],
                1,
            ),
        ],
        pass_mark_pct: 80,
        certifies: true,
        validity_months: Some(12),
    }
}

/// Virtual visits for the front desk: booking, check-in help and the waiting room.
pub fn front_desk_virtual_visits() -> CourseInput {
    CourseInput {
        title: "Virtual visits at the front desk".into(),
        summary: "Booking video visits, helping patients check in, and watching the waiting room."
            .into(),
        audience: vec!["front_desk".into()],
        modules: vec![
            module(
                "Booking",
                "Book video visits only with clinicians licensed in the state the patient will be in. Telemed refuses the others and says why.",
            ),
            module(
                "Helping patients check in",
                "Patients check in from the link in their reminder up to 30 minutes before the visit. They confirm their location, consent and the questionnaire, then test their camera.",
            ),
            module(
                "The waiting room",
                "The waiting room shows who waits, since when, and any questionnaire flags. Emergencies raised in visits appear here: acknowledge them and call for help at the patient's location.",
            ),
        ],
        questions: vec![
            question(
                "How early may a patient check in by default?",
                &["2 hours", "30 minutes", "5 minutes"],
                1,
            ),
            question(
                "An emergency alert appears. What do you do?",
                &[
                    "Ignore it",
                    "Acknowledge it and call for help at the patient's location",
                    "Cancel the visit",
                ],
                1,
            ),
            question(
                "Who may be booked for a video visit with a patient in Texas?",
                &[
                    "Any clinician",
                    "A clinician licensed in Texas on the visit date",
                ],
                1,
            ),
        ],
        pass_mark_pct: 67,
        certifies: false,
        validity_months: None,
    }
}
