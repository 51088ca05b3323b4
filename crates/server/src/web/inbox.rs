//! The staff inbox of a site at `/messages`: filters (state, mine, unread, overdue), the site's
//! unread and overdue counts, one row per thread with its assignment, reply target and flags,
//! and the next page. With JavaScript, `inbox.js` re-reads the list when the staff socket
//! reports a thread of the site changed; without it the page reloads itself every minute.

use askama::Template;
use serde::Deserialize;

use domain::identity::Role;
use domain::ids::SiteId;
use domain::messaging::service as messaging;
use domain::messaging::{InboxQuery, ThreadStatus};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::Directory;
use super::form::{Select, Tick};
use super::page::{PageError, PageResult, href, ok};
use super::shell::{Section, Shell};
use super::when;

#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    pub site_id: Option<String>,
    /// open, waiting_on_patient, closed; blank: all.
    pub status: Option<String>,
    pub mine: Option<String>,
    pub unread: Option<String>,
    pub overdue: Option<String>,
    /// The next page: threads older than this (microseconds).
    pub before: Option<i64>,
}

pub struct InboxRow {
    pub href: String,
    pub patient: String,
    pub subject: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub assigned: String,
    pub last: String,
    pub due: String,
    pub overdue: bool,
    pub unread: i64,
}

#[derive(Template)]
#[template(path = "pages/inbox.html")]
struct InboxPage {
    shell: Shell,
    site: Select,
    status: Select,
    mine: Tick,
    unread_only: Tick,
    overdue_only: Tick,
    site_name: String,
    unread: i64,
    overdue: i64,
    rows: Vec<InboxRow>,
    next_href: Option<String>,
    no_site: bool,
}

const PAGE: i64 = 25;

/// The inbox page for staff (from `messages::list`).
pub async fn show(state: &AppState, me: &SignedIn, params: InboxParams) -> PageResult {
    let dir = Directory::load(state, &me.actor).await?;
    let sites: Vec<_> = dir
        .sites()
        .filter(|s| me.user.role == Role::OrgAdmin || me.user.site_ids.contains(&s.id))
        .cloned()
        .collect();
    let chosen: Option<SiteId> = params
        .site_id
        .as_deref()
        .and_then(|raw| raw.parse().ok())
        .filter(|id| sites.iter().any(|s| s.id == *id))
        .or_else(|| sites.first().map(|s| s.id));
    let status = params
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| ThreadStatus::parse("status", s).ok());
    let flag = |v: &Option<String>| v.as_deref() == Some("yes");
    let (mine, unread_only, overdue_only) = (
        flag(&params.mine),
        flag(&params.unread),
        flag(&params.overdue),
    );
    let site_select = Select::new(
        "site_id",
        "Site",
        sites.iter().map(|s| (s.id.to_string(), s.name.clone())),
        &chosen.map(|s| s.to_string()).unwrap_or_default(),
        None,
    );
    let status_select = Select::new(
        "status",
        "State",
        ThreadStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), s.label().to_string())),
        status.map_or("", |s| s.as_str()),
        Some("Open and waiting on patient"),
    );
    let ticks = (
        Tick::new("mine", "yes", "Assigned to me", mine),
        Tick::new("unread", "yes", "Unread only", unread_only),
        Tick::new("overdue", "yes", "Overdue only", overdue_only),
    );
    let Some(site) = chosen else {
        return Ok(ok(&InboxPage {
            shell: Shell::new(me, Section::Messages),
            site: site_select,
            status: status_select,
            mine: ticks.0,
            unread_only: ticks.1,
            overdue_only: ticks.2,
            site_name: String::new(),
            unread: 0,
            overdue: 0,
            rows: Vec::new(),
            next_href: None,
            no_site: true,
        }));
    };
    let now = state.clock.now();
    let before = params
        .before
        .map(jiff::Timestamp::from_microsecond)
        .transpose()
        .map_err(|_| PageError::BadRequest("The page address is not valid.".into()))?;
    let query = InboxQuery {
        site_id: Some(site),
        status,
        not_closed: status.is_none(),
        assigned_to: if mine { Some(me.user.id) } else { None },
        unread_only,
        overdue_at: overdue_only.then_some(now),
        before,
        limit: PAGE,
    };
    let page = messaging::inbox(state.ctx(), &me.actor, query).await?;
    let tz = dir.zone(site);
    let rows: Vec<InboxRow> = page
        .threads
        .iter()
        .map(|t| InboxRow {
            href: format!("/messages/{}", t.id),
            patient: page.patient_name(t.patient_id),
            subject: t.subject.clone(),
            status: t.status.label(),
            status_class: status_class(t.status),
            assigned: t
                .assigned_to
                .map_or_else(|| "Nobody yet".to_string(), |u| page.staff_name(u)),
            last: when::when(t.last_message_at, &tz),
            due: t
                .reply_due_at
                .map_or_else(String::new, |d| when::when(d, &tz)),
            overdue: t.overdue(now),
            unread: t.staff_unread,
        })
        .collect();
    let next_href = (page.threads.len() as i64 == PAGE)
        .then(|| page.threads.last())
        .flatten()
        .map(|last| {
            let mut pairs = vec![
                ("site_id", site.to_string()),
                ("before", last.last_message_at.as_microsecond().to_string()),
            ];
            if let Some(s) = status {
                pairs.push(("status", s.as_str().to_string()));
            }
            for (on, name) in [
                (mine, "mine"),
                (unread_only, "unread"),
                (overdue_only, "overdue"),
            ] {
                if on {
                    pairs.push((name, "yes".to_string()));
                }
            }
            href("/messages", &pairs)
        });
    Ok(ok(&InboxPage {
        shell: Shell::new(me, Section::Messages),
        site: site_select,
        status: status_select,
        mine: ticks.0,
        unread_only: ticks.1,
        overdue_only: ticks.2,
        site_name: dir.site_name(site),
        unread: page.counts.unread,
        overdue: page.counts.overdue,
        rows,
        next_href,
        no_site: false,
    }))
}

/// The badge a thread's status is shown with.
pub fn status_class(status: ThreadStatus) -> &'static str {
    match status {
        ThreadStatus::Open => "badge-open",
        ThreadStatus::WaitingOnPatient => "badge-booked",
        ThreadStatus::Closed => "badge-off",
    }
}
