//! The live rooms of this server: who is connected to which visit, and the staff watching their
//! sites' waiting rooms. Relays signaling between a visit's participants, tells everyone when a
//! visit changes (it is the domain's `VisitNotifier`), and, with PostgreSQL, exchanges all of this
//! with the other servers sharing the database (`relay.rs`).
//!
//! What a participant may do is decided from memory (the visit as last loaded, who was let in), so
//! relaying a message touches no database; every change of a visit reloads it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use domain::ids::{AppointmentId, InviteId, OrgId, SiteId, UserId};
use domain::service::visits::room::may_be_in_call;
use domain::visits::{
    Escalation, Invite, ParticipantRole, Visit, VisitNotifier, VisitState, estimate_wait_minutes,
};
use domain::{Clock, Store};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::protocol::Refusal;

/// Frames waiting for a connection that does not read them: past this, it is closed.
const MAX_QUEUED_FRAMES: usize = 256;

/// Frames on their way to one connection. A queue and a wake-up rather than a channel: an idle
/// connection then costs a few dozen bytes here.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Utf8Bytes>>,
    pub ready: tokio::sync::Notify,
    closed: AtomicBool,
    /// Closed because the participant connected again elsewhere (not a drop).
    replaced: AtomicBool,
}

impl Outbox {
    pub fn push(&self, frame: Utf8Bytes) {
        {
            let mut queue = lock(&self.queue);
            if queue.len() >= MAX_QUEUED_FRAMES {
                self.closed.store(true, Ordering::Release);
            } else {
                queue.push_back(frame);
            }
        }
        self.ready.notify_one();
    }

    pub fn take(&self) -> VecDeque<Utf8Bytes> {
        std::mem::take(&mut *lock(&self.queue))
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn was_replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; carry on with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Who a participant is, across connections and servers: a second connection of the same person
/// replaces the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    User(UserId),
    Guest(InviteId),
}

/// A participant as every server knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub peer: String,
    pub node: String,
    pub role: ParticipantRole,
    pub name: String,
    pub identity: Identity,
}

struct Member {
    info: MemberInfo,
    admitted: bool,
    /// Only for members connected to this server.
    outbox: Option<Arc<Outbox>>,
}

struct Room {
    org: OrgId,
    visit: Visit,
    admitted_guests: Vec<InviteId>,
    invites: Vec<Invite>,
    members: Vec<Member>,
    refresh_started: u64,
    refresh_applied: u64,
}

impl Room {
    fn admitted(&self, role: ParticipantRole, identity: Identity) -> bool {
        let guest_admitted = match identity {
            Identity::Guest(invite) => self.admitted_guests.contains(&invite),
            Identity::User(_) => false,
        };
        may_be_in_call(&self.visit, role, guest_admitted)
    }

    fn has_local_members(&self) -> bool {
        self.members.iter().any(|m| m.outbox.is_some())
    }

    fn member(&self, peer: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.info.peer == peer)
    }

    /// Tells each local member who else is in the call (nobody, until they are let in).
    fn send_peers(&self) {
        for m in &self.members {
            let Some(outbox) = &m.outbox else { continue };
            let peers: Vec<_> = if m.admitted {
                self.members
                    .iter()
                    .filter(|o| o.admitted && o.info.peer != m.info.peer)
                    .map(|o| json!({"peer": o.info.peer, "role": o.info.role, "name": o.info.name}))
                    .collect()
            } else {
                Vec::new()
            };
            outbox.push(json!({"type": "peers", "peers": peers}).to_string().into());
        }
    }
}

