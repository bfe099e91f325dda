//! Parsing at the edge: the payloads AWS delivers to the two functions, turned into typed
//! notices. One rule for every channel (EventBridge, SNS, scheduled checks):
//!
//! - the payload is read raw and a duplicated key anywhere refuses it (a parsed
//!   `serde_json::Value` would silently keep the last value);
//! - required fields are refused when absent or mistyped, naming the field; optional envelope
//!   fields that are malformed are ignored with a warning naming the field;
//! - unknown fields are ignored (AWS adds fields), unknown shapes are refused with a reason,
//!   and every value quoted in a reason is bounded ([`crate::ids::quoted`]), never a panic.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::warn;

use crate::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef, InvalidId,
    LifecycleActionRef, LifecycleToken, TaskArn, quoted,
};
use crate::time::Timestamp;

pub mod fleet;
pub mod launch;

/// The EventBridge detail-type of a terminate lifecycle action.
pub const TERMINATE_DETAIL_TYPE: &str = "EC2 Instance-terminate Lifecycle Action";
/// The EventBridge detail-type of a launch lifecycle action.
pub const LAUNCH_DETAIL_TYPE: &str = "EC2 Instance-launch Lifecycle Action";
/// The EventBridge detail-type of ECS task state changes.
pub const TASK_STATE_CHANGE_DETAIL_TYPE: &str = "ECS Task State Change";
/// EventBridge `detail-type` of ECS container instance state changes (a task placed or
/// stopped changes the instance's resources and task counts).
pub const INSTANCE_STATE_CHANGE_DETAIL_TYPE: &str = "ECS Container Instance State Change";
/// The terminating transition.
pub const TERMINATING_TRANSITION: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// The launching transition.
pub const LAUNCHING_TRANSITION: &str = "autoscaling:EC2_INSTANCE_LAUNCHING";
/// The top-level key of the scheduled check payload ecs-drain sends itself via EventBridge
/// Scheduler.
pub const CHECK_KEY: &str = "ecsDrainCheck";

/// How many characters of free text (a stopped reason, a task group) a parsed event keeps.
const TEXT_LIMIT: usize = 1024;

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON of any shape we know.
    #[error("unrecognised event shape: {0}")]
    UnknownShape(String),
    /// Not JSON, or JSON with a duplicated key.
    #[error("{what} is not valid JSON")]
    InvalidJson {
        /// Which payload.
        what: &'static str,
        /// The parser's error (position and, for a duplicate, the bounded key).
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent, null or empty.
    #[error("{what} lacks {field}")]
    MissingField {
        /// Which payload.
        what: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// A required field holds the wrong JSON type.
    #[error("{what} field {field} is not {expected}")]
    WrongType {
        /// Which payload.
        what: &'static str,
        /// Which field.
        field: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// A field holds something that is not a valid identifier.
    #[error("{what} field {field} holds an {source}")]
    InvalidField {
        /// Which payload.
        what: &'static str,
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        #[source]
        source: InvalidId,
    },
    /// The event's type and its lifecycle transition say different things.
    #[error("detail-type {detail_type} does not match LifecycleTransition {transition}")]
    Disagree {
        /// The detail-type (quoted, bounded).
        detail_type: String,
        /// The transition (quoted, bounded).
        transition: String,
    },
    /// An SNS event with no records.
    #[error("SNS event has no records")]
    EmptyRecords,
}

/// An optional field that was malformed and so ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldWarning {
    /// Which payload.
    pub what: &'static str,
    /// Which field.
    pub field: &'static str,
    /// What was wrong.
    pub problem: &'static str,
}

/// A payload as the Lambda runtime hands it over: raw JSON text (the binaries take
/// `Box<RawValue>` so duplicated keys can still be seen), or an already parsed value (tests
/// and tools; duplicates are already lost there).
pub trait Payload {
    /// The JSON text.
    fn json_text(&self) -> Cow<'_, str>;
}

impl Payload for str {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Payload for String {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Payload for serde_json::value::RawValue {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.get())
    }
}

impl Payload for Value {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// A JSON value read with duplicate keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    quoted(&key)
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses JSON text, refusing a duplicated key at any depth (serde_json's recursion limit
/// refuses absurd nesting).
pub fn parse_json(what: &'static str, text: &str) -> Result<Value, EventError> {
    serde_json::from_str::<Strict>(text)
        .map(|Strict(value)| value)
        .map_err(|source| EventError::InvalidJson { what, source })
}

/// How the notice arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    /// An EventBridge rule.
    EventBridge,
    /// An SNS topic (the hook's notification target).
    Sns,
}

/// A terminate lifecycle action for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminateNotice {
    /// Group, hook, instance and token.
    pub action: LifecycleActionRef,
    /// When AWS sent it, if the payload says.
    pub sent_at: Option<Timestamp>,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub origin: Option<String>,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub destination: Option<String>,
    /// EventBridge or SNS.
    pub channel: Channel,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
    /// The account the notice says it is for (EventBridge `account`, SNS `AccountId`).
    pub account: Option<String>,
    /// The region the notice says it is for (EventBridge `region`).
    pub region: Option<String>,
}

/// A scheduled check of one drain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRequest {
    /// The drain to check.
    pub container_instance_arn: ContainerInstanceArn,
}

