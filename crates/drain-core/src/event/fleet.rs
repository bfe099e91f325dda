//! Parsing of the instance-lifecycle events besides termination: launch lifecycle actions
//! (new instances and instances leaving or entering a warm pool), the `Origin` / `Destination`
//! of terminate actions, EC2 Spot interruption warnings and rebalance recommendations.
//!
//! The rules are the module's parent's: duplicated keys refuse the payload, required fields
//! are refused naming the field, every quoted value is bounded. Two fields are stricter here
//! than on a terminate action: a launch action's `Origin` / `Destination` (present but not one
//! of the three documented values refuses it) because they decide whether ecs-drain sets a
//! DRAINING container instance back to ACTIVE, and a Spot warning's `instance-action`, which
//! decides the drain's horizon.
//!
//! Shapes: Auto Scaling user guide, "Warm pool example events and patterns"; EC2 user guide,
//! "Spot Instance interruption notices" and "EC2 instance rebalance recommendations".

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Channel, Envelope, EventBridgeEnvelope, EventError, FieldWarning, Fields, LAUNCH_DETAIL_TYPE,
    LAUNCHING_TRANSITION, Payload, TerminateNotice, eventbridge_envelope, lifecycle_parts,
    log_warnings, parse_json, sns_records,
};
use crate::ids::{
    AsgName, Ec2InstanceId, HookName, HookRef, InvalidId, LifecycleActionRef, LifecycleToken,
    quoted,
};
use crate::time::Timestamp;

/// The EventBridge detail-type of a Spot interruption warning.
pub const SPOT_INTERRUPTION_DETAIL_TYPE: &str = "EC2 Spot Instance Interruption Warning";
/// The EventBridge detail-type of a rebalance recommendation.
pub const REBALANCE_DETAIL_TYPE: &str = "EC2 Instance Rebalance Recommendation";
/// The EventBridge source of both EC2 notices.
pub const EC2_SOURCE: &str = "aws.ec2";

/// Where an instance comes from or goes to in a lifecycle transition (`Origin` /
/// `Destination` of a lifecycle action).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Placement {
    /// Outside the group: a newly launched instance, or a terminated one.
    Ec2,
    /// In service in the group.
    AutoScalingGroup,
    /// The group's warm pool.
    WarmPool,
}

impl Placement {
    /// Reads the documented value (`EC2`, `AutoScalingGroup`, `WarmPool`).
    pub fn parse(value: &str) -> Option<Placement> {
        match value {
            "EC2" => Some(Placement::Ec2),
            "AutoScalingGroup" => Some(Placement::AutoScalingGroup),
            "WarmPool" => Some(Placement::WarmPool),
            _ => None,
        }
    }

    /// The value as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Ec2 => "EC2",
            Placement::AutoScalingGroup => "AutoScalingGroup",
            Placement::WarmPool => "WarmPool",
        }
    }
}

impl TerminateNotice {
    /// The typed `Origin` (the parser keeps only the three documented values).
    pub fn origin_placement(&self) -> Option<Placement> {
        self.origin.as_deref().and_then(Placement::parse)
    }

    /// The typed `Destination`.
    pub fn destination_placement(&self) -> Option<Placement> {
        self.destination.as_deref().and_then(Placement::parse)
    }

    /// The instance is scaled in to the warm pool (it will come back later), not terminated.
    pub fn goes_to_warm_pool(&self) -> bool {
        self.destination_placement() == Some(Placement::WarmPool)
    }
}

/// A launch lifecycle action (`autoscaling:EC2_INSTANCE_LAUNCHING`) for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchNotice {
    /// Group, hook, instance and token.
    pub action: LifecycleActionRef,
    /// When AWS sent it, if the payload says.
    pub sent_at: Option<Timestamp>,
    /// Where the instance comes from (absent in older payloads).
    pub origin: Option<Placement>,
    /// Where it goes.
    pub destination: Option<Placement>,
    /// EventBridge or SNS.
    pub channel: Channel,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
    /// The account the notice says it is for (EventBridge `account`, SNS `AccountId`).
    pub account: Option<String>,
    /// The region the notice says it is for (EventBridge `region`).
    pub region: Option<String>,
}

impl LaunchNotice {
    /// The instance leaves the warm pool to serve in the group: its container instance may be
    /// the DRAINING one ecs-drain left when it was scaled in.
    pub fn returns_from_warm_pool(&self) -> bool {
        self.origin == Some(Placement::WarmPool)
            && self.destination == Some(Placement::AutoScalingGroup)
    }

    /// The instance is launched into the warm pool (Warmed:Pending:Wait), not into service:
    /// nothing will place tasks on it yet.
    pub fn enters_warm_pool(&self) -> bool {
        self.destination == Some(Placement::WarmPool)
    }
}

/// What an interrupted Spot instance will do (`instance-action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceAction {
    /// Terminated about two minutes after the warning.
    Terminate,
    /// Stopped about two minutes after the warning.
    Stop,
    /// Hibernation begins at once: the warning comes with no lead time.
    Hibernate,
}

