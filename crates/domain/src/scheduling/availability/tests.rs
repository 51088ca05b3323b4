use super::*;
use crate::scheduling::model::ServiceLine;

fn ny() -> TimeZone {
    TimeZone::get("America/New_York").unwrap_or_else(|e| panic!("{e}"))
}

fn template(
    weekday: Weekday,
    start: &str,
    end: &str,
    slot: i64,
    buffer: i64,
) -> AvailabilityTemplate {
    AvailabilityTemplate {
        id: TemplateId::new(),
        org_id: OrgId::new(),
        clinician_id: UserId::new(),
        site_id: SiteId::new(),
        weekday,
        start_time: parse_time("t", start).unwrap_or_else(|e| panic!("{e}")),
        end_time: parse_time("t", end).unwrap_or_else(|e| panic!("{e}")),
        slot_minutes: slot,
        buffer_minutes: buffer,
        service_lines: ServiceLines::of(&[ServiceLine::PrimaryCare]),
        valid_from: jiff::civil::date(2026, 1, 1),
        valid_until: None,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[test]
fn a_weekly_nine_oclock_template_stays_nine_oclock_local_across_both_dst_changes() {
    let tz = ny();
    // Sundays around 2026-03-08 (clocks forward) and 2026-11-01 (clocks back).
    let t = template(Weekday::Sunday, "09:00", "10:00", 60, 0);
    let spring = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 3, 1),
        jiff::civil::date(2026, 3, 15),
    );
    let locals: Vec<String> = spring.iter().map(|w| local(w.start, &tz)).collect();
    assert_eq!(
        locals,
        [
            "2026-03-01 09:00 EST",
            "2026-03-08 09:00 EDT",
            "2026-03-15 09:00 EDT"
        ]
    );
    // One week apart on the calendar, but 167 real hours across the spring change.
    assert_eq!(
        spring[1].start.duration_since(spring[0].start).as_hours(),
        167
    );
    let autumn = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 10, 25),
        jiff::civil::date(2026, 11, 8),
    );
    let locals: Vec<String> = autumn.iter().map(|w| local(w.start, &tz)).collect();
    assert_eq!(
        locals,
        [
            "2026-10-25 09:00 EDT",
            "2026-11-01 09:00 EST",
            "2026-11-08 09:00 EST"
        ]
    );
    assert_eq!(
        autumn[1].start.duration_since(autumn[0].start).as_hours(),
        169
    );
}

#[test]
fn hours_inside_the_spring_gap_move_forward_and_keep_their_real_length() {
    let tz = ny();
    // 01:00-04:00 on the night the clocks skip 02:00-03:00: two real hours.
    let t = template(Weekday::Sunday, "01:00", "04:00", 30, 0);
    let w = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 3, 8),
        jiff::civil::date(2026, 3, 8),
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].end.duration_since(w[0].start).as_hours(), 2);
    assert_eq!(cut_into_slots(&w[0]).len(), 4);
}

#[test]
fn slots_are_cut_with_buffers_and_a_slot_that_does_not_fit_is_left_out() {
    let tz = ny();
    let t = template(Weekday::Monday, "09:00", "10:00", 20, 5);
    let w = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 6, 1),
        jiff::civil::date(2026, 6, 1),
    );
    let slots = cut_into_slots(&w[0]);
    let starts: Vec<String> = slots.iter().map(|(s, _)| local(*s, &tz)).collect();
    // 09:00, 09:25, and 09:50 would end at 10:10: left out.
    assert_eq!(starts, ["2026-06-01 09:00 EDT", "2026-06-01 09:25 EDT"]);
}

#[test]
fn templates_apply_only_within_their_validity() {
    let tz = ny();
    let mut t = template(Weekday::Wednesday, "09:00", "12:00", 30, 0);
    t.valid_from = jiff::civil::date(2026, 6, 10);
    t.valid_until = Some(jiff::civil::date(2026, 6, 24));
    let w = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 6, 1),
        jiff::civil::date(2026, 7, 31),
    );
    let dates: Vec<String> = w
        .iter()
        .map(|w| local(w.start, &tz)[..10].to_string())
        .collect();
    assert_eq!(dates, ["2026-06-10", "2026-06-17", "2026-06-24"]);
}