/// What the lifecycle function was given.
// A handful of inputs per invocation, moved once: boxing the notice would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleInput {
    /// Drain this instance.
    Terminate(TerminateNotice),
    /// Look at this drain again.
    Check(CheckRequest),
    /// An EC2 Spot Instance Interruption Warning: drain ahead of any lifecycle action.
    SpotWarning(fleet::SpotInterruption),
    /// An EC2 Instance Rebalance Recommendation (drained only when enabled).
    Rebalance(fleet::RebalanceRecommendation),
    /// A launch lifecycle action (launch readiness and warm-pool returns).
    Launch(fleet::LaunchNotice),
    /// A container instance changed: look at its EC2 instance's pending launch, if any.
    InstanceJoined(launch::ContainerInstanceChange),
    /// Look at this EC2 instance's pending launch again.
    LaunchCheck(Ec2InstanceId),
    /// Nothing to do, and why (test notification, another transition, another event).
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Reads the fields of one JSON object by the one rule, collecting warnings.
struct Fields<'a, 'w> {
    what: &'static str,
    object: &'a Map<String, Value>,
    warnings: &'w mut Vec<FieldWarning>,
}

impl<'a, 'w> Fields<'a, 'w> {
    fn new(
        what: &'static str,
        value: &'a Value,
        warnings: &'w mut Vec<FieldWarning>,
    ) -> Result<Fields<'a, 'w>, EventError> {
        match value.as_object() {
            Some(object) => Ok(Fields {
                what,
                object,
                warnings,
            }),
            None => Err(EventError::UnknownShape(format!(
                "{what} is not a JSON object"
            ))),
        }
    }

    /// A required string: absent, null or empty is missing; another type is refused.
    fn required(&self, field: &'static str) -> Result<&'a str, EventError> {
        match self.object.get(field) {
            None | Some(Value::Null) => Err(EventError::MissingField {
                what: self.what,
                field,
            }),
            Some(Value::String(text)) if text.is_empty() => Err(EventError::MissingField {
                what: self.what,
                field,
            }),
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(EventError::WrongType {
                what: self.what,
                field,
                expected: "a string",
            }),
        }
    }

    /// A string that may be absent, but that is refused when present with another type: the
    /// fields a verification depends on (account, region).
    fn strict_optional(&self, field: &'static str) -> Result<Option<&'a str>, EventError> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(EventError::WrongType {
                what: self.what,
                field,
                expected: "a string",
            }),
        }
    }

