//! What asked for a run: an EventBridge scheduled event (a full sweep), a CloudTrail
//! security-group event delivered by EventBridge (the groups it touched), or a person.
//!
//! Real CloudTrail records are irregular: empty lists arrive as `{}` or `""`, a single
//! item may be an object instead of a list, `sessionCredentialFromConsole` is the string
//! `"true"` or absent, and `errorCode` may stand beside a response. This module reads them
//! with those irregularities in mind and takes from an event only where to look: drift is
//! always computed from a fresh describe, never from the payload. Pure: no I/O.

use serde::Serialize;
use serde_json::Value;

/// What asked for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Schedule,
    Cloudtrail,
    Manual,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Cloudtrail => "cloudtrail",
            TriggerKind::Manual => "manual",
        }
    }
}

/// Who made the change that triggered the run (CloudTrail triggers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub arn: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriggerInfo {
    pub kind: TriggerKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

impl TriggerInfo {
    /// A trigger of `kind` and nothing more known of it.
    pub fn of(kind: TriggerKind) -> Self {
        TriggerInfo {
            kind,
            event_name: None,
            event_id: None,
            region: None,
            group_ids: None,
            ignored: None,
            actor: None,
        }
    }

    pub fn manual() -> Self {
        TriggerInfo::of(TriggerKind::Manual)
    }
}

/// The CloudTrail event names sgwarden handles. A tag change counts for the security
/// groups it tags: their tags decide which entry and guardrails govern them.
pub const EVENT_NAMES: [&str; 11] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "CreateTags",
    "DeleteTags",
];

/// Where a run looks and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Every managed group in every governed region.
    Schedule {
        event_id: Option<String>,
        region: Option<String>,
    },
    /// The groups one CloudTrail event touched, in its region.
    CloudTrail {
        event_name: String,
        event_id: Option<String>,
        region: String,
        /// Sorted, without duplicates.
        group_ids: Vec<String>,
        /// Groups the call named without an id anywhere in the event.
        group_names: Vec<String>,
        actor: Actor,
    },
    /// A person at the command line; the flags say where to look.
    Manual,
}

/// Why an event is acknowledged but changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// The call failed (`errorCode`): it changed nothing.
    ErrorCode,
    /// The call was made by sgwarden's own role: reacting would loop.
    SelfRole,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::ErrorCode => "error_code",
            Ignored::SelfRole => "self",
        }
    }
}

/// A trigger read from an event, and whether the event is to be ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerEvent {
    pub trigger: Trigger,
    pub ignored: Option<Ignored>,
    /// The account the event came from (EventBridge's `account`), when it says.
    pub account: Option<String>,
}

/// An input that is not an event sgwarden handles.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("rejected event: {message}")]
pub struct TriggerError {
    pub message: String,
}

fn reject(message: impl Into<String>) -> TriggerError {
    TriggerError {
        message: message.into(),
    }
}

fn expected() -> String {
    format!(
        "expected an EventBridge `Scheduled Event` or an `AWS API Call via CloudTrail` event from ec2.amazonaws.com named one of {}",
        EVENT_NAMES.join(", ")
    )
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// The elements of a CloudTrail list, whatever shape it arrived in: a JSON array, an
/// object holding `items`, a single object, or `{}`/`""`/null for none.
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) if o.contains_key("items") => items(o.get("items")),
        Some(Value::Object(o)) if o.is_empty() => Vec::new(),
        Some(obj @ Value::Object(_)) => vec![obj],
        _ => Vec::new(),
    }
}

fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn actor(detail: &Value) -> Actor {
    let ident = detail.get("userIdentity").unwrap_or(&Value::Null);
    let console = match detail.get("sessionCredentialFromConsole") {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let kind = text(ident, &["type"]).unwrap_or("Unknown").to_string();
    let arn = text(ident, &["arn"])
        .or_else(|| text(ident, &["invokedBy"]))
        .map(str::to_string)
        .unwrap_or_else(|| format!("unknown {kind} principal"));
    Actor {
        arn,
        kind,
        console: Some(console),
        invoked_by: text(ident, &["invokedBy"]).map(str::to_string),
        source_ip: text(detail, &["sourceIPAddress"]).map(str::to_string),
        user_agent: text(detail, &["userAgent"]).map(str::to_string),
    }
}

/// Whether the call was made by the function's own role (`self_role_arn`, an IAM role
/// ARN): its session issuer is that role, or its assumed-role ARN names that role.
fn is_self(detail: &Value, self_role_arn: &str) -> bool {
    let ident = detail.get("userIdentity").unwrap_or(&Value::Null);
    if text(ident, &["sessionContext", "sessionIssuer", "arn"]) == Some(self_role_arn) {
        return true;
    }
    // arn:aws:iam::ACCOUNT:role/PATH/NAME -> arn:aws:sts::ACCOUNT:assumed-role/NAME/
    let (Some(account), Some(name)) = (
        self_role_arn.split(':').nth(4),
        self_role_arn.rsplit('/').next(),
    ) else {
        return false;
    };
    let partition = self_role_arn.split(':').nth(1).unwrap_or("aws");
    let prefix = format!("arn:{partition}:sts::{account}:assumed-role/{name}/");
    text(ident, &["arn"]).is_some_and(|a| a.starts_with(&prefix))
}

/// The groups a security-group event touched: ids from the request, the response (for
/// calls that named the group), the PascalCase ModifySecurityGroupRules body, the
/// Create/Delete fields, or the resources a tag change names (only its `sg-` ones);
/// names where no id is given anywhere.
fn touched(detail: &Value) -> (Vec<String>, Vec<String>) {
    let req = detail.get("requestParameters").unwrap_or(&Value::Null);
    let resp = detail.get("responseElements").unwrap_or(&Value::Null);
    let mut ids: Vec<String> = Vec::new();
    let mut push = |s: Option<&str>| {
        if let Some(s) = s
            && is_group_id(s)
        {
            ids.push(s.to_ascii_lowercase());
        }
    };
    push(text(req, &["groupId"]));
    push(text(req, &["ModifySecurityGroupRulesRequest", "GroupId"]));
    push(text(resp, &["groupId"]));
    for set in ["securityGroupRuleSet", "revokedSecurityGroupRuleSet"] {
        for item in items(resp.get(set)) {
            push(text(item, &["groupId"]));
        }
    }
    for item in items(req.get("resourcesSet")) {
        push(text(item, &["resourceId"]));
    }
    ids.sort();
    ids.dedup();
    let mut names = Vec::new();
    if ids.is_empty()
        && let Some(n) = text(req, &["groupName"])
    {
        names.push(n.to_string());
    }
    (ids, names)
}

/// The roles sgwarden's own writes are made by: the function's role
/// (`SGWARDEN_SELF_ROLE_ARN`) and, in a hub deployment, the member role it assumes in
/// every governed account (`SGWARDEN_MEMBER_ROLE`, a name: any account, any path).
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnRoles<'a> {
    pub function: Option<&'a str>,
    pub member: Option<&'a str>,
}

