//! The live rooms of this server: who is connected to which visit and who of them is let in, and
//! the staff screens watching waiting rooms. It relays signaling between a visit's participants,
//! tells everyone when a visit changes (it is the domain's `VisitNotifier`), and, with
//! PostgreSQL, applies what the other servers sharing the database tell it (`relay_protocol.rs`).
//!
//! A live room is not the visit: the visit (its state, its record) is the domain's and lives in
//! the database; the room is who is connected now, on this server and the others. What a
//! participant may do is decided from the room's memory (the visit's state as last loaded, the
//! guests let in), so relaying a message touches no database; every change of a visit reloads
//! it through the domain (`room::live_visit`) and sends each participant their role's view.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use domain::Ctx;
use domain::ids::{AppointmentId, OrgId, SiteId, ThreadId, UserId};
use domain::scheduling::{CompetencyGate, SchedulingPolicy};
use domain::visits::service::room;
use domain::visits::{Escalation, LiveVisit, ParticipantRole, Visit, VisitNotifier, VisitState};
use domain::{Clock, Store};
use serde_json::value::RawValue;

use super::live_room::{Member, Room, is_peer_id, state_frame};
use super::outbox::{Outbox, lock};
use super::protocol::{Refusal, ServerFrame};
use super::relay_protocol::{Identity, MemberInfo, Relay, RelayEnvelope, RelayMessage};
use super::staff::{Watch, Watchers};

/// What the hub needs to call the domain on its own (reloading a visit for its room).
pub struct HubDeps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub competency: Arc<dyn CompetencyGate>,
    pub scheduling: SchedulingPolicy,
    pub break_glass_minutes: i64,
    pub care_team: domain::access::CareTeamWindow,
    pub clinical: domain::notes::ClinicalPolicy,
}

/// A participant connecting here.
pub struct Joining<'a> {
    /// The visit as just loaded.
    pub live: &'a LiveVisit,
    pub role: ParticipantRole,
    /// How the others see them.
    pub name: String,
    pub identity: Identity,
    /// The peer id they had before their connection was lost, if they ask to keep it.
    pub resume: Option<&'a str>,
}

pub struct Hub {
    node: String,
    deps: HubDeps,
    /// Boxed: the table stays small when it grows.
    rooms: Mutex<HashMap<AppointmentId, Box<Room>>>,
    staff: Watchers,
    next_id: AtomicU64,
    relay: OnceLock<Arc<dyn Relay>>,
    me: Weak<Hub>,
}

impl Hub {
    pub fn new(deps: HubDeps) -> Arc<Self> {
        let mut node = [0u8; 4];
        crate::auth::secrets::fill_random(&mut node);
        Arc::new_cyclic(|me| Self {
            node: hex::encode(node),
            deps,
            rooms: Mutex::default(),
            staff: Watchers::default(),
            next_id: AtomicU64::new(1),
            relay: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// The domain's context for the hub's own calls (it is the notifier itself).
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: self.deps.store.as_ref(),
            clock: self.deps.clock.as_ref(),
            break_glass_minutes: self.deps.break_glass_minutes,
            scheduling: self.deps.scheduling,
            competency: self.deps.competency.as_ref(),
            notifier: self,
            care_team: self.deps.care_team,
            clinical: self.deps.clinical,
            inbox: self,
        }
    }

    /// This server's name among the servers sharing the database.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        let _ = self.relay.set(relay);
    }

    pub(super) fn publish(&self, message: RelayMessage) {
        if let Some(relay) = self.relay.get() {
            relay.publish(RelayEnvelope {
                node: self.node.clone(),
                message,
            });
        }
    }

    /// A peer id no other connection has (here or on another server): this server's name and
    /// eight random bytes, so that an id a browser brings back cannot be one issued later.
    fn new_peer_id(&self) -> String {
        let mut random = [0u8; 8];
        crate::auth::secrets::fill_random(&mut random);
        format!("{}{}", self.node, hex::encode(random))
    }

    pub fn connections(&self) -> usize {
        lock(&self.rooms)
            .values()
            .map(|r| r.members.iter().filter(|m| m.outbox.is_some()).count())
            .sum::<usize>()
            + self.staff.count()
    }

    /// Adds a participant connected here, with the visit as just loaded: they get `welcome`
    /// (made by `welcome` for their peer id), then their `state`, and everyone their `peers`. An
    /// earlier connection of the same person (another tab, a phone that came back) is told it
    /// was replaced and closed. Returns the participant's peer id.
    pub fn join(
        &self,
        joining: Joining<'_>,
        outbox: Arc<Outbox>,
        welcome: impl FnOnce(&str) -> String,
    ) -> String {
        let live = joining.live;
        let room_id = live.visit.appointment_id;
        let org = live.visit.org_id;
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(room_id)
            .or_insert_with(|| Box::new(Room::new(live)));
        // A room older than the visit just loaded is reloaded (and everyone told) below.
        let stale = room.state != live.visit.state;
        room.replace_identity(joining.identity);
        // A participant coming back (their connection or their server was lost) keeps their
        // peer id, so the others' connections to them carry on; an id someone else in the room
        // holds is never given.
        let peer = match joining.resume {
            Some(p) if is_peer_id(p) && room.member(p).is_none() => p.to_string(),
            _ => self.new_peer_id(),
        };
        outbox.push(welcome(&peer));
        let info = MemberInfo {
            peer: peer.clone(),
            node: self.node.clone(),
            role: joining.role,
            name: joining.name,
            identity: joining.identity,
        };
        let admitted = room.add(info.clone(), Some(outbox.clone()));
        outbox.push(state_frame(
            live,
            info.role,
            admitted,
            self.deps.clock.now(),
        ));
        room.send_peers();
        drop(rooms);
        self.publish(RelayMessage::Join {
            room: room_id,
            org,
            member: info,
        });
        if stale {
            self.refresh_soon(org, room_id, None);
        }
        peer
    }