    /// An optional string: another type is ignored with a warning.
    fn optional(&mut self, field: &'static str) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                self.warn(field, "not a string");
                None
            }
        }
    }

    /// An optional RFC 3339 time: unreadable is ignored with a warning.
    fn optional_time(&mut self, field: &'static str) -> Option<Timestamp> {
        let text = self.optional(field)?;
        let parsed = Timestamp::parse_rfc3339(text);
        if parsed.is_none() {
            self.warn(field, "not an RFC 3339 time");
        }
        parsed
    }

    /// An optional field of any JSON type but this one.
    fn optional_kind(
        &mut self,
        field: &'static str,
        fits: fn(&Value) -> bool,
        problem: &'static str,
    ) {
        if let Some(value) = self.object.get(field)
            && !value.is_null()
            && !fits(value)
        {
            self.warn(field, problem);
        }
    }

    /// A required identifier, refused naming the field when invalid.
    fn id<T>(
        &self,
        field: &'static str,
        make: fn(String) -> Result<T, InvalidId>,
    ) -> Result<T, EventError> {
        make(self.required(field)?.to_owned()).map_err(|source| EventError::InvalidField {
            what: self.what,
            field,
            source,
        })
    }

    fn warn(&mut self, field: &'static str, problem: &'static str) {
        self.warnings.push(FieldWarning {
            what: self.what,
            field,
            problem,
        });
    }
}

/// `Origin` / `Destination`: EC2, AutoScalingGroup or WarmPool; anything else is dropped.
fn placement(fields: &mut Fields<'_, '_>, field: &'static str) -> Option<String> {
    let value = fields.optional(field)?;
    if matches!(value, "EC2" | "AutoScalingGroup" | "WarmPool") {
        Some(value.to_owned())
    } else {
        fields.warn(field, "not EC2, AutoScalingGroup or WarmPool");
        None
    }
}

/// The envelope facts a lifecycle notice carries besides its detail.
struct Envelope {
    channel: Channel,
    sent_at: Option<Timestamp>,
    replay_name: Option<String>,
    account: Option<String>,
    region: Option<String>,
}

/// Lifecycle fields, shared by the EventBridge detail and the SNS message.
fn lifecycle_input(
    mut fields: Fields<'_, '_>,
    envelope: Envelope,
    detail_type: Option<&str>,
) -> Result<LifecycleInput, EventError> {
    let transition = match fields.object.get("LifecycleTransition") {
        None | Some(Value::Null) => None,
        Some(_) => Some(fields.required("LifecycleTransition")?),
    };
    // SNS carries test notifications and the group's other notifications in the same topic.
    if transition.is_none()
        && let Some(event) = fields.optional("Event").filter(|event| !event.is_empty())
    {
        return Ok(LifecycleInput::Ignored {
            reason: format!(
                "auto scaling notification {} is not a lifecycle action",
                quoted(event)
            ),
        });
    }
    let transition = transition.ok_or(EventError::MissingField {
        what: fields.what,
        field: "LifecycleTransition",
    })?;
    let expected = match detail_type {
        Some(TERMINATE_DETAIL_TYPE) => Some(TERMINATING_TRANSITION),
        Some(_) => Some(LAUNCHING_TRANSITION),
        None => None,
    };
    if let (Some(expected), Some(detail_type)) = (expected, detail_type)
        && transition != expected
    {
        return Err(EventError::Disagree {
            detail_type: quoted(detail_type),
            transition: quoted(transition),
        });
    }
    if transition == LAUNCHING_TRANSITION {
        return Ok(LifecycleInput::Launch(fleet::launch_notice(
            fields, envelope,
        )?));
    }
    if transition != TERMINATING_TRANSITION {
        return Ok(LifecycleInput::Ignored {
            reason: format!("transition {} is not a termination", quoted(transition)),
        });
    }
    let action = LifecycleActionRef {
        hook: HookRef {
            asg_name: fields.id("AutoScalingGroupName", AsgName::new)?,
            hook_name: fields.id("LifecycleHookName", HookName::new)?,
        },
        instance_id: fields.id("EC2InstanceId", Ec2InstanceId::new)?,
        token: fields.id("LifecycleActionToken", LifecycleToken::new)?,
    };
    let origin = placement(&mut fields, "Origin");
    let destination = placement(&mut fields, "Destination");
    let account = match envelope.channel {
        Channel::Sns => fields.strict_optional("AccountId")?.map(str::to_owned),
        Channel::EventBridge => envelope.account,
    };
    let sent_at = match envelope.channel {
        Channel::Sns => fields.optional_time("Time").or(envelope.sent_at),
        Channel::EventBridge => envelope.sent_at,
    };
    Ok(LifecycleInput::Terminate(TerminateNotice {
        action,
        sent_at,
        origin,
        destination,
        channel: envelope.channel,
        replay_name: envelope.replay_name,
        account,
        region: envelope.region,
    }))
}

