//! infra/template.yaml deployed into the emulator (by `tests/emulator/ecs_drain_moto/stack.py`,
//! the same code the infra tests deploy with), so that a test runs the functions with the
//! stack's own table, settings and execution roles — what is deployed is what is tested.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::{Emulator, KitError, project_root};

/// One function of the deployed stack.
#[derive(Clone, Debug)]
pub struct StackFunction {
    /// The function name CloudFormation gave it.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its execution role's ARN.
    pub role_arn: String,
    /// Its environment variables, as the template sets them.
    pub environment: Vec<(String, String)>,
}

impl StackFunction {
    /// The execution role's name (the last segment of its ARN).
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or_default()
    }

    /// The value of one of its environment variables.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A deployed stack.
#[derive(Clone, Debug)]
pub struct Stack {
    /// The stack name.
    pub name: String,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
    /// Physical ids by logical id.
    pub resources: BTreeMap<String, String>,
    /// The functions by logical id (`OnLifecycleFunction`, `OnTaskStoppedFunction`).
    pub functions: BTreeMap<String, StackFunction>,
}

/// What to deploy.
#[derive(Clone, Debug, Default)]
pub struct StackSpec {
    /// Template parameters.
    pub parameters: Vec<(String, String)>,
    /// Grants to leave out, as (role logical id, IAM action): the template is deployed with that
    /// action removed from the role's policies, to prove a test notices a missing permission.
    pub without_grants: Vec<(String, String)>,
}

impl StackSpec {
    /// The parameters that point the stack at one cluster, one group and one hook.
    pub fn for_names(cluster: &str, group: &str, hook: &str) -> StackSpec {
        StackSpec {
            parameters: vec![
                ("ClusterNames".into(), cluster.into()),
                ("AutoScalingGroupNames".into(), group.into()),
                ("HookName".into(), hook.into()),
                // The test builds the hook itself (moto has no CloudFormation model for it).
                ("CreateLifecycleHooks".into(), "false".into()),
            ],
            without_grants: Vec::new(),
        }
    }

    /// The same, with template parameter `key` set to `value`.
    pub fn with_parameter(mut self, key: &str, value: &str) -> StackSpec {
        self.parameters.retain(|(name, _)| name != key);
        self.parameters.push((key.into(), value.into()));
        self
    }

    /// The same with launch readiness on, for the launch hook [`crate::fleet::LAUNCH_HOOK`]
    /// that the test puts on the group itself ([`crate::fleet::add_launch_hook`]): moto has no
    /// CloudFormation model of a lifecycle hook.
    pub fn with_launch_readiness(self) -> StackSpec {
        self.with_parameter("LaunchReadiness", "on")
            .with_parameter("CreateLaunchHooks", "false")
            .with_parameter("LaunchHookName", crate::fleet::LAUNCH_HOOK)
    }

    /// The parameters that point the stack at several clusters and groups (comma-separated, as
    /// `ClusterNames` and `AutoScalingGroupNames` take them) and one hook.
    pub fn for_many(clusters: &[String], groups: &[String], hook: &str) -> StackSpec {
        StackSpec::for_names(&clusters.join(","), &groups.join(","), hook)
    }

    /// The same, with `action` removed from role `role` (a logical id of the template).
    pub fn without_grant(mut self, role: &str, action: &str) -> StackSpec {
        self.without_grants.push((role.into(), action.into()));
        self
    }
}

impl Stack {
    /// Deploys the template as `name` into the emulator (while IAM is not yet enforced) and
    /// reads back what was created.
    pub fn deploy(emulator: &Emulator, name: &str, spec: &StackSpec) -> Result<Stack, KitError> {
        let root = project_root();
        let mut command = Command::new(root.join(".venv/bin/python"));
        command
            .args([
                "-m",
                "ecs_drain_moto.stack",
                "--endpoint",
                &emulator.endpoint(),
                "--stack-name",
                name,
            ])
            .env("PYTHONPATH", root.join("tests/emulator"))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (key, value) in &spec.parameters {
            command.arg("--param").arg(format!("{key}={value}"));
        }
        for (role, action) in &spec.without_grants {
            command
                .arg("--without-grant")
                .arg(format!("{role}={action}"));
        }
        let output = command.output()?;
        let described: Value = serde_json::from_slice(&output.stdout).map_err(|error| {
            format!(
                "stack deploy printed no JSON ({error}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        if !output.status.success() {
            return Err(format!(
                "stack {name} did not deploy: {described} {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let strings = |value: &Value| -> BTreeMap<String, String> {
            value
                .as_object()
                .map(|map| {
                    map.iter()
                        .filter(|(key, _)| !key.is_empty())
                        .map(|(key, value)| (key.clone(), scalar(value)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut functions = BTreeMap::new();
        for (logical, function) in described["functions"]
            .as_object()
            .ok_or("stack deploy: no functions")?
        {
            functions.insert(
                logical.clone(),
                StackFunction {
                    name: scalar(&function["name"]),
                    arn: scalar(&function["arn"]),
                    role_arn: scalar(&function["role"]),
                    environment: strings(&function["environment"]).into_iter().collect(),
                },
            );
        }
        Ok(Stack {
            name: name.to_owned(),
            outputs: strings(&described["outputs"]),
            resources: strings(&described["resources"]),
            functions,
        })
    }

    /// A function by logical id.
    pub fn function(&self, logical_id: &str) -> Result<&StackFunction, KitError> {
        self.functions
            .get(logical_id)
            .ok_or_else(|| format!("stack {} has no function {logical_id}", self.name).into())
    }

    /// on-lifecycle as deployed.
    pub fn on_lifecycle(&self) -> Result<&StackFunction, KitError> {
        self.function("OnLifecycleFunction")
    }

    /// on-task-stopped as deployed.
    pub fn on_task_stopped(&self) -> Result<&StackFunction, KitError> {
        self.function("OnTaskStoppedFunction")
    }

    /// An output by key.
    pub fn output(&self, key: &str) -> Result<&str, KitError> {
        self.outputs
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("stack {} has no output {key}", self.name).into())
    }
}

/// A JSON scalar as the string CloudFormation would pass (numbers in environment variables are
/// strings on AWS; moto keeps them as numbers).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
