//! The work queue of a hub deployment (`settings.accounts`): the planner's messages, one
//! per (account, region) of a sweep, and the SQS batch the function consumes, whose items
//! are those messages or member accounts' CloudTrail events forwarded by EventBridge.
//! Pure: messages in and out as text; sending and receiving are the adapters' job.
//!
//! A sweep message is `{"sgwarden_work": 1, "account": "…", "region": "…", "event_id": …}`;
//! anything else on the queue must be an EventBridge event ([`crate::trigger`] reads it,
//! with its account). One item is one run; a failed item is reported back to Lambda
//! (`batchItemFailures`) and only it is retried.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_lambda_events::event::streams::{SqsBatchItemFailure, SqsEventResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::place::{self, Place};

/// The version of the sweep message, and the key that marks one.
const MARK: &str = "sgwarden_work";

/// Messages one `SendMessageBatch` call takes (SQS's limit).
pub const BATCH: usize = 10;

/// One sweep of one account and region, as the planner sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepItem {
    #[serde(rename = "sgwarden_work")]
    pub version: u32,
    pub account: String,
    pub region: String,
    /// The scheduled event the sweep came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl SweepItem {
    pub fn place(&self) -> Place {
        Place::new(&self.account, &self.region)
    }
}

/// The planner's sweep: every governed account crossed with every governed region, in
/// that order, as message bodies.
pub fn plan_sweep(accounts: &[String], regions: &[String], event_id: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(accounts.len().saturating_mul(regions.len()));
    for account in accounts {
        for region in regions {
            let item = SweepItem {
                version: 1,
                account: account.clone(),
                region: region.clone(),
                event_id: event_id.map(str::to_string),
            };
            out.push(serde_json::to_string(&item).unwrap_or_default());
        }
    }
    out
}

/// What the planner did: the accounts and regions it crossed, and the messages queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub queued: usize,
}

/// The planner: the accounts a hub policy governs (the organization's ACTIVE ones, read
/// only for `organization`) crossed with its regions, one message each on the queue.
pub async fn plan<Q: crate::ports::WorkQueue>(
    queue: &Q,
    settings: &crate::policy::Settings,
    hub: &Place,
    event_id: Option<&str>,
) -> Result<Planned, crate::ports::WorkError> {
    let active = match settings.accounts {
        Some(crate::policy::Accounts::Organization) => queue.active_accounts().await?,
        _ => Vec::new(),
    };
    let accounts = settings
        .governed_accounts(&active, &hub.account)
        .unwrap_or_default();
    let regions = settings
        .governed_regions(&hub.region, &[])
        .unwrap_or_default();
    let bodies = plan_sweep(&accounts, &regions, event_id);
    queue.send(&bodies).await?;
    Ok(Planned {
        accounts,
        regions,
        queued: bodies.len(),
    })
}

/// What one item of the batch asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// A sweep of one account and region.
    Sweep(SweepItem),
    /// A forwarded EventBridge event (its account and region are in it).
    Event(Value),
}

/// One item of a batch: its message id (what a failure names) and its work, or why it
/// cannot be read (then it fails, is retried, and lands in the dead-letter queue).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub message_id: String,
    pub work: Result<Work, String>,
}

/// Whether a Lambda input is an SQS batch (`Records` from `aws:sqs`).
pub fn is_batch(input: &Value) -> bool {
    input["Records"]
        .as_array()
        .and_then(|r| r.first())
        .is_some_and(|r| r["eventSource"] == "aws:sqs")
}

/// The items of an SQS batch.
pub fn items(input: &Value) -> Result<Vec<Item>, String> {
    let event: SqsEvent =
        serde_json::from_value(input.clone()).map_err(|e| format!("not an SQS batch: {e}"))?;
    Ok(event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, m)| Item {
            message_id: m.message_id.unwrap_or_else(|| format!("record-{i}")),
            work: m
                .body
                .as_deref()
                .ok_or_else(|| "the message has no body".to_string())
                .and_then(work),
        })
        .collect())
}

fn work(body: &str) -> Result<Work, String> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    if v.get(MARK).is_some() {
        let item: SweepItem = serde_json::from_value(v)
            .map_err(|e| format!("a sweep message that does not read: {e}"))?;
        if item.version != 1 {
            return Err(format!(
                "sweep message version {} (this sgwarden reads 1)",
                item.version
            ));
        }
        if !place::is_account(&item.account) || !crate::policy::is_region(&item.region) {
            return Err(format!(
                "a sweep message for `{}`/`{}`: not an account id and a region",
                item.account, item.region
            ));
        }
        return Ok(Work::Sweep(item));
    }
    if v.get("detail-type").is_some() {
        return Ok(Work::Event(v));
    }
    Err("the message is neither a sweep nor an EventBridge event".into())
}

/// The partial batch response: the items that failed, for SQS to deliver again.
pub fn response(failed: &[String]) -> SqsEventResponse {
    let mut r = SqsEventResponse::default();
    for id in failed {
        let mut f = SqsBatchItemFailure::default();
        f.item_identifier = Some(id.clone());
        r.batch_item_failures.push(f);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(bodies: &[&str]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                serde_json::json!({
                    "messageId": format!("m{i}"),
                    "receiptHandle": "r",
                    "body": b,
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:sgwarden-work",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }

    #[test]
    fn the_planner_crosses_accounts_with_regions_and_the_function_reads_them_back() {
        let accounts = ["222222222222".to_string(), "333333333333".to_string()];
        let regions = ["eu-west-1".to_string(), "us-east-1".to_string()];
        let bodies = plan_sweep(&accounts, &regions, Some("sweep-1"));
        assert_eq!(bodies.len(), 4);
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let input = batch(&refs);
        assert!(is_batch(&input));
        let places: Vec<String> = items(&input)
            .unwrap()
            .into_iter()
            .map(|i| match i.work {
                Ok(Work::Sweep(s)) => s.place().key("x"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            places,
            [
                "222222222222/eu-west-1/x",
                "222222222222/us-east-1/x",
                "333333333333/eu-west-1/x",
                "333333333333/us-east-1/x"
            ]
        );
    }

    #[test]
    fn a_forwarded_event_is_work_and_a_bad_message_fails_alone() {
        let event = r#"{"detail-type": "AWS API Call via CloudTrail", "account": "222222222222", "detail": {}}"#;
        let forged = r#"{"sgwarden_work": 1, "account": "../etc", "region": "us-east-1"}"#;
        let input = batch(&[event, "not json", forged, r#"{"hello": 1}"#]);
        let got = items(&input).unwrap();
        assert!(matches!(got[0].work, Ok(Work::Event(_))));
        for (i, why) in [(1, "not JSON"), (2, "not an account id"), (3, "neither")] {
            let e = got[i].work.as_ref().unwrap_err();
            assert!(e.contains(why), "{i}: {e}");
        }
        let r = serde_json::to_value(response(&["m1".into(), "m2".into()])).unwrap();
        assert_eq!(
            r,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]})
        );
        assert!(!is_batch(
            &serde_json::json!({"detail-type": "Scheduled Event"})
        ));
    }
}