/// The EventBridge envelope: `source`, `detail-type` and `detail` required, the rest optional.
struct EventBridgeEnvelope<'a> {
    source: &'a str,
    detail_type: &'a str,
    detail: &'a Value,
    time: Option<Timestamp>,
    account: Option<String>,
    region: Option<String>,
    replay_name: Option<String>,
}

fn eventbridge_envelope<'a>(
    value: &'a Value,
    warnings: &mut Vec<FieldWarning>,
) -> Result<EventBridgeEnvelope<'a>, EventError> {
    let mut fields = Fields::new("EventBridge event", value, warnings)?;
    let source = fields.required("source")?;
    let detail_type = fields.required("detail-type")?;
    let detail = match fields.object.get("detail") {
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                what: fields.what,
                field: "detail",
            });
        }
        Some(detail) if detail.is_object() => detail,
        Some(_) => {
            return Err(EventError::WrongType {
                what: fields.what,
                field: "detail",
                expected: "an object",
            });
        }
    };
    let time = fields.optional_time("time");
    fields.optional_kind("id", Value::is_string, "not a string");
    fields.optional_kind("version", Value::is_string, "not a string");
    fields.optional_kind(
        "resources",
        |value| {
            value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        },
        "not a list of strings",
    );
    let account = fields.strict_optional("account")?.map(str::to_owned);
    let region = fields.strict_optional("region")?.map(str::to_owned);
    // A malformed replay-name still marks a replay: dropping it would turn a dry run live.
    let replay_name = match fields.object.get("replay-name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.chars().take(64).collect()),
        Some(_) => {
            fields.warn("replay-name", "not a string (still handled as a replay)");
            Some("<malformed replay-name>".to_owned())
        }
    };
    Ok(EventBridgeEnvelope {
        source,
        detail_type,
        detail,
        time,
        account,
        region,
        replay_name,
    })
}

/// The envelope, detail-type and detail of an EventBridge lifecycle action (terminate or
/// launch, from Auto Scaling), or None for any other event.
fn lifecycle_parts<'a>(event: &EventBridgeEnvelope<'a>) -> Option<(Envelope, &'a str, &'a Value)> {
    let lifecycle = event.source == "aws.autoscaling"
        && matches!(
            event.detail_type,
            TERMINATE_DETAIL_TYPE | LAUNCH_DETAIL_TYPE
        );
    lifecycle.then(|| {
        let envelope = Envelope {
            channel: Channel::EventBridge,
            sent_at: event.time,
            replay_name: event.replay_name.clone(),
            account: event.account.clone(),
            region: event.region.clone(),
        };
        (envelope, event.detail_type, event.detail)
    })
}

fn sns_records(records: &Value) -> Result<Vec<&Value>, EventError> {
    let Some(records) = records.as_array() else {
        return Err(EventError::UnknownShape("Records is not a list".into()));
    };
    if records.is_empty() {
        return Err(EventError::EmptyRecords);
    }
    let is_sns = |record: &Value| {
        record.get("EventSource").and_then(Value::as_str) == Some("aws:sns")
            && record.get("Sns").is_some_and(Value::is_object)
    };
    if !records.iter().all(is_sns) {
        return Err(EventError::UnknownShape(
            "Records hold something other than SNS records".into(),
        ));
    }
    Ok(records.iter().collect())
}

fn sns_lifecycle_input(
    record: &Value,
    warnings: &mut Vec<FieldWarning>,
) -> Result<LifecycleInput, EventError> {
    let sns = record.get("Sns").unwrap_or(&Value::Null);
    let mut envelope = Fields::new("SNS record", sns, warnings)?;
    let message_text = envelope.required("Message")?;
    let sent_at = envelope.optional_time("Timestamp");
    let message = parse_json("SNS lifecycle message", message_text)?;
    let fields = Fields::new("SNS lifecycle message", &message, warnings)?;
    lifecycle_input(
        fields,
        Envelope {
            channel: Channel::Sns,
            sent_at,
            replay_name: None,
            account: None,
            region: None,
        },
        None,
    )
}