#[test]
fn windows_at_sites_in_different_time_zones_overlap_in_absolute_time() {
    let la = TimeZone::get("America/Los_Angeles").unwrap_or_else(|e| panic!("{e}"));
    let from = jiff::civil::date(2026, 6, 1);
    let to = jiff::civil::date(2026, 6, 7);
    let ny_morning = template_windows(
        &template(Weekday::Monday, "09:00", "12:00", 30, 0),
        &ny(),
        from,
        to,
    );
    // 07:00-08:00 in Oakland is 10:00-11:00 in Brooklyn.
    let la_early = template_windows(
        &template(Weekday::Monday, "07:00", "08:00", 30, 0),
        &la,
        from,
        to,
    );
    assert!(first_overlap(&ny_morning, &la_early).is_some());
    let la_late = template_windows(
        &template(Weekday::Monday, "09:00", "10:00", 30, 0),
        &la,
        from,
        to,
    );
    assert!(first_overlap(&ny_morning, &la_late).is_none());
}

#[test]
fn leave_removes_the_slots_it_touches_and_past_slots_are_not_planned() {
    let tz = ny();
    let t = template(Weekday::Monday, "09:00", "11:00", 30, 0);
    let w = template_windows(
        &t,
        &tz,
        jiff::civil::date(2026, 6, 1),
        jiff::civil::date(2026, 6, 8),
    );
    let leave_start = local_instant(
        jiff::civil::date(2026, 6, 1),
        parse_time("t", "09:45").unwrap_or_else(|e| panic!("{e}")),
        &tz,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let leave_end = local_instant(
        jiff::civil::date(2026, 6, 1),
        parse_time("t", "10:15").unwrap_or_else(|e| panic!("{e}")),
        &tz,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let slots = plan_slots(
        OrgId::new(),
        UserId::new(),
        &w,
        &[(leave_start, leave_end)],
        Timestamp::UNIX_EPOCH,
        Timestamp::UNIX_EPOCH,
    );
    let starts: Vec<String> = slots.iter().map(|s| local(s.start_at, &tz)).collect();
    assert_eq!(
        starts,
        [
            "2026-06-01 09:00 EDT",
            "2026-06-01 10:30 EDT",
            "2026-06-08 09:00 EDT",
            "2026-06-08 09:30 EDT",
            "2026-06-08 10:00 EDT",
            "2026-06-08 10:30 EDT"
        ]
    );
    let later = plan_slots(
        OrgId::new(),
        UserId::new(),
        &w,
        &[],
        w[1].start,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(later.len(), 4);
}

#[test]
fn template_input_is_checked_field_by_field() {
    let good = TemplateInput {
        site_id: SiteId::new().to_string(),
        weekday: "monday".into(),
        start_time: "09:00".into(),
        end_time: "12:00".into(),
        slot_minutes: 30,
        buffer_minutes: 0,
        service_lines: vec!["primary_care".into()],
        valid_from: "2026-01-01".into(),
        valid_until: None,
    };
    assert!(good.validate().is_ok());
    let field_of = |input: TemplateInput| match input.validate() {
        Err(DomainError::Invalid(f)) => f.field,
        other => panic!("expected a field error, got {other:?}"),
    };
    assert_eq!(
        field_of(TemplateInput {
            weekday: "someday".into(),
            ..good.clone()
        }),
        "weekday"
    );
    assert_eq!(
        field_of(TemplateInput {
            start_time: "25:00".into(),
            ..good.clone()
        }),
        "start_time"
    );
    assert_eq!(
        field_of(TemplateInput {
            end_time: "08:00".into(),
            ..good.clone()
        }),
        "end_time"
    );
    assert_eq!(
        field_of(TemplateInput {
            slot_minutes: 7,
            ..good.clone()
        }),
        "slot_minutes"
    );
    assert_eq!(
        field_of(TemplateInput {
            end_time: "09:20".into(),
            ..good.clone()
        }),
        "slot_minutes"
    );
    assert_eq!(
        field_of(TemplateInput {
            buffer_minutes: -5,
            ..good.clone()
        }),
        "buffer_minutes"
    );
    assert_eq!(
        field_of(TemplateInput {
            service_lines: vec![],
            ..good.clone()
        }),
        "service_lines"
    );
    assert_eq!(
        field_of(TemplateInput {
            service_lines: vec!["dentistry".into()],
            ..good.clone()
        }),
        "service_lines[0]"
    );
    assert_eq!(
        field_of(TemplateInput {
            valid_until: Some("2025-12-31".into()),
            ..good.clone()
        }),
        "valid_until"
    );
    assert_eq!(parse_weekday("w", "7").ok(), Some(Weekday::Sunday));
}
