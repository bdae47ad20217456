//! Race trials: the store's races run many times over, on DynamoDB (moto) and on the embedded
//! store, counting the trials that broke a rule. Not a test (it takes a while and proves
//! nothing by passing once); its figures go into the notes of the changes that touch the store.
//!
//! ```text
//! cargo run -p nico-keys-tests --bin race-trials -- [--trials 1000] [--store both|dynamodb|embedded]
//! ```
//!
//! Every trial starts its writers at staggered moments (0–5 ms apart, varying by trial), so the
//! orders in which they commit vary; each race reports how often each outcome happened and
//! how many trials broke a rule (expected: 0).
//!
//! * revoke vs verify: no verification that starts after `revoke_key` returned succeeds;
//! * delete vs create: no key of a deleted bot user verifies, whoever won;
//! * creates at the cap: never more working keys than the cap;
//! * double rotation: a key is rotated at most once, and the loser stores nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use clap::{Parser, ValueEnum};
use nico_keys::model::rotation_deadline;
use nico_keys::store::{Rejection, Store, StoreError, VerifyError};
use nico_keys_tests::world::World;

#[derive(Parser)]
#[command(about = "Runs the store's races many times and counts the trials that broke a rule")]
struct Args {
    /// Trials per race and store.
    #[arg(long, default_value_t = 1000)]
    trials: u32,
    #[arg(long, value_enum, default_value_t = Stores::Both)]
    store: Stores,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Stores {
    Both,
    Dynamodb,
    Embedded,
}

/// What one race's trials came to.
#[derive(Default)]
struct Tally {
    outcomes: std::collections::BTreeMap<&'static str, u32>,
    violations: u32,
}

impl Tally {
    fn saw(&mut self, outcome: &'static str) {
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    fn broke(&mut self, trial: u32, rule: &str) {
        self.violations += 1;
        eprintln!("  trial {trial}: {rule}");
    }
}

fn stagger(trial: u32) -> Duration {
    Duration::from_micros(u64::from(trial % 6) * 1000 + u64::from(trial % 7) * 150)
}

async fn revoke_vs_verify<S: Store + 'static>(w: &Arc<World<S>>, trial: u32, tally: &mut Tally) {
    let bot = w.bot().await;
    let (key, raw) = w.key(&bot).await;
    let raw = Arc::new(raw);
    let revoked = Arc::new(AtomicBool::new(false));
    let checker = {
        let (w, raw, revoked) = (Arc::clone(w), Arc::clone(&raw), Arc::clone(&revoked));
        tokio::spawn(async move {
            let mut broken = 0;
            for _ in 0..6 {
                let after_revoke = revoked.load(Ordering::SeqCst);
                let verdict = w.store.verify(raw.expose(), w.now()).await;
                if after_revoke && !matches!(verdict, Err(VerifyError::Rejected(Rejection::Revoked))) {
                    broken += 1;
                }
            }
            broken
        })
    };
    tokio::time::sleep(stagger(trial)).await;
    w.store.revoke_key(&w.team, bot.id, key.id, &w.owner, w.now()).await.unwrap();
    revoked.store(true, Ordering::SeqCst);
    if checker.await.unwrap() > 0 {
        tally.broke(trial, "a verification that started after revoke returned succeeded");
    }
    match w.store.verify(raw.expose(), w.now()).await {
        Err(VerifyError::Rejected(Rejection::Revoked)) => tally.saw("revoked"),
        other => tally.broke(trial, &format!("verify after revoke: {other:?}")),
    }
}

async fn delete_vs_create<S: Store + 'static>(w: &Arc<World<S>>, trial: u32, tally: &mut Tally) {
    let bot = w.bot().await;
    let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
    // Every other trial the create sets off late, so either side may win.
    let (create_after, delete_after) = if trial.is_multiple_of(2) {
        (Duration::ZERO, stagger(trial))
    } else {
        (stagger(trial), Duration::ZERO)
    };
    let creator = {
        let w = Arc::clone(w);
        tokio::spawn(async move {
            tokio::time::sleep(create_after).await;
            w.store.create_key(&new, w.cap(), w.now()).await
        })
    };
    tokio::time::sleep(delete_after).await;
    let deleted = w.store.delete_bot(&w.team, bot.id, &w.owner, w.now()).await;
    let created = creator.await.unwrap();
    if let Err(e) = deleted {
        return tally.broke(trial, &format!("the deletion failed: {e}"));
    }
    let verdict = w.store.verify(raw.expose(), w.now()).await;
    match (created, verdict) {
        (Ok(()), Err(VerifyError::Rejected(Rejection::Revoked))) => tally.saw("create first, then revoked"),
        (Err(StoreError::BotDeleted), Err(VerifyError::Rejected(Rejection::UnknownKey))) => {
            tally.saw("deletion first, create refused")
        }
        (created, verdict) => tally.broke(trial, &format!("create {created:?}, then verify {verdict:?}")),
    }
}