fn check_request(
    check: &Value,
    warnings: &mut Vec<FieldWarning>,
) -> Result<LifecycleInput, EventError> {
    let fields = Fields::new("scheduled check", check, warnings)?;
    let container_instance_arn = fields.id("containerInstanceArn", ContainerInstanceArn::new)?;
    Ok(LifecycleInput::Check(CheckRequest {
        container_instance_arn,
    }))
}

fn log_warnings(warnings: &[FieldWarning]) {
    for warning in warnings {
        warn!(
            payload = warning.what,
            field = warning.field,
            problem = warning.problem,
            "malformed optional field ignored"
        );
    }
}

/// Parses whatever the lifecycle function was invoked with (an EventBridge lifecycle event,
/// an SNS event carrying lifecycle messages, one input per record, or a scheduled check) and
/// logs a warning per malformed optional field.
pub fn parse_lifecycle_payload<P: Payload + ?Sized>(
    payload: &P,
) -> Result<Vec<LifecycleInput>, EventError> {
    let (inputs, warnings) = parse_lifecycle_payload_with_warnings(payload)?;
    log_warnings(&warnings);
    Ok(inputs)
}

/// [`parse_lifecycle_payload`], returning the warnings instead of logging them.
pub fn parse_lifecycle_payload_with_warnings<P: Payload + ?Sized>(
    payload: &P,
) -> Result<(Vec<LifecycleInput>, Vec<FieldWarning>), EventError> {
    let value = parse_json("the payload", &payload.json_text())?;
    let mut warnings = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(EventError::UnknownShape(
            "the payload is not a JSON object".into(),
        ));
    };
    if let Some(check) = object.get(CHECK_KEY) {
        return Ok((vec![check_request(check, &mut warnings)?], warnings));
    }
    if let Some(check) = object.get(launch::LAUNCH_CHECK_KEY) {
        let instance = launch::launch_check(check, &mut warnings)?;
        return Ok((vec![LifecycleInput::LaunchCheck(instance)], warnings));
    }
    if let Some(records) = object.get("Records") {
        let inputs = sns_records(records)?
            .into_iter()
            .map(|record| sns_lifecycle_input(record, &mut warnings))
            .collect::<Result<_, _>>()?;
        return Ok((inputs, warnings));
    }
    if object.contains_key("detail-type") {
        let event = eventbridge_envelope(&value, &mut warnings)?;
        let early = match fleet::ec2_notice(&event, &mut warnings)? {
            Some(fleet::FleetInput::SpotInterruption(warning)) => {
                Some(LifecycleInput::SpotWarning(warning))
            }
            Some(fleet::FleetInput::Rebalance(recommendation)) => {
                Some(LifecycleInput::Rebalance(recommendation))
            }
            Some(_) | None => None,
        };
        if let Some(early) = early {
            return Ok((vec![early], warnings));
        }
        if event.source == "aws.ecs" && event.detail_type == INSTANCE_STATE_CHANGE_DETAIL_TYPE {
            let replay_name = event.replay_name;
            let change =
                launch::container_instance_change(event.detail, replay_name, &mut warnings)?;
            return Ok((vec![LifecycleInput::InstanceJoined(change)], warnings));
        }
        let Some((envelope, detail_type, detail)) = lifecycle_parts(&event) else {
            let reason = format!(
                "EventBridge event {} from {} is not a lifecycle action",
                quoted(event.detail_type),
                quoted(event.source)
            );
            return Ok((vec![LifecycleInput::Ignored { reason }], warnings));
        };
        let fields = Fields::new("lifecycle action detail", detail, &mut warnings)?;
        let input = lifecycle_input(fields, envelope, Some(detail_type))?;
        return Ok((vec![input], warnings));
    }
    Err(EventError::UnknownShape(
        "neither an EventBridge event, an SNS event nor a scheduled check".into(),
    ))
}

