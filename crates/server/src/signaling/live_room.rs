//! One visit's live room on this server: who is connected, who of them is let in, and what
//! each is sent. The room is not the visit (the domain's, in the database): it is who is
//! connected now, with only what admission and the queue need.

use std::sync::Arc;

use domain::ids::{InviteId, OrgId, UserId};
use domain::visits::service::room::may_be_in_call;
use domain::visits::{LiveVisit, ParticipantRole, VisitState};

use super::outbox::{Frame, Outbox};
use super::protocol::{Peer, ServerFrame};
use super::relay_protocol::{Identity, MemberInfo};

pub(super) struct Member {
    pub(super) info: MemberInfo,
    pub(super) admitted: bool,
    /// Only for members connected to this server.
    pub(super) outbox: Option<Arc<Outbox>>,
}

/// One visit's live room: only what admission and the queue need, not the visit itself.
pub(super) struct Room {
    pub(super) org: OrgId,
    pub(super) clinician: UserId,
    pub(super) state: VisitState,
    pub(super) admitted_guests: Vec<InviteId>,
    pub(super) members: Vec<Member>,
    pub(super) refresh_started: u32,
    pub(super) refresh_applied: u32,
}

impl Room {
    pub(super) fn new(live: &LiveVisit) -> Self {
        Self {
            org: live.visit.org_id,
            clinician: live.visit.clinician_id,
            state: live.visit.state,
            admitted_guests: live.admitted_guests(),
            // The patient and the clinician; guests are rarer.
            members: Vec::with_capacity(2),
            refresh_started: 0,
            refresh_applied: 0,
        }
    }

    pub(super) fn admitted(&self, role: ParticipantRole, identity: Identity) -> bool {
        let guest_admitted = match identity {
            Identity::Guest(invite) => self.admitted_guests.contains(&invite),
            Identity::User(_) | Identity::VisitLink(_) => false,
        };
        may_be_in_call(self.state, role, guest_admitted)
    }

    pub(super) fn has_local_members(&self) -> bool {
        self.members.iter().any(|m| m.outbox.is_some())
    }

    pub(super) fn member(&self, peer: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.peer == peer)
    }

    /// Adds a member (connected here or elsewhere), replacing an earlier connection of the same
    /// person; returns whether they are let in.
    pub(super) fn add(&mut self, info: MemberInfo, outbox: Option<Arc<Outbox>>) -> bool {
        self.replace_identity(info.identity);
        self.members.retain(|m| m.info.peer != info.peer);
        let admitted = self.admitted(info.role, info.identity);
        self.members.push(Member {
            info,
            admitted,
            outbox,
        });
        admitted
    }

    /// Closes the local connections of `identity` (it connected again) and forgets remote ones.
    pub(super) fn replace_identity(&mut self, identity: Identity) {
        self.members.retain(|m| {
            if m.info.identity != identity {
                return true;
            }
            if let Some(outbox) = &m.outbox {
                outbox.replace(
                    ServerFrame::Replaced {
                        message: "You opened this visit in another window; this one is closed.",
                    }
                    .encode(),
                );
            }
            false
        });
    }

    /// Removes members; tells the others if anyone went.
    pub(super) fn remove(&mut self, gone: impl Fn(&MemberInfo) -> bool) -> bool {
        let before = self.members.len();
        self.members.retain(|m| !gone(&m.info));
        let changed = self.members.len() != before;
        if changed {
            self.send_peers();
        }
        changed
    }

    /// Tells each local member who else is in the call (nobody, until they are let in).
    pub(super) fn send_peers(&self) {
        for m in &self.members {
            let Some(outbox) = &m.outbox else { continue };
            let peers = if m.admitted {
                self.members
                    .iter()
                    .filter(|o| o.admitted && o.info.peer != m.info.peer)
                    .map(|o| Peer {
                        peer: &o.info.peer,
                        role: o.info.role,
                        name: &o.info.name,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            outbox.push(ServerFrame::Peers { peers }.encode());
        }
    }

    pub(super) fn deliver_to_admitted(&self, frame: &str) {
        let mut shared: Option<Frame> = None;
        for m in &self.members {
            if let (true, Some(outbox)) = (m.admitted, &m.outbox) {
                outbox.push(shared.get_or_insert_with(|| frame.into()).clone());
            }
        }
    }
}

/// What a peer id looks like: hexadecimal, at most 32 characters.
pub(super) fn is_peer_id(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `state` frame: the visit as `role` may see it.
pub(super) fn state_frame(
    live: &LiveVisit,
    role: ParticipantRole,
    admitted: bool,
    now: jiff::Timestamp,
) -> String {
    let view = live.view_for(role, now);
    ServerFrame::State {
        visit: (&view).into(),
        admitted,
    }
    .encode()
}
