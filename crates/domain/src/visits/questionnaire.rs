//! Pre-visit questionnaires: what a service line asks at check-in, with its score and the flags
//! the clinician sees in the waiting-room queue.
//!
//! Behavioral health asks the PHQ-9 (nine items scored 0 to 3, total 0 to 27, with the usual
//! severity bands; any answer above 0 on item 9, thoughts of self-harm, is flagged). Urgent care
//! asks a short symptom form whose red flags (chest pain, trouble breathing, high pain) are raised.
//! Other service lines ask for the reason for the visit only.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::identity::optional_text;
use crate::scheduling::ServiceLine;

/// The PHQ-9 items, as the patient reads them ("Over the last two weeks, how often have you been
/// bothered by ...").
pub const PHQ9_ITEMS: [&str; 9] = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed, or the opposite: being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
];

/// The answers to each PHQ-9 item.
pub const PHQ9_CHOICES: [&str; 4] = [
    "Not at all",
    "Several days",
    "More than half the days",
    "Nearly every day",
];

/// Which form a service line asks at check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionnaireKind {
    Phq9,
    UrgentSymptoms,
    ReasonOnly,
}

impl QuestionnaireKind {
    pub fn for_line(line: ServiceLine) -> Self {
        match line {
            ServiceLine::BehavioralHealth => QuestionnaireKind::Phq9,
            ServiceLine::UrgentCare => QuestionnaireKind::UrgentSymptoms,
            _ => QuestionnaireKind::ReasonOnly,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuestionnaireKind::Phq9 => "phq9",
            QuestionnaireKind::UrgentSymptoms => "urgent_symptoms",
            QuestionnaireKind::ReasonOnly => "reason_only",
        }
    }
}

/// Answers as a client sends them; which fields matter depends on the form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QuestionnaireInput {
    /// PHQ-9: nine answers, each 0 to 3.
    #[serde(default)]
    pub phq9: Vec<i64>,
    /// Urgent care: the main complaint in the patient's words.
    pub complaint: Option<String>,
    /// Urgent care: how many days it has lasted.
    pub days: Option<i64>,
    pub fever: Option<bool>,
    pub chest_pain: Option<bool>,
    pub trouble_breathing: Option<bool>,
    /// Urgent care: pain from 0 to 10.
    pub pain: Option<i64>,
    /// Every form: anything else the clinician should know.
    pub notes: Option<String>,
}

/// Checked answers, their score and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionnaireAnswers {
    pub kind: QuestionnaireKind,
    pub phq9: Vec<i64>,
    pub complaint: Option<String>,
    pub days: Option<i64>,
    pub fever: Option<bool>,
    pub chest_pain: Option<bool>,
    pub trouble_breathing: Option<bool>,
    pub pain: Option<i64>,
    pub notes: Option<String>,
    /// PHQ-9 total (0 to 27); `None` for the other forms.
    pub score: Option<i64>,
    /// Short flags for the waiting-room queue ("PHQ-9 item 9", "chest pain").
    pub flags: Vec<String>,
}

/// The PHQ-9 severity band of a total.
pub fn phq9_severity(total: i64) -> &'static str {
    match total {
        0..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        15..=19 => "moderately severe",
        _ => "severe",
    }
}

impl QuestionnaireAnswers {
    /// A form of this kind with nothing answered yet.
    pub fn blank(kind: QuestionnaireKind) -> Self {
        Self {
            kind,
            phq9: Vec::new(),
            complaint: None,
            days: None,
            fever: None,
            chest_pain: None,
            trouble_breathing: None,
            pain: None,
            notes: None,
            score: None,
            flags: Vec::new(),
        }
    }
}