/// An ECS task state change on an EC2 container instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStateChange {
    /// The cluster.
    pub cluster_arn: ClusterArn,
    /// The instance the task ran on.
    pub container_instance_arn: ContainerInstanceArn,
    /// The task.
    pub task_arn: TaskArn,
    /// The task's lastStatus.
    pub last_status: String,
    /// The task's desiredStatus.
    pub desired_status: Option<String>,
    /// `service:<name>` or `family:<name>`.
    pub group: Option<String>,
    /// Why it stopped.
    pub stopped_reason: Option<String>,
    /// `detail.version`: grows with each change; duplicates repeat it.
    pub version: Option<u64>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// An EventBridge "ECS Container Instance State Change" of a DRAINING instance: what
/// on-task-stopped takes as a second, independent prompt to look at a drain (its `detail` is
/// the ContainerInstance object of DescribeContainerInstances).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStateChange {
    /// The cluster.
    pub cluster_arn: ClusterArn,
    /// The container instance.
    pub container_instance_arn: ContainerInstanceArn,
    /// `runningTasksCount` + `pendingTasksCount`, when the event carries both.
    pub tasks: Option<u32>,
    /// `detail.version`.
    pub version: Option<u64>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// What the task function was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskInput {
    /// A task stopped on a container instance.
    Stopped(TaskStateChange),
    /// A DRAINING container instance changed (its tasks or resources).
    InstanceChanged(InstanceStateChange),
    /// Nothing to do, and why.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Reads the `detail` of a container instance state change. Only a DRAINING instance can be one
/// ecs-drain drains (the rule routes no other); any other status is acknowledged and ignored.
fn instance_state_change(
    detail: &Value,
    replay_name: Option<String>,
    warnings: &mut Vec<FieldWarning>,
) -> Result<TaskInput, EventError> {
    let mut fields = Fields::new("ECS container instance state change", detail, warnings)?;
    let status = fields.required("status")?;
    if status != "DRAINING" {
        return Ok(TaskInput::Ignored {
            reason: format!(
                "container instance status is {}, not DRAINING",
                quoted(status)
            ),
        });
    }
    let count = |fields: &mut Fields<'_, '_>, field: &'static str| match fields.object.get(field) {
        None | Some(Value::Null) => None,
        Some(value) => {
            let count = value.as_u64().and_then(|n| u32::try_from(n).ok());
            if count.is_none() {
                fields.warn(field, "not a whole number");
            }
            count
        }
    };
    let running = count(&mut fields, "runningTasksCount");
    let pending = count(&mut fields, "pendingTasksCount");
    let version = count(&mut fields, "version").map(u64::from);
    Ok(TaskInput::InstanceChanged(InstanceStateChange {
        cluster_arn: fields.id("clusterArn", ClusterArn::new)?,
        container_instance_arn: fields.id("containerInstanceArn", ContainerInstanceArn::new)?,
        tasks: running.zip(pending).map(|(r, p)| r.saturating_add(p)),
        version,
        replay_name,
    }))
}

fn bounded_text(text: Option<&str>) -> Option<String> {
    text.map(|text| text.chars().take(TEXT_LIMIT).collect())
}

/// Parses an EventBridge "ECS Task State Change" event, or an "ECS Container Instance State
/// Change" of a DRAINING instance (any other EventBridge event is acknowledged and ignored), and
/// logs a warning per malformed optional field.
pub fn parse_task_payload<P: Payload + ?Sized>(payload: &P) -> Result<TaskInput, EventError> {
    let (input, warnings) = parse_task_payload_with_warnings(payload)?;
    log_warnings(&warnings);
    Ok(input)
}

