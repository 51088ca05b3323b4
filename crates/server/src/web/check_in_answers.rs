//! What the patient told us at check-in (the questionnaire with its score and flags, and anything
//! else the clinician should know), as the waiting room, the call's side panel and the visit
//! record show it. Clinical answers are for the clinical staff: the front desk sees the flags only.

use domain::identity::Role;
use domain::visits::Visit;
use domain::visits::questionnaire::{QuestionnaireAnswers, QuestionnaireKind, phq9_severity};

/// The answers as lines of a definition list, and a one-line summary for the waiting room.
pub struct CheckInAnswers {
    pub lines: Vec<(&'static str, String)>,
    pub summary: String,
}

/// Whether a member of staff in this role sees the answers themselves (everyone who sees the
/// waiting room sees the flags).
pub fn shown_to(role: Role) -> bool {
    matches!(role, Role::Clinician | Role::Nurse)
}

fn yes_no(v: Option<bool>) -> Option<String> {
    v.map(|b| if b { "Yes" } else { "No" }.to_string())
}

fn lines_of(q: &QuestionnaireAnswers) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    match q.kind {
        QuestionnaireKind::Phq9 => {
            if let Some(score) = q.score {
                lines.push((
                    "PHQ-9 score",
                    format!("{score} of 27 ({})", phq9_severity(score)),
                ));
            }
            if let Some(item9) = q.phq9.get(8).filter(|a| **a > 0) {
                lines.push((
                    "Thoughts of self-harm (item 9)",
                    domain::visits::questionnaire::PHQ9_CHOICES
                        .get(*item9 as usize)
                        .map_or_else(|| item9.to_string(), |c| (*c).to_string()),
                ));
            }
        }
        QuestionnaireKind::UrgentSymptoms => {
            if let Some(c) = &q.complaint {
                lines.push(("Main complaint", c.clone()));
            }
            if let Some(d) = q.days {
                lines.push((
                    "For",
                    if d == 1 {
                        "1 day".to_string()
                    } else {
                        format!("{d} days")
                    },
                ));
            }
            for (label, v) in [
                ("Fever", q.fever),
                ("Chest pain", q.chest_pain),
                ("Trouble breathing", q.trouble_breathing),
            ] {
                if let Some(text) = yes_no(v) {
                    lines.push((label, text));
                }
            }
            if let Some(p) = q.pain {
                lines.push(("Pain", format!("{p} of 10")));
            }
        }
        QuestionnaireKind::ReasonOnly => {}
    }
    if let Some(n) = &q.notes {
        lines.push(("Anything else", n.clone()));
    }
    lines
}

/// A short text: at most `max` characters, cut at a word with an ellipsis.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let at = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

impl CheckInAnswers {
    /// The visit's answers, if the patient gave any.
    pub fn of(v: &Visit) -> Option<Self> {
        let q = v.questionnaire.as_ref()?;
        let lines = lines_of(q);
        if lines.is_empty() {
            return None;
        }
        let score = q
            .score
            .filter(|_| q.kind == QuestionnaireKind::Phq9)
            .map(|s| format!("PHQ-9 {s} of 27 ({})", phq9_severity(s)));
        let words = [&q.complaint, &q.notes]
            .into_iter()
            .flatten()
            .map(|w| format!("“{}”", short(w, 80)));
        let summary = score
            .into_iter()
            .chain(words)
            .collect::<Vec<_>>()
            .join(" · ");
        Some(Self { lines, summary })
    }

    /// For a viewer in `role`: the answers if their role sees them.
    pub fn for_role(v: &Visit, role: Role) -> Option<Self> {
        if shown_to(role) { Self::of(v) } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(kind: QuestionnaireKind) -> QuestionnaireAnswers {
        QuestionnaireAnswers::blank(kind)
    }

    #[test]
    fn a_phq9_shows_its_score_band_and_item_nine_and_an_urgent_form_its_symptoms() {
        let phq = QuestionnaireAnswers {
            phq9: vec![2, 2, 1, 2, 1, 1, 1, 1, 1],
            score: Some(12),
            notes: Some("Worse since my father's funeral in October".into()),
            ..answers(QuestionnaireKind::Phq9)
        };
        let lines = lines_of(&phq);
        assert_eq!(lines[0], ("PHQ-9 score", "12 of 27 (moderate)".to_string()));
        assert_eq!(
            lines[1],
            ("Thoughts of self-harm (item 9)", "Several days".to_string())
        );
        assert_eq!(lines[2].0, "Anything else");
        let urgent = QuestionnaireAnswers {
            complaint: Some("Sore throat".into()),
            days: Some(1),
            fever: Some(true),
            chest_pain: Some(false),
            pain: Some(6),
            ..answers(QuestionnaireKind::UrgentSymptoms)
        };
        let labels: Vec<String> = lines_of(&urgent)
            .into_iter()
            .map(|(l, v)| format!("{l}: {v}"))
            .collect();
        assert_eq!(
            labels,
            [
                "Main complaint: Sore throat",
                "For: 1 day",
                "Fever: Yes",
                "Chest pain: No",
                "Pain: 6 of 10"
            ]
        );
        assert!(lines_of(&answers(QuestionnaireKind::ReasonOnly)).is_empty());
    }

    #[test]
    fn a_long_answer_is_cut_at_a_word_for_the_waiting_room() {
        assert_eq!(short("short", 80), "short");
        assert_eq!(short("one two three four", 10), "one two…");
        assert!(shown_to(Role::Nurse) && !shown_to(Role::FrontDesk));
    }
}