impl QuestionnaireInput {
    pub fn check(&self, kind: QuestionnaireKind) -> Result<QuestionnaireAnswers, DomainError> {
        let notes = optional_text("notes", self.notes.as_deref(), 2000)?;
        let mut answers = QuestionnaireAnswers {
            notes,
            ..QuestionnaireAnswers::blank(kind)
        };
        match kind {
            QuestionnaireKind::Phq9 => {
                if self.phq9.len() != PHQ9_ITEMS.len() {
                    return Err(DomainError::invalid(
                        "phq9",
                        "answer all nine questions (0 = not at all ... 3 = nearly every day)",
                    ));
                }
                for (i, a) in self.phq9.iter().enumerate() {
                    if !(0..=3).contains(a) {
                        return Err(DomainError::invalid(
                            format!("phq9[{i}]"),
                            "must be 0, 1, 2 or 3",
                        ));
                    }
                }
                let total: i64 = self.phq9.iter().sum();
                answers.phq9 = self.phq9.clone();
                answers.score = Some(total);
                answers
                    .flags
                    .push(format!("PHQ-9 {total} ({})", phq9_severity(total)));
                if self.phq9[8] > 0 {
                    answers
                        .flags
                        .push("PHQ-9 item 9: thoughts of self-harm".into());
                }
            }
            QuestionnaireKind::UrgentSymptoms => {
                answers.complaint = Some(
                    optional_text("complaint", self.complaint.as_deref(), 500)?.ok_or_else(
                        || DomainError::invalid("complaint", "say what brings you in today"),
                    )?,
                );
                if let Some(d) = self.days
                    && !(0..=365).contains(&d)
                {
                    return Err(DomainError::invalid("days", "must be between 0 and 365"));
                }
                if let Some(p) = self.pain
                    && !(0..=10).contains(&p)
                {
                    return Err(DomainError::invalid("pain", "must be between 0 and 10"));
                }
                answers.days = self.days;
                answers.fever = self.fever;
                answers.chest_pain = self.chest_pain;
                answers.trouble_breathing = self.trouble_breathing;
                answers.pain = self.pain;
                if self.chest_pain == Some(true) {
                    answers.flags.push("chest pain".into());
                }
                if self.trouble_breathing == Some(true) {
                    answers.flags.push("trouble breathing".into());
                }
                if self.pain.is_some_and(|p| p >= 8) {
                    answers.flags.push("severe pain".into());
                }
                if self.fever == Some(true) {
                    answers.flags.push("fever".into());
                }
            }
            QuestionnaireKind::ReasonOnly => {}
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phq9_is_scored_banded_and_item_nine_is_flagged() {
        let input = QuestionnaireInput {
            phq9: vec![1, 2, 1, 1, 0, 2, 1, 0, 1],
            ..QuestionnaireInput::default()
        };
        let a = input
            .check(QuestionnaireKind::Phq9)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.score, Some(9));
        assert_eq!(phq9_severity(9), "mild");
        assert_eq!(phq9_severity(20), "severe");
        assert!(a.flags.iter().any(|f| f.contains("item 9")));
        let calm = QuestionnaireInput {
            phq9: vec![0; 9],
            ..QuestionnaireInput::default()
        };
        let a = calm
            .check(QuestionnaireKind::Phq9)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.flags, vec!["PHQ-9 0 (minimal)".to_string()]);
    }

    #[test]
    fn phq9_needs_nine_answers_in_range() {
        let short = QuestionnaireInput {
            phq9: vec![1; 8],
            ..QuestionnaireInput::default()
        };
        assert!(short.check(QuestionnaireKind::Phq9).is_err());
        let wrong = QuestionnaireInput {
            phq9: vec![0, 0, 0, 4, 0, 0, 0, 0, 0],
            ..QuestionnaireInput::default()
        };
        match wrong.check(QuestionnaireKind::Phq9) {
            Err(DomainError::Invalid(f)) => assert_eq!(f.field, "phq9[3]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urgent_symptoms_raise_red_flags_and_need_a_complaint() {
        let input = QuestionnaireInput {
            complaint: Some("Cough and chest tightness".into()),
            chest_pain: Some(true),
            pain: Some(8),
            ..QuestionnaireInput::default()
        };
        let a = input
            .check(QuestionnaireKind::UrgentSymptoms)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.flags,
            vec!["chest pain".to_string(), "severe pain".to_string()]
        );
        assert!(
            QuestionnaireInput::default()
                .check(QuestionnaireKind::UrgentSymptoms)
                .is_err()
        );
        let bad_pain = QuestionnaireInput {
            complaint: Some("x".into()),
            pain: Some(11),
            ..QuestionnaireInput::default()
        };
        assert!(bad_pain.check(QuestionnaireKind::UrgentSymptoms).is_err());
    }
}