/// [`parse_task_payload`], returning the warnings instead of logging them.
pub fn parse_task_payload_with_warnings<P: Payload + ?Sized>(
    payload: &P,
) -> Result<(TaskInput, Vec<FieldWarning>), EventError> {
    const WHAT: &str = "ECS task state change";
    let value = parse_json("the payload", &payload.json_text())?;
    let mut warnings = Vec::new();
    if !value.is_object() || value.get("detail-type").is_none() {
        return Err(EventError::UnknownShape("not an EventBridge event".into()));
    }
    let event = eventbridge_envelope(&value, &mut warnings)?;
    if event.source == "aws.ecs" && event.detail_type == INSTANCE_STATE_CHANGE_DETAIL_TYPE {
        let replay_name = event.replay_name;
        let input = instance_state_change(event.detail, replay_name, &mut warnings)?;
        return Ok((input, warnings));
    }
    if event.source != "aws.ecs" || event.detail_type != TASK_STATE_CHANGE_DETAIL_TYPE {
        let reason = format!(
            "EventBridge event {} from {} is not an ECS task state change",
            quoted(event.detail_type),
            quoted(event.source)
        );
        return Ok((TaskInput::Ignored { reason }, warnings));
    }
    let replay_name = event.replay_name;
    let mut fields = Fields::new(WHAT, event.detail, &mut warnings)?;
    let last_status = fields.required("lastStatus")?;
    if last_status != "STOPPED" {
        return Ok((
            TaskInput::Ignored {
                reason: format!("task lastStatus is {}, not STOPPED", quoted(last_status)),
            },
            warnings,
        ));
    }
    if fields
        .strict_optional("containerInstanceArn")?
        .is_none_or(str::is_empty)
    {
        return Ok((
            TaskInput::Ignored {
                reason: "task ran on no container instance (Fargate)".into(),
            },
            warnings,
        ));
    }
    let change = TaskStateChange {
        cluster_arn: fields.id("clusterArn", ClusterArn::new)?,
        container_instance_arn: fields.id("containerInstanceArn", ContainerInstanceArn::new)?,
        task_arn: fields.id("taskArn", TaskArn::new)?,
        last_status: last_status.to_owned(),
        desired_status: bounded_text(fields.optional("desiredStatus")),
        group: bounded_text(fields.optional("group")),
        stopped_reason: bounded_text(fields.optional("stoppedReason")),
        version: match fields.object.get("version") {
            None | Some(Value::Null) => None,
            Some(version) => {
                let number = version.as_u64();
                if number.is_none() {
                    fields.warn("version", "not a whole number");
                }
                number
            }
        },
        replay_name,
    };
    Ok((TaskInput::Stopped(change), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("parse {path}: {error}"))
    }

    fn terminate(inputs: Vec<LifecycleInput>) -> TerminateNotice {
        match inputs.as_slice() {
            [LifecycleInput::Terminate(notice)] => notice.clone(),
            other => panic!("expected one terminate notice, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_eventbridge_terminate_action() {
        let notice = terminate(
            parse_lifecycle_payload(&fixture("lifecycle-terminate-eventbridge.json"))
                .expect("parses"),
        );
        assert_eq!(notice.action.instance_id.as_str(), "i-0598c7d356eba48d7");
        assert_eq!(notice.action.hook.asg_name.as_str(), "prod-ecs-asg");
        assert_eq!(notice.action.hook.hook_name.as_str(), "ecs-drain-terminate");
        assert_eq!(
            notice.action.token.expose(),
            "630aa23f-48eb-45e7-aba6-799ea6093a0f"
        );
        assert_eq!(
            notice.sent_at,
            Timestamp::parse_rfc3339("2026-11-02T18:43:48Z")
        );
        assert_eq!(notice.channel, Channel::EventBridge);
        assert_eq!(notice.replay_name, None);
        assert_eq!(notice.destination.as_deref(), Some("EC2"));
    }

    #[test]
    fn reads_the_same_action_wrapped_in_sns() {
        let notice = terminate(
            parse_lifecycle_payload(&fixture("lifecycle-terminate-sns.json")).expect("parses"),
        );
        assert_eq!(notice.action.instance_id.as_str(), "i-0598c7d356eba48d7");
        assert_eq!(
            notice.action.token.expose(),
            "71514b9d-6a40-4b26-8523-05e7ee35fa40"
        );
        assert_eq!(notice.channel, Channel::Sns);
        assert_eq!(
            notice.sent_at,
            Timestamp::parse_rfc3339("2026-11-02T18:43:48Z")
        );
    }

    #[test]
    fn notes_the_replay_name_of_a_replayed_event() {
        let notice = terminate(
            parse_lifecycle_payload(&fixture("lifecycle-terminate-eventbridge-replayed.json"))
                .expect("parses"),
        );
        assert_eq!(
            notice.replay_name.as_deref(),
            Some("debug-drain-2026-11-03")
        );
    }

    #[test]
    fn ignores_the_test_notification_and_reads_launch_actions_as_launches() {
        let inputs = parse_lifecycle_payload(&fixture("lifecycle-test-notification-sns.json"))
            .expect("parses");
        assert!(matches!(
            inputs.as_slice(),
            [LifecycleInput::Ignored { reason }] if reason.contains("TEST_NOTIFICATION")
        ));
        let inputs =
            parse_lifecycle_payload(&fixture("lifecycle-launch-eventbridge.json")).expect("parses");
        // Which launch hook ecs-drain serves is decided after parsing (drainer::launch).
        assert!(matches!(
            inputs.as_slice(),
            [LifecycleInput::Launch(notice)] if notice.action.hook.hook_name.as_str() == "warm-up-hook"
        ));
    }

    #[test]
    fn reads_a_scheduled_check() {
        let payload = serde_json::json!({ "ecsDrainCheck": {
            "containerInstanceArn":
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/3f1e"
        } });
        let inputs = parse_lifecycle_payload(&payload).expect("parses");
        assert!(matches!(inputs.as_slice(), [LifecycleInput::Check(_)]));
    }

    #[test]
    fn refuses_unknown_and_malformed_payloads_with_a_reason() {
        for payload in [
            serde_json::json!([1, 2]),
            serde_json::json!("text"),
            serde_json::json!({"hello": "world"}),
            serde_json::json!({"Records": "nope"}),
            serde_json::json!({"Records": []}),
            serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
            serde_json::json!({"ecsDrainCheck": {"containerInstanceArn": "i-123"}}),
        ] {
            let error = parse_lifecycle_payload(&payload).expect_err("must be refused");
            assert!(!error.to_string().is_empty());
        }
        let mut missing_token = fixture("lifecycle-terminate-eventbridge.json");
        missing_token["detail"]
            .as_object_mut()
            .expect("object")
            .remove("LifecycleActionToken");
        let error = parse_lifecycle_payload(&missing_token).expect_err("must be refused");
        assert_eq!(
            error.to_string(),
            "lifecycle action detail lacks LifecycleActionToken"
        );
        let mut bad_instance = fixture("lifecycle-terminate-eventbridge.json");
        bad_instance["detail"]["EC2InstanceId"] = Value::from("not-an-instance");
        let error = parse_lifecycle_payload(&bad_instance).expect_err("must be refused");
        assert!(
            matches!(
                error,
                EventError::InvalidField {
                    field: "EC2InstanceId",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn reads_stopped_tasks_of_every_kind() {
        for (name, group) in [
            ("ecs-task-stopped-service.json", "service:web"),
            ("ecs-task-stopped-daemon.json", "service:log-router"),
            ("ecs-task-stopped-standalone.json", "family:nightly-report"),
        ] {
            let TaskInput::Stopped(change) = parse_task_payload(&fixture(name)).expect("parses")
            else {
                panic!("{name} should be a stopped task");
            };
            assert_eq!(change.group.as_deref(), Some(group));
            assert_eq!(change.cluster_arn.name(), "prod-cluster");
            assert!(
                change
                    .container_instance_arn
                    .as_str()
                    .ends_with("/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b")
            );
            assert_eq!(change.version, Some(5));
        }
    }

    #[test]
    fn ignores_tasks_that_have_not_stopped_yet() {
        for name in [
            "ecs-task-running-service.json",
            "ecs-task-deactivating-service.json",
        ] {
            assert!(
                matches!(
                    parse_task_payload(&fixture(name)),
                    Ok(TaskInput::Ignored { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn ignores_fargate_tasks_and_refuses_other_events() {
        let mut fargate = fixture("ecs-task-stopped-service.json");
        fargate["detail"]
            .as_object_mut()
            .expect("object")
            .remove("containerInstanceArn");
        assert!(matches!(
            parse_task_payload(&fargate),
            Ok(TaskInput::Ignored { .. })
        ));
        assert!(matches!(
            parse_task_payload(&fixture("lifecycle-terminate-eventbridge.json")),
            Ok(TaskInput::Ignored { .. })
        ));
        assert!(parse_task_payload(&serde_json::json!({"x": 1})).is_err());
    }
}
