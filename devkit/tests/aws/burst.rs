//! Bursts of edits on moto: many `sgwarden invoke` processes at once, sharing
//! `SGWARDEN_STATE`, as Lambda scales out to one invocation per event. The revert budget
//! must hold exactly and never fail closed for contention.

use std::time::Duration;

use sgwarden::budget::Ledger;
use sgwarden_devkit::burst::{self, OPENED};
use sgwarden_devkit::estate;

use crate::budget::{STATE, budget_object};
use crate::moto::event_for;
use crate::moto_support::{US_EAST_1, start_moto};
use crate::support::bin;
use sgwarden::aws::ec2::SdkEc2;
use sgwarden::ports::Ec2;

/// The budget object of a group of moto's default account, read back.
async fn budget_of(sdk: &aws_config::SdkConfig, group: &str) -> Option<Ledger> {
    budget_object(sdk, &format!("123456789012/us-east-1/{group}")).await
}

async fn has_opened(sdk: &aws_config::SdkConfig, group: &str) -> bool {
    let inv = SdkEc2::new(sdk)
        .describe(&US_EAST_1, Some(&[group.to_string()]))
        .await
        .unwrap();
    inv.groups[0]
        .ingress
        .iter()
        .any(|r| r.rule.to_string() == OPENED)
}

/// `n` edits on `n` different enforce groups at once: every one is reverted, none fails.
async fn edits_on_different_groups(n: usize) {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    let groups = burst::seed(&moto, &sdk, n, 3).await.unwrap();
    burst::open(&sdk, &groups).await.unwrap();
    let events: Vec<_> = groups
        .iter()
        .map(|g| event_for("authorize-ingress.json", g))
        .collect();
    let dir = std::env::temp_dir().join(format!("sgwarden-burst-{}-{n}", std::process::id()));
    let b = burst::run(&moto, &bin("sgwarden"), &dir, STATE, &events).unwrap();
    eprintln!(
        "{n} invocations: {:?}, {} state calls ({:.1} per invocation)",
        b.wall,
        b.state_calls,
        b.state_calls as f64 / n as f64
    );
    let failed: Vec<_> = b.invocations.iter().filter(|i| i.failed_closed()).collect();
    assert!(
        failed.is_empty(),
        "{} failed closed: {failed:#?}",
        failed.len()
    );
    for i in &b.invocations {
        assert_eq!(i.code, Some(0), "{i:#?}");
    }
    for g in &groups {
        assert!(!has_opened(&sdk, g).await, "{g} still has {OPENED}");
        let budget = budget_of(&sdk, g).await.expect("the group's budget");
        assert_eq!(
            budget.groups.values().map(Vec::len).sum::<usize>(),
            1,
            "{g}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn forty_edits_on_forty_groups_at_once_are_all_reverted_and_none_fails_closed() {
    edits_on_different_groups(40).await;
}

#[tokio::test]
async fn a_hundred_edits_on_a_hundred_groups_at_once_are_all_reverted() {
    edits_on_different_groups(100).await;
}

/// Twenty events for one group at once while another tool keeps re-opening the port: the
/// budget of 3 is spent exactly, the others hold the group back as flapping, and no
/// invocation fails closed because others held the group's budget.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_events_on_one_group_spend_its_budget_of_three_exactly() {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    let groups = burst::seed(&moto, &sdk, 1, 3).await.unwrap();
    let group = groups[0].clone();
    burst::open(&sdk, &groups).await.unwrap();
    // The other tool: re-opens the port whenever it is gone, until the burst ends.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fighter = {
        let (sdk, group, stop) = (sdk.clone(), group.clone(), stop.clone());
        tokio::spawn(async move {
            let ec2 = aws_sdk_ec2::Client::new(&sdk);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = estate::authorize(&ec2, &group, &[OPENED]).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let events: Vec<_> = (0..20)
        .map(|_| event_for("authorize-ingress.json", &group))
        .collect();
    let dir = std::env::temp_dir().join(format!("sgwarden-burst-one-{}", std::process::id()));
    let (m, d) = (&moto, dir.clone());
    let b = tokio::task::block_in_place(|| burst::run(m, &bin("sgwarden"), &d, STATE, &events))
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    fighter.await.unwrap();
    let failed: Vec<_> = b.invocations.iter().filter(|i| i.failed_closed()).collect();
    assert!(
        failed.is_empty(),
        "{} failed closed: {failed:#?}",
        failed.len()
    );
    let budget = budget_of(&sdk, &group).await.expect("the group's budget");
    let spent: usize = budget.groups.values().map(Vec::len).sum();
    assert_eq!(spent, 3, "{budget:?}");
    let revoked = b.invocations.iter().filter(|i| i.reverted()).count();
    let flapping = b.invocations.iter().filter(|i| i.flapping()).count();
    eprintln!(
        "one group, 20 invocations: {revoked} reverted, {flapping} flapping, {:?}, {} state calls",
        b.wall, b.state_calls
    );
    assert!(revoked <= 3, "{revoked} invocations revoked");
    assert!(flapping >= 1, "no invocation held the group back");
    let _ = std::fs::remove_dir_all(dir);
}

/// Twenty events at once for one edit on one group (no one fights back): the group ends in
/// its wanted state, every invocation that saw the drift either spent one of the 3 reverts
/// or held the group back as flapping, exactly min(3, those) were spent, and none failed.
#[tokio::test]
async fn twenty_events_for_one_edit_end_with_the_group_as_wanted() {
    let moto = start_moto();
    let sdk = moto.sdk().await;
    let groups = burst::seed(&moto, &sdk, 1, 3).await.unwrap();
    burst::open(&sdk, &groups).await.unwrap();
    let events: Vec<_> = (0..20)
        .map(|_| event_for("authorize-ingress.json", &groups[0]))
        .collect();
    let dir = std::env::temp_dir().join(format!("sgwarden-burst-edit-{}", std::process::id()));
    let b = burst::run(&moto, &bin("sgwarden"), &dir, STATE, &events).unwrap();
    assert!(b.invocations.iter().all(|i| !i.failed_closed()), "{b:#?}");
    assert!(
        !has_opened(&sdk, &groups[0]).await,
        "the port is still open"
    );
    let revoked = b.invocations.iter().filter(|i| i.reverted()).count();
    let flapping = b.invocations.iter().filter(|i| i.flapping()).count();
    let budget = budget_of(&sdk, &groups[0])
        .await
        .expect("the group's budget");
    let spent: usize = budget.groups.values().map(Vec::len).sum();
    assert_eq!(
        spent, revoked,
        "every spent revert is an invocation that reverted"
    );
    assert_eq!(
        spent,
        (revoked + flapping).min(3),
        "{revoked} reverted, {flapping} flapping"
    );
    let _ = std::fs::remove_dir_all(dir);
}