async fn creates_at_the_cap<S: Store + 'static>(w: &Arc<World<S>>, trial: u32, tally: &mut Tally) {
    let bot = w.bot().await;
    let cap = 3;
    let creators: Vec<_> = (0..6u32)
        .map(|i| {
            let w = Arc::clone(w);
            let (new, _) = w.new_key(&bot, TimeDelta::days(1));
            tokio::spawn(async move {
                tokio::time::sleep(stagger(trial + i) / 4).await;
                w.store.create_key(&new, cap, w.now()).await
            })
        })
        .collect();
    let mut created = 0;
    for creator in creators {
        match creator.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::ActiveKeyLimit { .. } | StoreError::Contention) => {}
            Err(other) => return tally.broke(trial, &format!("a create failed: {other}")),
        }
    }
    let working = w.store.list_keys(&w.team, bot.id, None, 50).await.unwrap().items.len();
    if working > cap as usize || working != created {
        tally.broke(trial, &format!("{created} creates succeeded, {working} keys stored, cap {cap}"));
    } else if created == cap as usize {
        tally.saw("exactly the cap");
    } else {
        tally.saw("fewer than the cap (contention)");
    }
}

async fn double_rotation<S: Store + 'static>(w: &Arc<World<S>>, trial: u32, tally: &mut Tally) {
    let bot = w.bot().await;
    let (old, _) = w.key(&bot).await;
    let deadline = rotation_deadline(old.expires_at, w.now(), w.grace());
    let rotations: Vec<_> = (0..2u32)
        .map(|i| {
            let w = Arc::clone(w);
            let (new, raw) = w.new_key(&bot, TimeDelta::days(1));
            tokio::spawn(async move {
                tokio::time::sleep(stagger(trial) * i).await;
                let new = new.replacing(old.id);
                let rotated = w.store.rotate_key(&w.team, old.id, &new, deadline, w.cap(), w.now()).await;
                (rotated, raw)
            })
        })
        .collect();
    let mut won = Vec::new();
    for rotation in rotations {
        let (rotated, raw) = rotation.await.unwrap();
        let verdict = w.store.verify(raw.expose(), w.now()).await;
        match (rotated, verdict) {
            (Ok(_), Ok(_)) => won.push(raw),
            (
                Err(StoreError::KeyAlreadyRotated | StoreError::Contention),
                Err(VerifyError::Rejected(Rejection::UnknownKey)),
            ) => {}
            (rotated, verdict) => {
                return tally.broke(trial, &format!("rotation {rotated:?}, then verify {verdict:?}"));
            }
        }
    }
    match won.len() {
        1 => tally.saw("one rotation won"),
        n => tally.broke(trial, &format!("{n} rotations of one key succeeded")),
    }
}

#[derive(Clone, Copy)]
enum Race {
    RevokeVsVerify,
    DeleteVsCreate,
    CreatesAtTheCap,
    DoubleRotation,
}

const RACES: [(&str, Race); 4] = [
    ("revoke vs verify", Race::RevokeVsVerify),
    ("delete vs create", Race::DeleteVsCreate),
    ("creates at the cap", Race::CreatesAtTheCap),
    ("double rotation", Race::DoubleRotation),
];

/// Runs every race `trials` times on one kind of store, each trial in a fresh world (moto
/// copies a whole table for every transaction, so a table that grew would only slow it down);
/// returns the violations.
async fn run<S, F>(fresh: impl Fn() -> F, trials: u32, store: &str) -> u32
where
    S: Store + 'static,
    F: Future<Output = World<S>>,
{
    let mut violations = 0;
    for (name, race) in RACES {
        let started = Instant::now();
        let mut tally = Tally::default();
        for trial in 0..trials {
            let w = Arc::new(fresh().await);
            match race {
                Race::RevokeVsVerify => revoke_vs_verify(&w, trial, &mut tally).await,
                Race::DeleteVsCreate => delete_vs_create(&w, trial, &mut tally).await,
                Race::CreatesAtTheCap => creates_at_the_cap(&w, trial, &mut tally).await,
                Race::DoubleRotation => double_rotation(&w, trial, &mut tally).await,
            }
        }
        let outcomes: Vec<String> = tally.outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
        println!(
            "{store:<9} {name:<19} {trials} trials in {:>5.1} s, violations {}  ({})",
            started.elapsed().as_secs_f64(),
            tally.violations,
            outcomes.join(", ")
        );
        violations += tally.violations;
    }
    violations
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args = Args::parse();
    // The trials check the store's rules; the `it` tests are the ones that scan every log.
    nico_keys_tests::leaks::off_for_this_process();
    let mut violations = 0;
    if args.store != Stores::Embedded {
        violations += run(World::dynamodb, args.trials, "dynamodb").await;
    }
    if args.store != Stores::Dynamodb {
        violations += run(|| std::future::ready(World::embedded()), args.trials, "embedded").await;
    }
    println!("violations in all: {violations}");
    if violations > 0 {
        std::process::exit(1);
    }
}
