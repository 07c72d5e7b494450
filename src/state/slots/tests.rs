use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::state::FileStore;

const TTL: Duration = Duration::from_secs(60);

fn slots(capacity: usize) -> (tempfile::TempDir, SharedSlots) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::open(dir.path().join("state.json")));
    let slots = SharedSlots::new(store, capacity, TTL, Clock::SYSTEM).with_waits(Duration::from_millis(5), Duration::from_millis(20));
    (dir, slots)
}

#[tokio::test]
async fn no_more_slots_are_held_than_the_capacity_and_a_released_one_is_taken_again() {
    let (_dir, slots) = slots(2);
    let a = slots.acquire("a", TTL).await.unwrap();
    let b = slots.acquire("b", TTL).await.unwrap();
    assert_ne!(a.name(), b.name());
    let busy = slots.acquire("c", Duration::from_millis(50)).await;
    assert!(matches!(busy, Err(SlotError::Busy { capacity: 2, .. })), "{:?}", busy.err());
    let freed = a.name().to_string();
    a.release().await.unwrap();
    let c = slots.acquire("c", TTL).await.unwrap();
    assert_eq!(c.name(), freed);
    assert!(slots.store.list().await.unwrap().is_empty(), "slot records are not policies");
    b.release().await.unwrap();
    c.release().await.unwrap();
}

/// The probe a run makes before it starts a drill: free while one slot is,
/// busy with the earliest lease end once every slot is held, and it takes
/// nothing itself.
#[tokio::test]
async fn a_probe_finds_a_free_slot_or_the_earliest_lease_end_and_takes_none() {
    let (_dir, slots) = slots(2);
    assert_eq!(slots.capacity(), 2);
    assert!(format!("{slots:?}").contains("capacity: 2"), "{slots:?}");
    assert_eq!(slots.probe().await.unwrap(), Availability::Free, "no slot record yet");
    let a = slots.acquire("a", TTL).await.unwrap();
    assert_eq!(slots.probe().await.unwrap(), Availability::Free, "one of two held");
    let b = slots.acquire("b", TTL).await.unwrap();
    let Availability::Busy { capacity, next_lease_end } = slots.probe().await.unwrap() else { panic!("both held") };
    let mut ends = Vec::new();
    for name in [a.name(), b.name()] {
        ends.push(slots.store.get(name).await.unwrap().unwrap().lease.unwrap().expires);
    }
    assert_eq!((capacity, next_lease_end), (2, *ends.iter().min().unwrap()));
    assert!(slots.acquire("c", Duration::from_millis(20)).await.is_err(), "the probes took no slot and left both held");
    // Both held, their leases expired (their holders died): free.
    let later = SharedSlots { clock: Clock::ahead(TTL + Duration::from_secs(1)), ..slots.clone() };
    assert_eq!(later.probe().await.unwrap(), Availability::Free);
    a.release().await.unwrap();
    assert_eq!(slots.probe().await.unwrap(), Availability::Free);
    b.release().await.unwrap();
    let (_dir, none) = self::slots(0);
    assert_eq!(none.capacity(), 1, "at least one slot");
}

#[tokio::test]
async fn a_slot_of_a_holder_that_died_is_taken_over_once_its_lease_expired() {
    let (_dir, slots) = slots(1);
    let dead = slots.acquire("dead", TTL).await.unwrap();
    // The holder's process ends: no release, no renewal.
    if let Some(renewing) = &dead.renewing {
        renewing.abort();
    }
    std::mem::forget(dead);
    assert!(slots.acquire("next", Duration::from_millis(30)).await.is_err(), "live until it expires");
    let later = SharedSlots { clock: Clock::ahead(TTL + Duration::from_secs(1)), ..slots.clone() };
    let taken = later.acquire("next", TTL).await.unwrap();
    assert_eq!(taken.name(), slot_name(0));
    taken.release().await.unwrap();
}

#[tokio::test]
async fn many_holders_never_exceed_the_capacity_and_all_get_a_turn() {
    let (_dir, slots) = slots(3);
    let (held, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let holders = (0..12).map(|i| {
        let (slots, held, most) = (slots.clone(), held.clone(), most.clone());
        tokio::spawn(async move {
            let slot = slots.acquire(&format!("holder-{i}"), Duration::from_secs(30)).await.unwrap();
            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(15)).await;
            held.fetch_sub(1, Ordering::SeqCst);
            slot.release().await.unwrap();
        })
    });
    for holder in holders.collect::<Vec<_>>() {
        holder.await.unwrap();
    }
    assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 held at once: {}", most.load(Ordering::SeqCst));
    assert!(most.load(Ordering::SeqCst) >= 2, "they were shared, not taken one by one");
}

#[test]
fn slot_records_are_reserved_names() {
    assert_eq!(slot_name(7), "_restore-slot-07");
    assert!(is_reserved(&slot_name(0)));
    assert!(!is_reserved("spatial-scans"));
}

/// The lease of a slot's record, read from the state file without yielding
/// to the runtime (a background release could not run in between).
fn lease_on_file(dir: &tempfile::TempDir, slot: &str) -> Option<String> {
    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    document["policies"][slot]["lease"]["owner"].as_str().map(str::to_string)
}

#[tokio::test]
async fn release_gives_the_slot_back_before_it_returns() {
    let (dir, slots) = slots(1);
    let slot = slots.acquire("a", TTL).await.unwrap();
    let name = slot.name().to_string();
    assert_eq!(lease_on_file(&dir, &name).as_deref(), Some("a"));
    slot.release().await.unwrap();
    assert_eq!(lease_on_file(&dir, &name), None, "released by the call, not later in the background");
}

#[tokio::test]
async fn a_slot_dropped_without_release_is_given_back_in_the_background() {
    let (_dir, slots) = slots(1);
    let slot = slots.acquire("a", TTL).await.unwrap();
    let name = slot.name().to_string();
    drop(slot);
    for _ in 0..200 {
        if slots.store.get(&name).await.unwrap().unwrap().lease.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the dropped slot was not given back");
}

/// A renewal cut short after its write leaves the holder a version behind:
/// the release reads the record again and gives back what is still its own.
#[tokio::test]
async fn a_release_a_version_behind_gives_back_the_slot_it_still_holds() {
    let (_dir, slots) = slots(1);
    let slot = slots.acquire("a", TTL).await.unwrap();
    let name = slot.name().to_string();
    let stored = slots.store.get(&name).await.unwrap().unwrap();
    let renewed = lease::renew(slots.store.as_ref(), &stored, TTL, Clock::SYSTEM).await.unwrap();
    assert!(renewed.version > stored.version);
    slot.release().await.unwrap();
    assert!(slots.store.get(&name).await.unwrap().unwrap().lease.is_none(), "given back despite the stale version");
}

/// A held slot's lease is renewed every third of its time to live, so a
/// restore longer than the lease keeps its slot.
#[tokio::test]
async fn a_held_slot_is_renewed_before_its_lease_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::open(dir.path().join("state.json")));
    let slots = SharedSlots::new(store, 1, Duration::from_secs(3), Clock::SYSTEM);
    let slot = slots.acquire("a", Duration::from_secs(1)).await.unwrap();
    let first = slots.store.get(slot.name()).await.unwrap().unwrap().lease.unwrap().expires;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let later = slots.store.get(slot.name()).await.unwrap().unwrap().lease.unwrap().expires;
    assert!(later > first, "renewed while held: {first} then {later}");
    slot.release().await.unwrap();
}