/// Whether the call was made by a role of this name in any account (the member role):
/// its session issuer is `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, or its identity
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION`.
fn is_member(detail: &Value, name: &str) -> bool {
    let ident = detail.get("userIdentity").unwrap_or(&Value::Null);
    let issuer = text(ident, &["sessionContext", "sessionIssuer", "arn"]).is_some_and(|arn| {
        let Some(["arn", _, "iam", _, _, resource]) = crate::place::fields::<6>(arn, ':') else {
            return false;
        };
        resource.starts_with("role/") && resource.rsplit('/').next() == Some(name)
    });
    let assumed = text(ident, &["arn"]).is_some_and(|arn| {
        arn.split(':').nth(5).is_some_and(|r| {
            r.strip_prefix("assumed-role/")
                .and_then(|rest| rest.split('/').next())
                == Some(name)
        })
    });
    issuer || assumed
}

/// Reads an event: an EventBridge envelope (or a bare CloudTrail record).
/// `self_role_arn` is `SGWARDEN_SELF_ROLE_ARN`.
pub fn parse(event: &Value, self_role_arn: Option<&str>) -> Result<TriggerEvent, TriggerError> {
    parse_own(
        event,
        OwnRoles {
            function: self_role_arn,
            member: None,
        },
    )
}

/// [`parse`], knowing every role sgwarden writes with: a call made by one of them is its
/// own and is ignored.
pub fn parse_own(event: &Value, own: OwnRoles<'_>) -> Result<TriggerEvent, TriggerError> {
    let self_role_arn = own.function;
    if !event.is_object() {
        return Err(reject(format!(
            "the input is not a JSON object; {}",
            expected()
        )));
    }
    let detail_type = text(event, &["detail-type"]);
    let detail = match detail_type {
        Some("Scheduled Event") => {
            return Ok(TriggerEvent {
                trigger: Trigger::Schedule {
                    event_id: text(event, &["id"]).map(str::to_string),
                    region: text(event, &["region"]).map(str::to_string),
                },
                ignored: None,
                account: text(event, &["account"]).map(str::to_string),
            });
        }
        Some("AWS API Call via CloudTrail") => event.get("detail").unwrap_or(&Value::Null),
        // A bare CloudTrail record, as `aws cloudtrail lookup-events` prints it.
        None if event.get("eventName").is_some() && event.get("eventSource").is_some() => event,
        Some(other) => {
            return Err(reject(format!(
                "detail-type `{other}` is not handled; {}",
                expected()
            )));
        }
        None => {
            return Err(reject(format!(
                "the input has no `detail-type`; {}",
                expected()
            )));
        }
    };
    let source = text(detail, &["eventSource"]).unwrap_or("");
    let name = text(detail, &["eventName"]).unwrap_or("");
    if source != "ec2.amazonaws.com" || !EVENT_NAMES.contains(&name) {
        return Err(reject(format!(
            "CloudTrail event `{}` from `{}` is not handled; {}",
            if name.is_empty() {
                "(no eventName)"
            } else {
                name
            },
            if source.is_empty() {
                "(no eventSource)"
            } else {
                source
            },
            expected()
        )));
    }
    let region = text(detail, &["awsRegion"])
        .or_else(|| text(event, &["region"]))
        .ok_or_else(|| reject(format!("CloudTrail event `{name}` has no `awsRegion`")))?
        .to_string();
    let event_id = text(detail, &["eventID"])
        .or_else(|| text(event, &["id"]))
        .map(str::to_string);
    // errorCode wins, even beside a non-null response: the call changed nothing.
    // Any errorCode that says something (a string, or a number or object from a forged or
    // unusual event) marks a failed call; only absent, null or "" does not.
    let failed = match detail.get("errorCode") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    let ignored = if failed {
        Some(Ignored::ErrorCode)
    } else if self_role_arn.is_some_and(|arn| !arn.is_empty() && is_self(detail, arn))
        || own
            .member
            .is_some_and(|name| !name.is_empty() && is_member(detail, name))
    {
        Some(Ignored::SelfRole)
    } else {
        None
    };
    let (group_ids, group_names) = touched(detail);
    if ignored.is_none() && group_ids.is_empty() && group_names.is_empty() {
        return Err(reject(format!(
            "CloudTrail event `{name}` names no security group (looked at requestParameters.groupId, groupName, resourcesSet, the response's rule sets and ModifySecurityGroupRulesRequest.GroupId)"
        )));
    }
    Ok(TriggerEvent {
        trigger: Trigger::CloudTrail {
            event_name: name.to_string(),
            event_id,
            region,
            group_ids,
            group_names,
            actor: actor(detail),
        },
        ignored,
        account: text(event, &["account"])
            .or_else(|| text(detail, &["recipientAccountId"]))
            .map(str::to_string),
    })
}

impl TriggerEvent {
    /// The report's `trigger` field.
    pub fn info(&self) -> TriggerInfo {
        let mut info = self.trigger.info();
        info.ignored = self.ignored.map(|i| i.as_str().to_string());
        info
    }
}

impl Trigger {
    /// The report's `trigger` field for a run that was not ignored.
    pub fn info(&self) -> TriggerInfo {
        match self {
            Trigger::Manual => TriggerInfo::manual(),
            Trigger::Schedule { event_id, region } => TriggerInfo {
                kind: TriggerKind::Schedule,
                event_id: event_id.clone(),
                region: region.clone(),
                ..TriggerInfo::manual()
            },
            Trigger::CloudTrail {
                event_name,
                event_id,
                region,
                group_ids,
                actor,
                ..
            } => TriggerInfo {
                kind: TriggerKind::Cloudtrail,
                event_name: Some(event_name.clone()),
                event_id: event_id.clone(),
                region: Some(region.clone()),
                group_ids: Some(group_ids.clone()),
                ignored: None,
                actor: Some(actor.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF: &str = "arn:aws:iam::111122223333:role/sgwarden-function-role";

    fn event(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn parsed(name: &str) -> TriggerEvent {
        parse(&event(name), Some(SELF)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn ids(t: &TriggerEvent) -> (Vec<String>, Vec<String>) {
        match &t.trigger {
            Trigger::CloudTrail {
                group_ids,
                group_names,
                ..
            } => (group_ids.clone(), group_names.clone()),
            other => panic!("not cloudtrail: {other:?}"),
        }
    }

    #[test]
    fn the_schedule_is_a_full_sweep() {
        let t = parsed("scheduled.json");
        assert_eq!(
            t.trigger,
            Trigger::Schedule {
                event_id: Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa".into()),
                region: Some("us-east-1".into())
            }
        );
        assert_eq!(t.info().kind, TriggerKind::Schedule);
    }

    #[test]
    fn every_handled_event_names_its_group_from_the_right_place() {
        for (file, want) in [
            ("authorize-ingress.json", "sg-0e1a000000000001"),
            ("authorize-egress.json", "sg-0e1a000000000002"),
            ("revoke-ingress.json", "sg-0e1a000000000001"),
            ("revoke-egress.json", "sg-0e1a000000000002"),
            ("modify-security-group-rules.json", "sg-0e1a000000000001"),
            ("update-descriptions-ingress.json", "sg-0e1a000000000001"),
            ("update-descriptions-egress.json", "sg-0e1a000000000002"),
            ("create-security-group.json", "sg-0e1a0000000000aa"),
            ("delete-security-group.json", "sg-0e1a000000000003"),
            ("authorize-by-group-name.json", "sg-0e1a000000000001"),
            ("iam-user-console.json", "sg-0e1a000000000001"),
            ("invoked-by-service.json", "sg-0e1a000000000002"),
            ("create-tags.json", "sg-0e1a000000000004"),
            ("delete-tags.json", "sg-0e1a000000000004"),
        ] {
            let t = parsed(file);
            assert_eq!(t.ignored, None, "{file}");
            assert_eq!(ids(&t).0, vec![want.to_string()], "{file}");
        }
    }

    #[test]
    fn a_call_that_named_the_group_takes_its_id_from_the_response() {
        let mut e = event("authorize-by-group-name.json");
        assert!(e["detail"]["requestParameters"].get("groupId").is_none());
        assert_eq!(
            ids(&parse(&e, None).unwrap()).0,
            vec!["sg-0e1a000000000001"]
        );
        // With no id anywhere, the name is kept for the enforcer to look up.
        e["detail"]["responseElements"] = Value::Null;
        assert_eq!(
            ids(&parse(&e, None).unwrap()),
            (vec![], vec!["web-prod".to_string()])
        );
    }

    #[test]
    fn error_code_wins_over_a_response_and_the_own_role_is_ignored() {
        assert_eq!(parsed("error-code.json").ignored, Some(Ignored::ErrorCode));
        assert_eq!(
            parsed("error-code.json").info().ignored.as_deref(),
            Some("error_code")
        );
        assert_eq!(parsed("self-role.json").ignored, Some(Ignored::SelfRole));
        // Without SGWARDEN_SELF_ROLE_ARN the same event is acted on.
        assert_eq!(parse(&event("self-role.json"), None).unwrap().ignored, None);
    }

    #[test]
    fn an_error_code_of_any_shape_marks_a_failed_call() {
        for code in [
            serde_json::json!(403),
            serde_json::json!({"code": "AccessDenied"}),
            serde_json::json!(true),
        ] {
            let mut e = event("authorize-ingress.json");
            e["detail"]["errorCode"] = code.clone();
            assert_eq!(
                parse(&e, None).unwrap().ignored,
                Some(Ignored::ErrorCode),
                "{code}"
            );
        }
        let mut e = event("authorize-ingress.json");
        e["detail"]["errorCode"] = Value::Null;
        assert_eq!(parse(&e, None).unwrap().ignored, None);
    }

    #[test]
    fn the_own_role_is_recognised_by_its_assumed_role_arn_too() {
        let mut e = event("self-role.json");
        e["detail"]["userIdentity"]["sessionContext"] = Value::Null;
        assert_eq!(
            parse(&e, Some(SELF)).unwrap().ignored,
            Some(Ignored::SelfRole)
        );
        assert_eq!(
            parse(&e, Some("arn:aws:iam::111122223333:role/other"))
                .unwrap()
                .ignored,
            None
        );
    }

    #[test]
    fn the_actor_is_named_console_or_not() {
        let t = parsed("authorize-ingress.json");
        let Trigger::CloudTrail { actor, .. } = &t.trigger else {
            panic!()
        };
        assert_eq!(
            actor.arn,
            "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com"
        );
        assert_eq!(actor.kind, "AssumedRole");
        assert_eq!(actor.console, Some(true));
        assert_eq!(actor.source_ip.as_deref(), Some("203.0.113.50"));
        assert_eq!(
            actor.user_agent.as_deref(),
            Some("console.ec2.amazonaws.com")
        );
        let user = parsed("iam-user-console.json");
        let Trigger::CloudTrail { actor, .. } = &user.trigger else {
            panic!()
        };
        assert_eq!(
            (actor.arn.as_str(), actor.kind.as_str(), actor.console),
            ("arn:aws:iam::111122223333:user/bob", "IAMUser", Some(true))
        );
        let api = parsed("revoke-egress.json");
        let Trigger::CloudTrail { actor, .. } = &api.trigger else {
            panic!()
        };
        assert_eq!(actor.console, Some(false));
        let svc = parsed("invoked-by-service.json");
        let Trigger::CloudTrail { actor, .. } = &svc.trigger else {
            panic!()
        };
        assert_eq!(
            actor.invoked_by.as_deref(),
            Some("cloudformation.amazonaws.com")
        );
    }

    #[test]
    fn other_inputs_are_rejected_saying_what_was_expected() {
        for (input, needle) in [
            (
                event("not-a-security-group-event.json"),
                "CloudTrail event `RunInstances` from `ec2.amazonaws.com` is not handled",
            ),
            (
                serde_json::json!({"detail-type": "EC2 Instance State-change Notification"}),
                "detail-type `EC2 Instance State-change Notification` is not handled",
            ),
            (
                serde_json::json!({"hello": "world"}),
                "has no `detail-type`",
            ),
            (serde_json::json!([1, 2]), "not a JSON object"),
        ] {
            let e = parse(&input, None).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
            assert!(
                e.to_string().contains("AuthorizeSecurityGroupIngress"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_member_role_is_the_functions_own_in_every_account_whatever_its_path() {
        let own = OwnRoles {
            function: Some(SELF),
            member: Some("sgwarden-member"),
        };
        let by = |issuer: &str, arn: &str| {
            let mut e = event("authorize-ingress.json");
            e["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = issuer.into();
            e["detail"]["userIdentity"]["arn"] = arn.into();
            parse_own(&e, own).unwrap().ignored
        };
        for (issuer, arn) in [
            (
                "arn:aws:iam::222222222222:role/sgwarden-member",
                "arn:aws:sts::222222222222:assumed-role/sgwarden-member/run",
            ),
            (
                "arn:aws-us-gov:iam::333333333333:role/ops/sgwarden-member",
                "arn:aws-us-gov:sts::333333333333:assumed-role/sgwarden-member/run",
            ),
            (
                "",
                "arn:aws:sts::444444444444:assumed-role/sgwarden-member/x",
            ),
        ] {
            assert_eq!(by(issuer, arn), Some(Ignored::SelfRole), "{issuer} {arn}");
        }
        for (issuer, arn) in [
            (
                "arn:aws:iam::222222222222:role/sgwarden-member-admin",
                "arn:aws:sts::222222222222:assumed-role/sgwarden-member-admin/run",
            ),
            (
                "arn:aws:iam::222222222222:user/sgwarden-member",
                "arn:aws:iam::222222222222:user/sgwarden-member",
            ),
        ] {
            assert_eq!(by(issuer, arn), None, "{issuer} {arn}");
        }
    }

    #[test]
    fn a_tag_change_counts_only_for_the_groups_it_tags() {
        let mut both = event("create-tags.json");
        both["detail"]["requestParameters"]["resourcesSet"]["items"] = serde_json::json!([
            {"resourceId": "i-0e1a000000000001"},
            {"resourceId": "sg-0e1a000000000009"}
        ]);
        let t = parse(&both, Some(SELF)).unwrap();
        assert_eq!(ids(&t).0, vec!["sg-0e1a000000000009".to_string()]);
        // The rule's pattern never delivers a tag change of other resources; one that
        // arrives anyway is rejected, not taken for a sweep.
        let e = parse(&event("create-tags-instance.json"), Some(SELF)).unwrap_err();
        assert!(e.to_string().contains("names no security group"), "{e}");
    }

    #[test]
    fn an_event_naming_no_group_is_rejected() {
        let mut e = event("authorize-ingress.json");
        e["detail"]["requestParameters"] = serde_json::json!({});
        e["detail"]["responseElements"] = serde_json::json!("");
        assert!(
            parse(&e, None)
                .unwrap_err()
                .message
                .contains("names no security group")
        );
    }

    #[test]
    fn lists_arrive_in_every_shape() {
        let v = serde_json::json!({"a": {"items": [1, 2]}, "b": {"items": {"x": 1}}, "c": {}, "d": "", "e": [3]});
        assert_eq!(items(v.get("a")).len(), 2);
        assert_eq!(items(v.get("b")).len(), 1);
        assert_eq!(items(v.get("c")).len(), 0);
        assert_eq!(items(v.get("d")).len(), 0);
        assert_eq!(items(v.get("e")).len(), 1);
    }

    #[test]
    fn a_bare_cloudtrail_record_is_read_too() {
        let e = event("authorize-ingress.json");
        let t = parse(&e["detail"], None).unwrap();
        assert_eq!(ids(&t).0, vec!["sg-0e1a000000000001"]);
    }
}