/// Messages between servers sharing one database.
#[derive(Debug, Serialize, Deserialize)]
pub enum RelayMessage {
    Join {
        room: AppointmentId,
        org: OrgId,
        member: MemberInfo,
    },
    Here {
        room: AppointmentId,
        members: Vec<MemberInfo>,
    },
    Leave {
        room: AppointmentId,
        peer: String,
    },
    Signal {
        room: AppointmentId,
        from: String,
        to: String,
        data: Box<RawValue>,
    },
    Chat {
        room: AppointmentId,
        frame: String,
    },
    Changed {
        org: OrgId,
        room: AppointmentId,
        site: SiteId,
        clinician: UserId,
        state: VisitState,
    },
    Alert {
        escalation: Escalation,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RelayEnvelope {
    pub node: String,
    pub message: RelayMessage,
}

/// Carries messages to the other servers (PostgreSQL `NOTIFY`); absent with one server.
pub trait Relay: Send + Sync {
    fn publish(&self, envelope: RelayEnvelope);
}

/// A staff member's screen watching waiting rooms and alerts.
struct Watcher {
    org: OrgId,
    /// `None`: every site of the organization.
    sites: Option<Vec<SiteId>>,
    clinician: Option<UserId>,
    outbox: Arc<Outbox>,
}

impl Watcher {
    fn watches(&self, org: OrgId, site: SiteId, clinician: Option<UserId>) -> bool {
        self.org == org
            && (self.sites.as_ref().is_none_or(|s| s.contains(&site))
                || clinician.is_some() && self.clinician == clinician)
    }
}

pub struct Hub {
    node: String,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Boxed: the table stays small when it grows (a room holds its visit).
    rooms: Mutex<HashMap<AppointmentId, Box<Room>>>,
    watchers: Mutex<HashMap<u64, Watcher>>,
    next_id: AtomicU64,
    relay: OnceLock<Arc<dyn Relay>>,
    me: Weak<Hub>,
}

impl Hub {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let mut node = [0u8; 4];
        crate::auth::secrets::fill_random(&mut node);
        Arc::new_cyclic(|me| Self {
            node: hex::encode(node),
            store,
            clock,
            rooms: Mutex::default(),
            watchers: Mutex::default(),
            next_id: AtomicU64::new(1),
            relay: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// This server's name among the servers sharing the database.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        let _ = self.relay.set(relay);
    }

    fn publish(&self, message: RelayMessage) {
        if let Some(relay) = self.relay.get() {
            relay.publish(RelayEnvelope {
                node: self.node.clone(),
                message,
            });
        }
    }

    /// A peer id no other connection has (here or on another server).
    pub fn new_peer_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.node)
    }

    pub fn connections(&self) -> usize {
        lock(&self.rooms)
            .values()
            .map(|r| r.members.iter().filter(|m| m.outbox.is_some()).count())
            .sum::<usize>()
            + lock(&self.watchers).len()
    }

    /// Adds a participant connected here. An earlier connection of the same person (another tab,
    /// a phone that came back) is told it was replaced and closed.
    pub fn join(
        &self,
        visit: &Visit,
        invites: Vec<Invite>,
        info: MemberInfo,
        outbox: Arc<Outbox>,
    ) -> bool {
        let room_id = visit.appointment_id;
        let mut rooms = lock(&self.rooms);
        let room = rooms.entry(room_id).or_insert_with(|| {
            Box::new(Room {
                org: visit.org_id,
                visit: visit.clone(),
                admitted_guests: admitted_guests(&invites),
                invites,
                // The patient and the clinician; guests are rarer.
                members: Vec::with_capacity(2),
                refresh_started: 0,
                refresh_applied: 0,
            })
        });
        replace_identity(room, info.identity);
        let admitted = room.admitted(info.role, info.identity);
        room.members.push(Member {
            info: info.clone(),
            admitted,
            outbox: Some(outbox),
        });
        room.send_peers();
        drop(rooms);
        self.publish(RelayMessage::Join {
            room: room_id,
            org: visit.org_id,
            member: info,
        });
        // The newcomer's first `state` carries no wait estimate (and the room may hold an older
        // copy of the visit): reload it and tell everyone.
        self.refresh_soon(visit.org_id, room_id, None);
        admitted
    }

    /// Removes a participant's connection (closed tab, lost network, replaced).
    pub fn leave(&self, room_id: AppointmentId, peer: &str) {
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        let before = room.members.len();
        room.members.retain(|m| m.info.peer != peer);
        if room.members.len() == before {
            return;
        }
        if room.has_local_members() {
            room.send_peers();
        } else {
            rooms.remove(&room_id);
        }
        drop(rooms);
        self.publish(RelayMessage::Leave {
            room: room_id,
            peer: peer.to_string(),
        });
    }

    /// Relays an SDP description or ICE candidate to one other participant of the same visit;
    /// both must be in the call.
    pub fn signal(
        &self,
        room_id: AppointmentId,
        from: &str,
        to: &str,
        data: &RawValue,
    ) -> Result<(), Refusal> {
        let rooms = lock(&self.rooms);
        let room = rooms
            .get(&room_id)
            .ok_or_else(|| Refusal::new("not_in_call", "you are not in this visit's call"))?;
        if !room.member(from).is_some_and(|m| m.admitted) {
            return Err(Refusal::new(
                "not_admitted",
                "you can reach the others once the clinician lets you in",
            ));
        }
        let target = room.member(to).filter(|m| m.admitted).ok_or_else(|| {
            Refusal::new(
                "unknown_peer",
                "that participant is not in this visit's call",
            )
        })?;
        match &target.outbox {
            Some(outbox) => {
                outbox.push(signal_frame(from, data.get()).into());
                Ok(())
            }
            None => {
                let message = RelayMessage::Signal {
                    room: room_id,
                    from: from.to_string(),
                    to: to.to_string(),
                    data: data.to_owned(),
                };
                drop(rooms);
                self.publish(message);
                Ok(())
            }
        }
    }

    /// Sends a chat line to everyone in the call (the sender included, as confirmation).
    pub fn chat(&self, room_id: AppointmentId, from: &str, text: &str) -> Result<(), Refusal> {
        let rooms = lock(&self.rooms);
        let room = rooms
            .get(&room_id)
            .ok_or_else(|| Refusal::new("not_in_call", "you are not in this visit's call"))?;
        let sender = room.member(from).filter(|m| m.admitted).ok_or_else(|| {
            Refusal::new("not_admitted", "chat opens once the clinician lets you in")
        })?;
        let frame = json!({
            "type": "chat",
            "from": sender.info.peer,
            "name": sender.info.name,
            "role": sender.info.role,
            "text": text,
            "at": self.clock.now().to_string(),
        })
        .to_string();
        deliver_to_admitted(room, &frame);
        drop(rooms);
        self.publish(RelayMessage::Chat {
            room: room_id,
            frame,
        });
        Ok(())
    }

    /// The `state` frame for one participant: the visit as their role may see it.
    pub fn state_frame(&self, room_id: AppointmentId, peer: &str) -> Option<String> {
        let rooms = lock(&self.rooms);
        let room = rooms.get(&room_id)?;
        let m = room.member(peer)?;
        Some(state_frame(room, m, None, self.clock.now()))
    }

    /// Starts reloading a visit and telling its participants (and the patients waiting for the
    /// same clinician, whose estimate moves).
    pub fn refresh_soon(&self, org: OrgId, room_id: AppointmentId, clinician: Option<UserId>) {
        let Some(hub) = self.me.upgrade() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut targets = vec![room_id];
        if let Some(clinician) = clinician {
            let rooms = lock(&self.rooms);
            targets.extend(
                rooms
                    .iter()
                    .filter(|(id, r)| {
                        **id != room_id
                            && r.visit.clinician_id == clinician
                            && r.visit.state == VisitState::Waiting
                    })
                    .map(|(id, _)| *id),
            );
        }
        for target in targets {
            let hub = hub.clone();
            runtime.spawn(async move { hub.refresh(org, target).await });
        }
    }

    async fn refresh(&self, org: OrgId, room_id: AppointmentId) {
        let seq = {
            let mut rooms = lock(&self.rooms);
            let Some(room) = rooms.get_mut(&room_id) else {
                return;
            };
            room.refresh_started += 1;
            room.refresh_started
        };
        let loaded = async {
            let visit = self.store.get_visit(org, room_id).await?;
            let invites = self.store.list_invites(org, room_id).await?;
            let estimate = match &visit {
                Some(v) if v.state == VisitState::Waiting => Some(self.estimate(v).await?),
                _ => None,
            };
            Ok::<_, domain::DomainError>((visit, invites, estimate))
        }
        .await;
        let (visit, invites, estimate) = match loaded {
            Ok((Some(v), invites, estimate)) => (v, invites, estimate),
            Ok((None, ..)) => return,
            Err(e) => {
                tracing::warn!(visit = %room_id, error = %e, "could not reload a visit for its live room");
                return;
            }
        };
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        if seq <= room.refresh_applied {
            // A later reload already told everyone something newer.
            return;
        }
        room.refresh_applied = seq;
        room.visit = visit;
        room.admitted_guests = admitted_guests(&invites);
        room.invites = invites;
        let flags: Vec<bool> = room
            .members
            .iter()
            .map(|m| room.admitted(m.info.role, m.info.identity))
            .collect();
        for (m, admitted) in room.members.iter_mut().zip(flags) {
            m.admitted = admitted;
        }
        let now = self.clock.now();
        for m in &room.members {
            if let Some(outbox) = &m.outbox {
                outbox.push(state_frame(room, m, estimate, now).into());
            }
        }
        room.send_peers();
    }

    /// How long the patient of a waiting visit may still wait, in minutes (one query for the
    /// queue ahead, one for the patient's own planned start).
    pub async fn estimate(&self, v: &Visit) -> Result<i64, domain::DomainError> {
        let now = self.clock.now();
        let Some(own) = self
            .store
            .get_appointment(v.org_id, v.appointment_id)
            .await?
        else {
            return Ok(0);
        };
        let since = now
            .checked_sub(SignedDuration::from_hours(24))
            .unwrap_or(now);
        let ahead = self.store.queue_ahead(v, since).await?;
        Ok(estimate_wait_minutes(now, own.start_at, &ahead))
    }

    /// A staff member's screen starts watching waiting rooms and alerts.
    pub fn watch(
        &self,
        org: OrgId,
        sites: Option<Vec<SiteId>>,
        clinician: Option<UserId>,
        outbox: Arc<Outbox>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.watchers).insert(
            id,
            Watcher {
                org,
                sites,
                clinician,
                outbox,
            },
        );
        id
    }