impl InstanceAction {
    /// Reads the documented value (`terminate`, `stop`, `hibernate`).
    pub fn parse(value: &str) -> Option<InstanceAction> {
        match value {
            "terminate" => Some(InstanceAction::Terminate),
            "stop" => Some(InstanceAction::Stop),
            "hibernate" => Some(InstanceAction::Hibernate),
            _ => None,
        }
    }

    /// The value as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceAction::Terminate => "terminate",
            InstanceAction::Stop => "stop",
            InstanceAction::Hibernate => "hibernate",
        }
    }
}

/// An `EC2 Spot Instance Interruption Warning`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpotInterruption {
    /// The instance to be interrupted.
    pub instance_id: Ec2InstanceId,
    /// What happens to it.
    pub action: InstanceAction,
    /// When EC2 sent the warning (the envelope's `time`), if readable.
    pub sent_at: Option<Timestamp>,
    /// The envelope's `account`.
    pub account: Option<String>,
    /// The envelope's `region`.
    pub region: Option<String>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// An `EC2 Instance Rebalance Recommendation`: the instance is at elevated risk of
/// interruption; no interruption is scheduled yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceRecommendation {
    /// The instance at risk.
    pub instance_id: Ec2InstanceId,
    /// When EC2 sent the recommendation, if readable.
    pub sent_at: Option<Timestamp>,
    /// The envelope's `account`.
    pub account: Option<String>,
    /// The envelope's `region`.
    pub region: Option<String>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// One instance-lifecycle input besides termination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetInput {
    /// A launch lifecycle action.
    Launch(LaunchNotice),
    /// A Spot interruption warning.
    SpotInterruption(SpotInterruption),
    /// A rebalance recommendation.
    Rebalance(RebalanceRecommendation),
    /// Not one of these (a terminate action, another event, a test notification), and why.
    Other {
        /// Why.
        reason: String,
    },
}

/// A placement field that may be absent but, when present, must be a documented value.
fn strict_placement(
    fields: &Fields<'_, '_>,
    field: &'static str,
) -> Result<Option<Placement>, EventError> {
    let Some(value) = fields.strict_optional(field)? else {
        return Ok(None);
    };
    Placement::parse(value)
        .map(Some)
        .ok_or_else(|| EventError::InvalidField {
            what: fields.what,
            field,
            source: InvalidId {
                kind: "placement",
                value: quoted(value),
                expected: "EC2, AutoScalingGroup or WarmPool",
            },
        })
}

/// The fields of a launch lifecycle action whose transition was already checked to be
/// `autoscaling:EC2_INSTANCE_LAUNCHING` (by the caller: the module's parent when it routes
/// launch actions, or [`parse_fleet_payload`]).
pub(super) fn launch_notice(
    mut fields: Fields<'_, '_>,
    envelope: Envelope,
) -> Result<LaunchNotice, EventError> {
    let action = LifecycleActionRef {
        hook: HookRef {
            asg_name: fields.id("AutoScalingGroupName", AsgName::new)?,
            hook_name: fields.id("LifecycleHookName", HookName::new)?,
        },
        instance_id: fields.id("EC2InstanceId", Ec2InstanceId::new)?,
        token: fields.id("LifecycleActionToken", LifecycleToken::new)?,
    };
    let origin = strict_placement(&fields, "Origin")?;
    let destination = strict_placement(&fields, "Destination")?;
    let account = match envelope.channel {
        Channel::Sns => fields.strict_optional("AccountId")?.map(str::to_owned),
        Channel::EventBridge => envelope.account,
    };
    let sent_at = match envelope.channel {
        Channel::Sns => fields.optional_time("Time").or(envelope.sent_at),
        Channel::EventBridge => envelope.sent_at,
    };
    Ok(LaunchNotice {
        action,
        sent_at,
        origin,
        destination,
        channel: envelope.channel,
        replay_name: envelope.replay_name,
        account,
        region: envelope.region,
    })
}

/// A lifecycle message (EventBridge detail or SNS message): a launch notice, or why not.
fn lifecycle_message(
    fields: Fields<'_, '_>,
    envelope: Envelope,
    detail_type: Option<&str>,
) -> Result<FleetInput, EventError> {
    let transition = match fields.object.get("LifecycleTransition") {
        None | Some(Value::Null) => None,
        Some(_) => Some(fields.required("LifecycleTransition")?),
    };
    let Some(transition) = transition else {
        // SNS test notifications and the group's other notifications carry `Event` instead.
        if let Some(event) = fields.strict_optional("Event")?.filter(|e| !e.is_empty()) {
            return Ok(FleetInput::Other {
                reason: format!(
                    "auto scaling notification {} is not a lifecycle action",
                    quoted(event)
                ),
            });
        }
        return Err(EventError::MissingField {
            what: fields.what,
            field: "LifecycleTransition",
        });
    };
    if let Some(detail_type) = detail_type {
        let agrees = (detail_type == LAUNCH_DETAIL_TYPE) == (transition == LAUNCHING_TRANSITION);
        if !agrees {
            return Err(EventError::Disagree {
                detail_type: quoted(detail_type),
                transition: quoted(transition),
            });
        }
    }
    if transition != LAUNCHING_TRANSITION {
        return Ok(FleetInput::Other {
            reason: format!("transition {} is not a launch", quoted(transition)),
        });
    }
    Ok(FleetInput::Launch(launch_notice(fields, envelope)?))
}

