//! The search page: the form, and the open times found, day by day.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

use domain::scheduling::service::booking::{self, OpenSlot};

use crate::auth::actor::SignedIn;
use crate::state::AppState;
use crate::web::appointment_view::{Directory, language_name, state_choices};
use crate::web::form::{Field, FormErrors, PageQuery, Select};
use crate::web::page::{PageResult, href, render};
use crate::web::session::PageUser;
use crate::web::shell::Shell;
use crate::web::when;

use super::{Choice, Subject, subject, text};

/// Days a search covers unless the patient says otherwise.
const DEFAULT_SEARCH_DAYS: i64 = 13;

/// One open time: a button-sized link to its confirm page.
pub struct TimeChoice {
    pub href: String,
    /// "9:30 AM" (or "09:30"), in the patient's own time zone.
    pub time: String,
    /// Read out after the time: the day and the clinician.
    pub spoken: String,
}

/// A clinician's open times at one site on one day: a row with a grid of times.
pub struct ClinicianTimes {
    pub clinician: String,
    pub site: String,
    /// The languages spoken, an interpreter's offer, a site in another time zone.
    pub meta: String,
    pub times: Vec<TimeChoice>,
}

/// The open times of one day, soonest first, by clinician and site.
pub struct DayGroup {
    pub heading: String,
    pub rows: Vec<ClinicianTimes>,
}

/// The answer at the top of the results: the soonest time, bookable at once.
pub struct NextAvailable {
    pub href: String,
    pub when: String,
    pub who: String,
}

/// How the patient reads times: in their own time zone (their home clinic's), on a 12-hour
/// clock when their language is English (as US patients read it), else a 24-hour one.
pub struct Reading {
    pub tz: jiff::tz::TimeZone,
    pub twelve_hour: bool,
}

impl Reading {
    fn for_patient(patient: &domain::identity::Patient, dir: &Directory) -> Self {
        let language = patient.preferred_language.to_ascii_lowercase();
        Self {
            tz: dir.zone(patient.primary_site_id),
            twelve_hour: language.is_empty() || language == "en" || language.starts_with("en-"),
        }
    }

    fn clock(&self, at: jiff::Timestamp) -> String {
        when::clock_as(at, &self.tz, self.twelve_hour)
    }

    fn zone(&self, at: jiff::Timestamp) -> String {
        when::zone_abbreviation(at, &self.tz)
    }
}

/// The results in parts: with a language asked for, first the times of clinicians who speak
/// it, then the others (an interpreter can join); otherwise one part without a heading.
pub struct ResultPart {
    pub heading: Option<String>,
    /// Said under the heading (how an interpreter joins).
    pub note: Option<String>,
    pub days: Vec<DayGroup>,
}

pub struct SearchForm {
    pub visit_type: Select,
    /// Shown instead of the select when moving a visit (its type stays).
    pub fixed_visit_type: Option<String>,
    pub patient_state: Select,
    pub language: Select,
    pub from: Field,
    pub to: Field,
}