    /// Removes a participant's connection (closed tab, lost network), unless a newer connection
    /// took its place already.
    pub fn leave(&self, room_id: AppointmentId, peer: &str, outbox: &Arc<Outbox>) {
        let mut rooms = lock(&self.rooms);
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        let this_connection = |m: &Member| {
            m.info.peer == peer && m.outbox.as_ref().is_some_and(|o| Arc::ptr_eq(o, outbox))
        };
        if !room.members.iter().any(this_connection) {
            return;
        }
        room.members.retain(|m| !this_connection(m));
        room.send_peers();
        if !room.has_local_members() {
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
        if let Some(outbox) = &target.outbox {
            outbox.push(ServerFrame::Signal { from, data }.encode());
            return Ok(());
        }
        drop(rooms);
        self.publish(RelayMessage::Signal {
            room: room_id,
            from: from.to_string(),
            to: to.to_string(),
            data: data.to_owned(),
        });
        Ok(())
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
        let frame = ServerFrame::Chat {
            from: &sender.info.peer,
            name: &sender.info.name,
            role: sender.info.role,
            text,
            at: self.deps.clock.now().to_string(),
        }
        .encode();
        room.deliver_to_admitted(&frame);
        drop(rooms);
        self.publish(RelayMessage::Chat {
            room: room_id,
            frame,
        });
        Ok(())
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
                            && r.clinician == clinician
                            && r.state == VisitState::Waiting
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
        let live = match Box::pin(room::live_visit(self.ctx(), org, room_id)).await {
            Ok(Some(live)) => live,
            Ok(None) => return,
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
        room.state = live.visit.state;
        room.clinician = live.visit.clinician_id;
        room.admitted_guests = live.admitted_guests();
        let flags: Vec<bool> = room
            .members
            .iter()
            .map(|m| room.admitted(m.info.role, m.info.identity))
            .collect();
        for (m, admitted) in room.members.iter_mut().zip(flags) {
            m.admitted = admitted;
        }
        let now = self.deps.clock.now();
        for m in &room.members {
            if let Some(outbox) = &m.outbox {
                outbox.push(state_frame(&live, m.info.role, m.admitted, now));
            }
        }
        room.send_peers();
    }

    /// A staff member's screen starts watching waiting rooms and alerts.
    pub fn watch(&self, watch: Watch, outbox: Arc<Outbox>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.staff.add(id, watch, outbox);
        id
    }

    pub fn unwatch(&self, id: u64) {
        self.staff.remove(id);
    }

    fn queue_changed(
        &self,
        org: OrgId,
        room: AppointmentId,
        site: SiteId,
        clinician: UserId,
        state: VisitState,
    ) {
        let frame = ServerFrame::Queue {
            appointment_id: room,
            site_id: site,
            clinician_id: clinician,
            state,
        }
        .encode();
        self.staff.tell(org, site, Some(clinician), &frame);
    }

    /// Tells this server's staff screens of `site` (or the thread's clinician) of a thread.
    pub(super) fn thread_frame(
        &self,
        org: OrgId,
        site: SiteId,
        clinician: Option<UserId>,
        thread: ThreadId,
    ) {
        let frame = ServerFrame::Thread {
            thread_id: thread,
            site_id: site,
        }
        .encode();
        self.staff.tell(org, site, clinician, &frame);
    }

    fn alert(&self, e: &Escalation) {
        let frame = ServerFrame::Alert { alert: e.into() }.encode();
        self.staff.tell(e.org_id, e.site_id, None, &frame);
    }

    /// Drops the participants of the servers `gone` says are gone (crashed: they never said
    /// `Leave`), and tells the others in their rooms.
    pub fn forget_servers(&self, gone: impl Fn(&str) -> bool) {
        for room in lock(&self.rooms).values_mut() {
            room.remove(|m| m.node != self.node && gone(&m.node));
        }
    }

    /// Tells the other servers who is connected here, room by room (one of them lost track).
    fn announce_all(&self) {
        let rooms: Vec<(AppointmentId, Vec<MemberInfo>)> = lock(&self.rooms)
            .iter()
            .map(|(id, room)| {
                let here = room
                    .members
                    .iter()
                    .filter(|m| m.outbox.is_some())
                    .map(|m| m.info.clone())
                    .collect();
                (*id, here)
            })
            .collect();
        for (room, members) in rooms {
            self.publish(RelayMessage::Here { room, members });
        }
    }

    /// Applies a message from another server.
    pub fn apply(&self, envelope: RelayEnvelope) {
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
                let Some(room) = rooms.get_mut(&room_id).filter(|r| r.org == org) else {
                    return;
                };
                room.add(member, None);
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
                if let Some(room) = lock(&self.rooms).get_mut(&room_id) {
                    room.remove(|m| m.peer == peer && m.node == envelope.node);
                }
            }
            RelayMessage::Alive => {}
            RelayMessage::Resync => self.announce_all(),
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
                    outbox.push(
                        ServerFrame::Signal {
                            from: &from,
                            data: &data,
                        }
                        .encode(),
                    );
                }
            }
            RelayMessage::Chat {
                room: room_id,
                frame,
            } => {
                if let Some(room) = lock(&self.rooms).get(&room_id) {
                    room.deliver_to_admitted(&frame);
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
            RelayMessage::Thread {
                org,
                site,
                clinician,
                thread,
            } => self.thread_frame(org, site, clinician, thread),
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
