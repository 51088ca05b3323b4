//! Sessions, integration clients and their tokens.

use domain::compliance::AuditAction;
use domain::identity::Role;
use domain::ids::ClientId;
use domain::store::{ClientRecord, SessionRecord, TokenRecord};

use crate::helpers::{TestDb, at, audit, on_every_backend, user};

on_every_backend!(
    a_session_round_trips_is_touched_and_deleted,
    sessions_past_the_idle_or_absolute_cutoff_are_deleted,
    clients_and_tokens_round_trip,
    a_session_comes_with_its_account_and_sites_in_one_lookup,
);

async fn a_session_comes_with_its_account_and_sites_in_one_lookup(db: TestDb) {
    let org = db.org("Acme").await;
    let north = db.site(&org, "North").await;
    let south = db.site(&org, "South").await;
    let mut nurse = user(&org, "n@example.org", Role::Nurse);
    nurse.site_ids = vec![north.id, south.id];
    nurse.site_ids.sort();
    db.add_user(&nurse).await;
    let lonely = user(&org, "a@example.org", Role::Auditor);
    db.add_user(&lonely).await;
    let s = session("with-sites", &nurse, 0, 5);
    db.store.create_session(&s).await.unwrap();
    db.store
        .create_session(&session("no-sites", &lonely, 0, 0))
        .await
        .unwrap();
    let (found, account) = db
        .store
        .get_session_account("with-sites")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, s);
    assert_eq!(account, nurse);
    let (_, account) = db
        .store
        .get_session_account("no-sites")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account, lonely);
    assert!(
        db.store
            .get_session_account("unknown")
            .await
            .unwrap()
            .is_none()
    );
}

fn session(token: &str, u: &domain::identity::User, created: i64, seen: i64) -> SessionRecord {
    SessionRecord {
        token_hash: token.into(),
        user_id: u.id,
        org_id: u.org_id,
        mfa_pending: true,
        csrf_token: format!("csrf-{token}"),
        created_at: at(created),
        last_seen_at: at(seen),
        source_ip: Some("192.0.2.1".into()),
    }
}

async fn a_session_round_trips_is_touched_and_deleted(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    let s = session("t1", &u, 0, 0);
    db.store.create_session(&s).await.unwrap();
    assert_eq!(db.store.get_session("t1").await.unwrap(), Some(s.clone()));
    db.store.touch_session("t1", at(60)).await.unwrap();
    assert_eq!(
        db.store
            .get_session("t1")
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        at(60)
    );
    db.store.delete_session("t1").await.unwrap();
    assert_eq!(db.store.get_session("t1").await.unwrap(), None);
}

async fn sessions_past_the_idle_or_absolute_cutoff_are_deleted(db: TestDb) {
    let org = db.org("Acme").await;
    let u = user(&org, "n@example.org", Role::Nurse);
    db.add_user(&u).await;
    db.store
        .create_session(&session("idle", &u, 100, 100))
        .await
        .unwrap();
    db.store
        .create_session(&session("old", &u, 0, 1000))
        .await
        .unwrap();
    db.store
        .create_session(&session("fresh", &u, 500, 1000))
        .await
        .unwrap();
    let deleted = db
        .store
        .delete_sessions_before(at(200), at(50))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(db.store.get_session("idle").await.unwrap().is_none());
    assert!(db.store.get_session("old").await.unwrap().is_none());
    assert!(db.store.get_session("fresh").await.unwrap().is_some());
}

async fn clients_and_tokens_round_trip(db: TestDb) {
    let org = db.org("Acme").await;
    let other = db.org("Other").await;
    let client = ClientRecord {
        id: ClientId::new(),
        org_id: org.id,
        name: "EHR bridge".into(),
        secret_hash: "$argon2id$secret".into(),
        scopes: "system/Patient.read".into(),
        created_at: at(3),
    };
    db.store
        .create_client(&client, audit(AuditAction::ClientCreate))
        .await
        .unwrap();
    assert_eq!(
        db.store.get_client(client.id).await.unwrap(),
        Some(client.clone())
    );
    assert_eq!(
        db.store.list_clients(org.id).await.unwrap(),
        vec![client.clone()]
    );
    assert!(db.store.list_clients(other.id).await.unwrap().is_empty());

    let token = TokenRecord {
        token_hash: "tok".into(),
        client_id: client.id,
        org_id: org.id,
        scopes: client.scopes.clone(),
        expires_at: at(3600),
    };
    db.store
        .create_token(&token, audit(AuditAction::TokenIssued))
        .await
        .unwrap();
    assert_eq!(db.store.get_token("tok").await.unwrap(), Some(token));
    assert_eq!(db.store.get_token("missing").await.unwrap(), None);
}