#[derive(Template)]
#[template(path = "pages/book_search.html")]
struct SearchPage {
    shell: Shell,
    heading: String,
    intro: String,
    errors: FormErrors,
    form: SearchForm,
    hidden: Vec<(&'static str, String)>,
    searched: bool,
    result_count: String,
    /// "Times are shown in your time zone (EST)."
    zone_note: String,
    next: Option<NextAvailable>,
    parts: Vec<ResultPart>,
    no_visit_types: bool,
}

const SEARCH_LABELS: [(&str, &str); 5] = [
    ("visit_type_id", "Type of visit"),
    ("patient_state", "The state you will be in"),
    ("language", "Language"),
    ("from", "From"),
    ("to", "To"),
];

/// The confirm page's address for one open time.
fn confirm_href(open: &OpenSlot, choice: &Choice) -> String {
    let date = when::date_at(open.slot.start_at, &open.time_zone);
    let picked = Choice {
        slot: Some(open.slot.id.to_string()),
        day: Some(date.to_string()),
        site: Some(open.slot.site_id.to_string()),
        clinician: Some(open.slot.clinician_id.to_string()),
        ..choice.clone()
    };
    href("/book/confirm", &picked.hidden())
}

fn group_by_day<'a>(
    found: impl IntoIterator<Item = &'a OpenSlot>,
    choice: &Choice,
    dir: &Directory,
    reading: &Reading,
) -> Vec<DayGroup> {
    let mut days: Vec<(jiff::civil::Date, DayGroup)> = Vec::new();
    for open in found {
        let at = open.slot.start_at;
        let date = when::date_at(at, &reading.tz);
        let heading = when::day_heading(date);
        let time = TimeChoice {
            href: confirm_href(open, choice),
            time: reading.clock(at),
            spoken: format!(", {heading}, with {}", open.clinician_name),
        };
        let day = match days.last_mut() {
            Some((d, group)) if *d == date => group,
            _ => {
                days.push((
                    date,
                    DayGroup {
                        heading,
                        rows: Vec::new(),
                    },
                ));
                match days.last_mut() {
                    Some((_, group)) => group,
                    None => continue,
                }
            }
        };
        let site = dir.site_name(open.slot.site_id);
        match day
            .rows
            .iter_mut()
            .find(|r| r.clinician == open.clinician_name && r.site == site)
        {
            Some(row) => row.times.push(time),
            None => day.rows.push(ClinicianTimes {
                clinician: open.clinician_name.clone(),
                meta: row_meta(open, &site, reading),
                site,
                times: vec![time],
            }),
        }
    }
    days.into_iter().map(|(_, g)| g).collect()
}