    pub fn unwatch(&self, id: u64) {
        lock(&self.watchers).remove(&id);
    }

    fn tell_watchers(&self, org: OrgId, site: SiteId, clinician: Option<UserId>, frame: &str) {
        for w in lock(&self.watchers).values() {
            if w.watches(org, site, clinician) {
                w.outbox.push(frame.to_string().into());
            }
        }
    }

    fn queue_changed(
        &self,
        org: OrgId,
        room: AppointmentId,
        site: SiteId,
        clinician: UserId,
        state: VisitState,
    ) {
        let frame = json!({
            "type": "queue",
            "appointment_id": room,
            "site_id": site,
            "clinician_id": clinician,
            "state": state,
        })
        .to_string();
        self.tell_watchers(org, site, Some(clinician), &frame);
    }

    fn alert(&self, e: &Escalation) {
        let frame = json!({"type": "alert", "alert": {
            "id": e.id,
            "kind": e.kind.as_str(),
            "label": e.kind.label(),
            "appointment_id": e.appointment_id,
            "site_id": e.site_id,
            "raised_at": e.raised_at.to_string(),
            "location_state": e.location_state.code(),
            "location_text": e.location_text,
            "reason": e.reason,
        }})
        .to_string();
        self.tell_watchers(e.org_id, e.site_id, None, &frame);
    }