/// The EC2 notices (Spot warning, rebalance recommendation) of an EventBridge event, or
/// `None` for any other event. The module's parent calls this for events from `aws.ec2`.
pub(super) fn ec2_notice(
    event: &EventBridgeEnvelope<'_>,
    warnings: &mut Vec<FieldWarning>,
) -> Result<Option<FleetInput>, EventError> {
    if event.source != EC2_SOURCE {
        return Ok(None);
    }
    match event.detail_type {
        SPOT_INTERRUPTION_DETAIL_TYPE => {
            let fields = Fields::new("Spot interruption warning detail", event.detail, warnings)?;
            let instance_id = fields.id("instance-id", Ec2InstanceId::new)?;
            let action_text = fields.required("instance-action")?;
            let action =
                InstanceAction::parse(action_text).ok_or_else(|| EventError::InvalidField {
                    what: fields.what,
                    field: "instance-action",
                    source: InvalidId {
                        kind: "instance action",
                        value: quoted(action_text),
                        expected: "terminate, stop or hibernate",
                    },
                })?;
            Ok(Some(FleetInput::SpotInterruption(SpotInterruption {
                instance_id,
                action,
                sent_at: event.time,
                account: event.account.clone(),
                region: event.region.clone(),
                replay_name: event.replay_name.clone(),
            })))
        }
        REBALANCE_DETAIL_TYPE => {
            let fields = Fields::new("rebalance recommendation detail", event.detail, warnings)?;
            let instance_id = fields.id("instance-id", Ec2InstanceId::new)?;
            Ok(Some(FleetInput::Rebalance(RebalanceRecommendation {
                instance_id,
                sent_at: event.time,
                account: event.account.clone(),
                region: event.region.clone(),
                replay_name: event.replay_name.clone(),
            })))
        }
        _ => Ok(None),
    }
}

/// Parses a payload for the instance-lifecycle inputs besides termination (an EventBridge
/// launch action, Spot warning or rebalance recommendation, or an SNS event carrying launch
/// messages, one input per record) and logs a warning per malformed optional field. Anything
/// else that is well formed is [`FleetInput::Other`] with the reason.
pub fn parse_fleet_payload<P: Payload + ?Sized>(
    payload: &P,
) -> Result<Vec<FleetInput>, EventError> {
    let (inputs, warnings) = parse_fleet_payload_with_warnings(payload)?;
    log_warnings(&warnings);
    Ok(inputs)
}

/// [`parse_fleet_payload`], returning the warnings instead of logging them.
pub fn parse_fleet_payload_with_warnings<P: Payload + ?Sized>(
    payload: &P,
) -> Result<(Vec<FleetInput>, Vec<FieldWarning>), EventError> {
    let value = parse_json("the payload", &payload.json_text())?;
    let mut warnings = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(EventError::UnknownShape(
            "the payload is not a JSON object".into(),
        ));
    };
    if let Some(records) = object.get("Records") {
        let mut inputs = Vec::new();
        for record in sns_records(records)? {
            let sns = record.get("Sns").unwrap_or(&Value::Null);
            let mut envelope = Fields::new("SNS record", sns, &mut warnings)?;
            let message_text = envelope.required("Message")?;
            let sent_at = envelope.optional_time("Timestamp");
            let message = parse_json("SNS lifecycle message", message_text)?;
            let fields = Fields::new("SNS lifecycle message", &message, &mut warnings)?;
            let envelope = Envelope {
                channel: Channel::Sns,
                sent_at,
                replay_name: None,
                account: None,
                region: None,
            };
            inputs.push(lifecycle_message(fields, envelope, None)?);
        }
        return Ok((inputs, warnings));
    }
    if !object.contains_key("detail-type") {
        return Err(EventError::UnknownShape(
            "neither an EventBridge event nor an SNS event".into(),
        ));
    }
    let event = eventbridge_envelope(&value, &mut warnings)?;
    if let Some(input) = ec2_notice(&event, &mut warnings)? {
        return Ok((vec![input], warnings));
    }
    let Some((envelope, detail_type, detail)) = lifecycle_parts(&event) else {
        let reason = format!(
            "EventBridge event {} from {} is not a launch action or an EC2 notice",
            quoted(event.detail_type),
            quoted(event.source)
        );
        return Ok((vec![FleetInput::Other { reason }], warnings));
    };
    let fields = Fields::new("lifecycle action detail", detail, &mut warnings)?;
    let input = lifecycle_message(fields, envelope, Some(detail_type))?;
    Ok((vec![input], warnings))
}

#[cfg(test)]
mod tests;