/// What a row says under the clinician's name: languages, an interpreter's offer, and a site
/// whose clock differs from the patient's.
fn row_meta(open: &OpenSlot, site: &str, reading: &Reading) -> String {
    let mut meta = format!(
        "Speaks {}",
        open.clinician_languages
            .iter()
            .map(|l| language_name(l))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if open.speaks_language == Some(false) {
        meta.push_str(" · an interpreter can join");
    }
    let at = open.slot.start_at;
    let (theirs, yours) = (
        at.to_zoned(open.time_zone.clone()).offset(),
        at.to_zoned(reading.tz.clone()).offset(),
    );
    if theirs != yours {
        meta.push_str(&format!(
            " · {site} is on {} time ({} there); times shown are yours ({})",
            when::zone_abbreviation(at, &open.time_zone),
            when::clock_as(at, &open.time_zone, reading.twelve_hour),
            reading.zone(at)
        ));
    }
    meta
}

/// The soonest time of the results (of the first part: a clinician who speaks the language
/// when there is one).
fn next_available(
    found: &[OpenSlot],
    choice: &Choice,
    dir: &Directory,
    reading: &Reading,
) -> Option<NextAvailable> {
    let open = found.first()?;
    let at = open.slot.start_at;
    Some(NextAvailable {
        href: confirm_href(open, choice),
        when: format!(
            "{}, {} {}",
            when::day_heading(when::date_at(at, &reading.tz)),
            reading.clock(at),
            reading.zone(at)
        ),
        who: format!(
            "{} at {}",
            open.clinician_name,
            dir.site_name(open.slot.site_id)
        ),
    })
}

/// The open times found, in parts (see [`ResultPart`]), and how many there are in words.
fn result_parts(
    found: &[OpenSlot],
    choice: &Choice,
    dir: &Directory,
    reading: &Reading,
) -> (Vec<ResultPart>, String) {
    let count = match found.len() {
        0 => "No open times match. Try other dates or another type of visit.".to_string(),
        1 => "1 open time.".to_string(),
        n => format!("{n} open times."),
    };
    let mixed = found.iter().any(|o| o.speaks_language == Some(false));
    // One part when no language was asked for, or every clinician found speaks it.
    let Some(language) = choice
        .language
        .as_deref()
        .filter(|l| mixed && !l.trim().is_empty())
    else {
        let days = group_by_day(found, choice, dir, reading);
        return (
            vec![ResultPart {
                heading: None,
                note: None,
                days,
            }],
            count,
        );
    };
    let name = language_name(language);
    let (theirs, others): (Vec<&OpenSlot>, Vec<&OpenSlot>) =
        found.iter().partition(|o| o.speaks_language != Some(false));
    let interpreter = Some(
        "When you check in for the video visit, you can invite an interpreter to join it, or ask the clinic to arrange one."
            .to_string(),
    );
    if theirs.is_empty() {
        let parts = vec![ResultPart {
            heading: Some(format!(
                "No clinician holds visits in {name} on these dates: an interpreter can join any of these times"
            )),
            note: interpreter,
            days: group_by_day(others, choice, dir, reading),
        }];
        return (parts, count);
    }
    let count = format!(
        "{count} {} with a clinician who speaks {name}.",
        theirs.len()
    );
    let parts = vec![
        ResultPart {
            heading: Some(format!("With a clinician who speaks {name}")),
            note: None,
            days: group_by_day(theirs, choice, dir, reading),
        },
        ResultPart {
            heading: Some(format!("Other times: an interpreter for {name} can join")),
            note: interpreter,
            days: group_by_day(others, choice, dir, reading),
        },
    ];
    (parts, count)
}

/// The search form, and the open times when a search was made.
pub async fn search(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(mut choice): PageQuery<Choice>,
) -> PageResult {
    let who = subject(&state, &me, &choice).await?;
    let actor = &me.actor;
    let dir = Directory::load(&state, actor).await?;
    let first_visit = choice.visit_type_id.is_none() && choice.from.is_none();
    if let Some(a) = &who.moving {
        choice.visit_type_id = Some(a.visit_type_id.to_string());
        if first_visit {
            choice.patient_state = Some(a.patient_state.code().to_string());
        }
    }
    let preferred = who.patient.preferred_language.trim().to_ascii_lowercase();
    let mut languages = spoken_languages(&dir);
    // The patient's own language is offered even when no clinician speaks it (an interpreter can).
    for own in [Some(preferred.clone()), choice.language.clone()]
        .into_iter()
        .flatten()
    {
        let own = own.trim().to_ascii_lowercase();
        if !own.is_empty() && !languages.contains(&own) {
            languages.push(own);
        }
    }
    if first_visit {
        // Defaults from the patient's record: where they live, the language they prefer.
        if choice.patient_state.is_none() {
            choice.patient_state = Some(who.patient.address.state.code().to_string());
        }
        if !preferred.is_empty() {
            choice.language = Some(preferred);
        }
    }
    let tz = dir.home_zone();
    let today = when::date_at(state.clock.now(), &tz);
    if choice.from.as_deref().is_none_or(|f| f.trim().is_empty()) {
        choice.from = Some(today.to_string());
    }
    if choice.to.as_deref().is_none_or(|t| t.trim().is_empty()) {
        let from = when::date_param(choice.from.as_deref(), today);
        choice.to = Some(
            from.saturating_add(jiff::Span::new().days(DEFAULT_SEARCH_DAYS))
                .to_string(),
        );
    }
    let searched = choice
        .visit_type_id
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty());
    let mut errors = FormErrors::default();
    if !searched && !first_visit && who.moving.is_none() {
        errors.field("visit_type_id", "Choose the type of visit.");
    }
    let reading = Reading::for_patient(&who.patient, &dir);
    let mut found = Found {
        searched,
        parts: Vec::new(),
        count: String::new(),
        next: None,
    };
    if searched {
        let searched = async { booking::search(state.ctx(), actor, &choice.search()?).await };
        match searched.await {
            Ok(open) => {
                (found.parts, found.count) = result_parts(&open, &choice, &dir, &reading);
                found.next = next_available(&open, &choice, &dir, &reading);
            }
            Err(err) => errors = FormErrors::from_domain(err, &SEARCH_LABELS)?,
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = SearchPage {
        zone_note: format!(
            "Times are shown in {} time zone ({}).",
            if who.by_staff {
                "the patient's"
            } else {
                "your"
            },
            reading.zone(state.clock.now())
        ),
        ..search_page(&me, &who, &dir, &choice, &languages, errors, found)
    };
    Ok(render(status, &page))
}

/// Languages some clinician of the organization holds visits in.
fn spoken_languages(dir: &Directory) -> Vec<String> {
    let mut all: Vec<String> = dir
        .clinicians()
        .iter()
        .flat_map(|c| c.languages.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What a search found: whether one ran, the open times in parts by day, and how many.
struct Found {
    searched: bool,
    parts: Vec<ResultPart>,
    count: String,
    next: Option<NextAvailable>,
}

fn search_page(
    me: &SignedIn,
    who: &Subject,
    dir: &Directory,
    choice: &Choice,
    languages: &[String],
    errors: FormErrors,
    found: Found,
) -> SearchPage {
    let Found {
        searched,
        parts,
        count,
        next,
    } = found;
    let name = who.patient.full_name();
    let (heading, intro) = match (&who.moving, who.by_staff) {
        (Some(a), _) => (
            "Choose a new time".to_string(),
            format!(
                "The visit is now on {}. Pick a new time below; the old one is freed when you confirm.",
                when::when(a.start_at, &dir.zone(a.site_id))
            ),
        ),
        (None, true) => (
            format!("Book a visit for {name}"),
            "Search open times, then confirm one with the patient.".to_string(),
        ),
        (None, false) => (
            "Book a visit".to_string(),
            "Choose the type of visit and when you are free. We show the clinicians who can see you."
                .to_string(),
        ),
    };
    let visit_types = dir.active_visit_types();
    let current_type = text(&choice.visit_type_id);
    let fixed_visit_type = who.moving.as_ref().map(|a| dir.visit_type_name(a));
    let form = SearchForm {
        visit_type: Select::new(
            "visit_type_id",
            "Type of visit",
            visit_types.iter().map(|v| {
                (
                    v.id.to_string(),
                    format!(
                        "{} ({}, {})",
                        v.name,
                        v.modality.label(),
                        when::minutes(v.duration_minutes)
                    ),
                )
            }),
            &current_type,
            Some("Choose…"),
        )
        .errors(&errors),
        fixed_visit_type,
        patient_state: Select::new(
            "patient_state",
            if who.by_staff {
                "State the patient will be in during the visit"
            } else {
                "State you will be in during the visit"
            },
            state_choices(),
            &text(&choice.patient_state).to_ascii_uppercase(),
            None,
        )
        .hint("By law, a clinician must be licensed where the patient is during a video or phone visit.")
        .errors(&errors),
        language: Select::new(
            "language",
            "Language of the visit",
            languages.iter().map(|l| (l.clone(), language_name(l))),
            &text(&choice.language),
            Some("Any language"),
        )
        .hint("Times with a clinician who speaks it come first; an interpreter can join the others.")
        .optional()
        .errors(&errors),
        from: Field::new("from", "From", text(&choice.from))
            .kind("date")
            .errors(&errors),
        to: Field::new("to", "To", text(&choice.to))
            .kind("date")
            .errors(&errors),
    };
    let mut hidden = vec![
        ("patient", text(&choice.patient)),
        ("reschedule", text(&choice.reschedule)),
    ];
    if who.moving.is_some() {
        hidden.push(("visit_type_id", current_type));
    }
    hidden.retain(|(_, v)| !v.is_empty());
    SearchPage {
        shell: Shell::new(me, who.section()),
        heading,
        intro,
        form,
        hidden,
        searched: searched && errors.is_empty(),
        errors,
        result_count: count,
        zone_note: String::new(),
        next,
        parts,
        no_visit_types: visit_types.is_empty(),
    }
}