    /// A message from another server.
    pub fn on_relay(&self, envelope: RelayEnvelope) {
        if envelope.node == self.node {
            return;
        }
        match envelope.message {
            RelayMessage::Join {
                room: room_id,
                org,
                member,
            } => {
                let mut rooms = lock(&self.rooms);
                let Some(room) = rooms.get_mut(&room_id) else {
                    return;
                };
                if room.org != org {
                    return;
                }
                replace_identity(room, member.identity);
                let admitted = room.admitted(member.role, member.identity);
                room.members.retain(|m| m.info.peer != member.peer);
                room.members.push(Member {
                    info: member,
                    admitted,
                    outbox: None,
                });
                room.send_peers();
                let here: Vec<MemberInfo> = room
                    .members
                    .iter()
                    .filter(|m| m.outbox.is_some())
                    .map(|m| m.info.clone())
                    .collect();
                drop(rooms);
                self.publish(RelayMessage::Here {
                    room: room_id,
                    members: here,
                });
                // The newcomer's server may know the visit better (it loaded it on joining).
                self.refresh_soon(org, room_id, None);
            }
            RelayMessage::Here {
                room: room_id,
                members,
            } => {
                let mut rooms = lock(&self.rooms);
                let Some(room) = rooms.get_mut(&room_id) else {
                    return;
                };
                let mut added = false;
                for info in members {
                    if room.member(&info.peer).is_none() && info.node != self.node {
                        let admitted = room.admitted(info.role, info.identity);
                        room.members.push(Member {
                            info,
                            admitted,
                            outbox: None,
                        });
                        added = true;
                    }
                }
                if added {
                    room.send_peers();
                }
            }
            RelayMessage::Leave {
                room: room_id,
                peer,
            } => {
                let mut rooms = lock(&self.rooms);
                let Some(room) = rooms.get_mut(&room_id) else {
                    return;
                };
                let before = room.members.len();
                room.members.retain(|m| m.info.peer != peer);
                if room.members.len() != before {
                    room.send_peers();
                }
            }
            RelayMessage::Signal {
                room: room_id,
                from,
                to,
                data,
            } => {
                let rooms = lock(&self.rooms);
                let target = rooms
                    .get(&room_id)
                    .and_then(|r| r.member(&to))
                    .and_then(|m| m.outbox.as_ref());
                if let Some(outbox) = target {
                    outbox.push(signal_frame(&from, data.get()).into());
                }
            }
            RelayMessage::Chat {
                room: room_id,
                frame,
            } => {
                let rooms = lock(&self.rooms);
                if let Some(room) = rooms.get(&room_id) {
                    deliver_to_admitted(room, &frame);
                }
            }
            RelayMessage::Changed {
                org,
                room,
                site,
                clinician,
                state,
            } => {
                self.queue_changed(org, room, site, clinician, state);
                self.refresh_soon(org, room, Some(clinician));
            }
            RelayMessage::Alert { escalation } => self.alert(&escalation),
        }
    }
}

