//! Secure messaging: threads between a patient and a site's care team (or one clinician who saw
//! them), their messages, attachments, and the thread's state machine.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::{AttachmentId, MessageId, OrgId, PatientId, SiteId, ThreadId, UserId};

named_values!(
    /// Where a thread stands in the staff inbox.
    ThreadStatus, "a thread status" {
        Open => ("open", "Open"),
        WaitingOnPatient => ("waiting_on_patient", "Waiting on patient"),
        Closed => ("closed", "Closed"),
    }
);

/// A conversation. The counters and times the inbox shows are kept on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub id: ThreadId,
    pub org_id: OrgId,
    pub site_id: SiteId,
    pub patient_id: PatientId,
    /// Addressed to one clinician who saw the patient; `None`: the site's care team.
    pub clinician_id: Option<UserId>,
    pub subject: String,
    pub status: ThreadStatus,
    pub assigned_to: Option<UserId>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub last_message_at: Timestamp,
    /// When the patient's last unanswered message should be answered; `None` once staff replied.
    pub reply_due_at: Option<Timestamp>,
    /// Messages from the patient that no staff member has read.
    pub staff_unread: i64,
    /// Messages for the patient that the patient has not read.
    pub patient_unread: i64,
    pub message_count: i64,
}

impl Thread {
    /// The target reply time has passed and the thread still waits for staff.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.status != ThreadStatus::Closed && self.reply_due_at.is_some_and(|due| now > due)
    }
}

named_values!(
    /// What a file is, decided from its first bytes.
    AttachmentKind, "an attachment type" {
        Jpeg => ("image/jpeg", "JPEG image"),
        Png => ("image/png", "PNG image"),
        Pdf => ("application/pdf", "PDF document"),
    }
);

/// A file's description (its bytes are read on their own, when downloaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: AttachmentId,
    pub file_name: String,
    pub kind: AttachmentKind,
    pub size_bytes: i64,
    pub sha256: String,
}

/// A file with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub meta: AttachmentMeta,
    pub org_id: OrgId,
    pub patient_id: PatientId,
    /// `message` or `econsult`.
    pub owner_kind: &'static str,
    pub owner_id: String,
    pub uploaded_by: UserId,
    pub uploaded_at: Timestamp,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub thread_id: ThreadId,
    pub org_id: OrgId,
    pub author_id: UserId,
    pub from_patient: bool,
    /// A note between staff on the thread; the patient never sees it.
    pub staff_only: bool,
    pub body: String,
    pub sent_at: Timestamp,
    /// Read receipt: when the other side first read it.
    pub read_at: Option<Timestamp>,
    pub read_by: Option<UserId>,
    pub attachments: Vec<AttachmentMeta>,
}

/// What happens to a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadEvent {
    /// The patient writes (reopens a closed thread).
    PatientWrites,
    /// Staff answer the patient: the thread then waits on the patient.
    StaffReplies,
    /// A staff-only note: the state does not change.
    StaffNote,
    Close,
    Reopen,
}

impl ThreadEvent {
    pub const ALL: [ThreadEvent; 5] = [
        ThreadEvent::PatientWrites,
        ThreadEvent::StaffReplies,
        ThreadEvent::StaffNote,
        ThreadEvent::Close,
        ThreadEvent::Reopen,
    ];
}

/// The thread's state machine.
pub fn next(status: ThreadStatus, event: ThreadEvent) -> Result<ThreadStatus, DomainError> {
    use ThreadEvent as E;
    use ThreadStatus as S;
    match (status, event) {
        (_, E::PatientWrites) => Ok(S::Open),
        (_, E::StaffReplies) => Ok(S::WaitingOnPatient),
        (s, E::StaffNote) => Ok(s),
        (S::Open | S::WaitingOnPatient, E::Close) => Ok(S::Closed),
        (S::Closed, E::Reopen) => Ok(S::Open),
        (S::Closed, E::Close) => Err(DomainError::refused(
            "thread_transition",
            "the thread is already closed",
        )),
        (S::Open | S::WaitingOnPatient, E::Reopen) => Err(DomainError::refused(
            "thread_transition",
            "the thread is not closed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_event_has_one_answer() {
        use ThreadEvent as E;
        use ThreadStatus as S;
        let expected = |s: S, e: E| -> Option<S> {
            match (s, e) {
                (_, E::PatientWrites) => Some(S::Open),
                (_, E::StaffReplies) => Some(S::WaitingOnPatient),
                (s, E::StaffNote) => Some(s),
                (S::Closed, E::Close) | (S::Open | S::WaitingOnPatient, E::Reopen) => None,
                (_, E::Close) => Some(S::Closed),
                (S::Closed, E::Reopen) => Some(S::Open),
            }
        };
        let mut cases = 0;
        for s in ThreadStatus::ALL {
            for e in ThreadEvent::ALL {
                assert_eq!(next(*s, e).ok(), expected(*s, e), "{s:?} {e:?}");
                cases += 1;
            }
        }
        assert_eq!(cases, 15);
        let Err(DomainError::Refused { rule, .. }) = next(S::Closed, E::Close) else {
            panic!("closing twice is refused");
        };
        assert_eq!(rule, "thread_transition");
    }
}