impl VisitNotifier for Hub {
    fn visit_changed(&self, v: &Visit) {
        self.queue_changed(
            v.org_id,
            v.appointment_id,
            v.site_id,
            v.clinician_id,
            v.state,
        );
        self.refresh_soon(v.org_id, v.appointment_id, Some(v.clinician_id));
        self.publish(RelayMessage::Changed {
            org: v.org_id,
            room: v.appointment_id,
            site: v.site_id,
            clinician: v.clinician_id,
            state: v.state,
        });
    }

    fn alert_raised(&self, escalation: &Escalation) {
        self.alert(escalation);
        self.publish(RelayMessage::Alert {
            escalation: escalation.clone(),
        });
    }
}

fn admitted_guests(invites: &[Invite]) -> Vec<InviteId> {
    invites
        .iter()
        .filter(|i| i.admitted_at.is_some())
        .map(|i| i.id)
        .collect()
}

/// Closes the local connections of `identity` (it connected again) and forgets remote ones.
fn replace_identity(room: &mut Room, identity: Identity) {
    room.members.retain(|m| {
        if m.info.identity != identity {
            return true;
        }
        if let Some(outbox) = &m.outbox {
            outbox.replaced.store(true, Ordering::Release);
            outbox.push(
                json!({"type": "replaced", "message": "You opened this visit in another window; this one is closed."})
                    .to_string()
                    .into(),
            );
            outbox.close();
        }
        false
    });
}

fn deliver_to_admitted(room: &Room, frame: &str) {
    for m in &room.members {
        if let (true, Some(outbox)) = (m.admitted, &m.outbox) {
            outbox.push(frame.to_string().into());
        }
    }
}

/// `{"type":"signal","from":..,"data":..}` with the data exactly as its sender wrote it. Peer ids
/// are ours (hex), so they need no escaping.
fn signal_frame(from: &str, data: &str) -> String {
    let mut frame = String::with_capacity(data.len() + from.len() + 40);
    frame.push_str(r#"{"type":"signal","from":""#);
    frame.push_str(from);
    frame.push_str(r#"","data":"#);
    frame.push_str(data);
    frame.push('}');
    frame
}

/// The visit as one participant may see it: guests see only the call; the patient sees their
/// wait; the clinician sees where the patient is, the questionnaire's flags and the guests.
fn state_frame(room: &Room, m: &Member, estimate: Option<i64>, now: jiff::Timestamp) -> String {
    let v = &room.visit;
    let mut visit = json!({
        "id": v.appointment_id,
        "state": v.state,
        "audio_only": v.audio_only,
    });
    if m.info.role != ParticipantRole::Guest {
        visit["outcome"] = json!(v.outcome);
        visit["modality"] = json!(v.modality.as_str());
        visit["checked_in_at"] = json!(v.checked_in_at.to_string());
        visit["wait_minutes"] = json!(estimate);
    }
    if m.info.role == ParticipantRole::Clinician {
        visit["location_state"] = json!(v.location_state.code());
        visit["location_text"] = json!(v.location_text);
        visit["flags"] = json!(v.flags());
        visit["drops"] = json!(v.drops);
    }
    if m.info.role != ParticipantRole::Guest {
        visit["guests"] = room
            .invites
            .iter()
            .map(|i| {
                json!({
                    "id": i.id,
                    "name": i.name,
                    "relation": i.relation.as_str(),
                    "status": i.status(now),
                })
            })
            .collect();
    }
    json!({"type": "state", "visit": visit, "admitted": m.admitted}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_frame_is_valid_json_carrying_the_data_unchanged() {
        let data = r#"{"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0"}}"#;
        let frame = signal_frame("a1b2c3d41", data);
        let parsed: serde_json::Value = serde_json::from_str(&frame).unwrap_or_default();
        assert_eq!(parsed["type"], "signal");
        assert_eq!(parsed["from"], "a1b2c3d41");
        assert_eq!(parsed["data"].to_string(), data);
    }

    #[test]
    fn an_outbox_that_is_not_read_closes_instead_of_growing() {
        let outbox = Outbox::default();
        for _ in 0..MAX_QUEUED_FRAMES {
            outbox.push("x".into());
        }
        assert!(!outbox.is_closed());
        outbox.push("one too many".into());
        assert!(outbox.is_closed());
        assert_eq!(outbox.take().len(), MAX_QUEUED_FRAMES);
    }
}
