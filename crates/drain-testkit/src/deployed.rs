//! The functions as deployed: the stack of infra/template.yaml in the emulator, a world built
//! for its cluster and group, IAM enforced, and each built binary running under temporary
//! credentials of its own execution role (`sts:AssumeRole`), handed over through the standard
//! environment variables exactly as Lambda hands them over. The test's own set-up uses a
//! separate admin identity.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::config::Credentials;

use crate::runtime_api::{FunctionProcess, function_binary};
use crate::stack::{Stack, StackFunction, StackSpec};
use crate::{Emulator, EmulatorWorld, KitError, WorldSpec};

/// A deployed stack with its world, IAM enforced.
pub struct Deployment {
    /// The emulator (IAM enforced).
    pub emulator: Emulator,
    /// The test's set-up identity.
    pub admin: Credentials,
    /// The deployed stack.
    pub stack: Stack,
    /// The world the stack serves, with admin clients.
    pub world: EmulatorWorld,
    /// Further worlds built next to it ([`Deployment::start_worlds`]), in the order given.
    pub others: Vec<EmulatorWorld>,
    /// Temporary credentials of each function's execution role, by function logical id.
    role_credentials: BTreeMap<String, Credentials>,
}

impl Deployment {
    /// Deploys the stack for a world of `spec` (the template's parameters name the world's
    /// cluster, group and hook), builds the world as admin, then turns IAM enforcement on.
    pub async fn start(spec: WorldSpec) -> Result<Deployment, KitError> {
        Deployment::start_with(spec, |stack| stack).await
    }

    /// Like [`Deployment::start`], with the stack spec adjusted by `adjust` (e.g. a grant left
    /// out).
    pub async fn start_with(
        spec: WorldSpec,
        adjust: impl FnOnce(StackSpec) -> StackSpec,
    ) -> Result<Deployment, KitError> {
        let stack_spec = adjust(StackSpec::for_names(
            &spec.cluster_name(),
            &spec.group_name(),
            &spec.hook_name(),
        ));
        let stack_name = format!("{}-stack", spec.name);
        Deployment::start_worlds(&stack_name, &stack_spec, vec![spec]).await
    }

    /// A stack deployed as `stack_name` with `stack_spec` (which names the clusters and groups
    /// it serves), then one world per spec built as admin (the stack's table; the first world
    /// creates the stack's schedule group, each other one a group of its own), then IAM
    /// enforced. `world` is the first spec's, `others` the rest: worlds the stack does not name
    /// are how a test shows what the functions may not touch.
    pub async fn start_worlds(
        stack_name: &str,
        stack_spec: &StackSpec,
        specs: Vec<WorldSpec>,
    ) -> Result<Deployment, KitError> {
        let emulator = Emulator::start()?;
        let admin = emulator.admin()?;
        let stack = Stack::deploy(&emulator, stack_name, stack_spec)?;
        let on_lifecycle = stack.on_lifecycle()?;
        let table = stack.output("TableName")?.to_owned();
        let group = on_lifecycle
            .env(drain_core::config::ENV_SCHEDULE_GROUP)
            .ok_or("on-lifecycle has no schedule group setting")?
            .to_owned();
        let sdk = emulator.sdk_config_as(&admin);
        let mut worlds = Vec::new();
        for (position, mut spec) in specs.into_iter().enumerate() {
            spec.table = Some(table.clone());
            if position == 0 {
                spec.schedule_group = Some(group.clone());
            }
            worlds.push(EmulatorWorld::build(&emulator, &sdk, &spec).await?);
        }
        let mut worlds = worlds.into_iter();
        let world = worlds
            .next()
            .ok_or("start_worlds needs at least one world")?;
        // The roles trust lambda.amazonaws.com only, so the admin user may not assume them on
        // AWS; Lambda does. Taking the sessions before enforcement plays Lambda's part (and
        // steps around moto, whose trust check fails on a Service principal).
        let mut role_credentials = BTreeMap::new();
        for (logical, function) in &stack.functions {
            role_credentials.insert(
                logical.clone(),
                emulator
                    .assume_role(&admin, &function.role_arn, &function.name)
                    .await?,
            );
        }
        emulator.enforce_iam(true)?;
        Ok(Deployment {
            emulator,
            admin,
            stack,
            world,
            others: worlds.collect(),
            role_credentials,
        })
    }

    /// SDK configuration signed with the temporary credentials of `logical_id`'s execution
    /// role: what that function may do, asked directly.
    pub fn role_sdk_config(&self, logical_id: &str) -> Result<aws_config::SdkConfig, KitError> {
        let credentials = self
            .role_credentials
            .get(logical_id)
            .ok_or_else(|| format!("no role session for {logical_id}"))?;
        Ok(self.emulator.sdk_config_as(credentials))
    }

    /// The environment Lambda would give `function`: the template's variables, its name, the
    /// emulator as endpoint, and temporary credentials of its execution role.
    pub fn function_env(
        &self,
        function: &StackFunction,
    ) -> Result<Vec<(String, String)>, KitError> {
        let logical = self
            .stack
            .functions
            .iter()
            .find(|(_, deployed)| deployed.arn == function.arn)
            .map(|(logical, _)| logical);
        let credentials = logical
            .and_then(|logical| self.role_credentials.get(logical))
            .ok_or_else(|| format!("no role session for {}", function.name))?;
        let mut env = function.environment.clone();
        env.extend([
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), function.name.clone()),
            ("AWS_ENDPOINT_URL".to_owned(), self.emulator.endpoint()),
            ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
            (
                "AWS_ACCESS_KEY_ID".to_owned(),
                credentials.access_key_id().to_owned(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                credentials.secret_access_key().to_owned(),
            ),
            (
                "AWS_SESSION_TOKEN".to_owned(),
                credentials.session_token().unwrap_or_default().to_owned(),
            ),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        ]);
        Ok(env)
    }

    /// The check schedule on-lifecycle booked for instance `index` of the world, read as
    /// admin, once it is known to invoke the deployed on-lifecycle as the stack's scheduler
    /// role (an error otherwise): what EventBridge Scheduler would fire.
    pub async fn booked_check(
        &self,
        index: usize,
    ) -> Result<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput, KitError> {
        let instance = drain_core::ids::ContainerInstanceArn::new(
            self.world
                .instances
                .get(index)
                .ok_or_else(|| format!("no instance {index}"))?
                .container_instance_arn
                .clone(),
        )?;
        self.verified_schedule(&drain_aws::EventBridgeCheckScheduler::schedule_name(
            &instance,
        ))
        .await
    }

    /// The check on-lifecycle booked for the pending launch of EC2 instance `ec2_id`, verified
    /// as [`Deployment::booked_check`] verifies a drain's.
    pub async fn booked_launch_check(
        &self,
        ec2_id: &str,
    ) -> Result<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput, KitError> {
        let instance = drain_core::ids::Ec2InstanceId::new(ec2_id.to_owned())?;
        self.verified_schedule(&drain_aws::EventBridgeCheckScheduler::launch_schedule_name(
            &instance,
        ))
        .await
    }

    /// Schedule `name` of the world's group, read as admin, once it is known to invoke the
    /// deployed on-lifecycle as the stack's scheduler role.
    async fn verified_schedule(
        &self,
        name: &str,
    ) -> Result<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput, KitError> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.emulator.sdk_config_as(&self.admin));
        let schedule = scheduler
            .get_schedule()
            .group_name(&self.world.schedule_group)
            .name(name)
            .send()
            .await?;
        let target = schedule.target().ok_or("schedule without target")?;
        let on_lifecycle = &self.stack.on_lifecycle()?.arn;
        if target.arn() != on_lifecycle {
            return Err(format!(
                "the check invokes {}, not the deployed on-lifecycle {on_lifecycle}",
                target.arn()
            )
            .into());
        }
        let scheduler_role = self
            .stack
            .resources
            .get("SchedulerRole")
            .ok_or("no SchedulerRole")?;
        let role = format!("arn:aws:iam::123456789012:role/{scheduler_role}");
        if target.role_arn() != role {
            return Err(format!(
                "the check runs as {}, not the stack's {role}",
                target.role_arn()
            )
            .into());
        }
        Ok(schedule)
    }

    /// EventBridge Scheduler firing the check booked for instance `index` (verified as
    /// [`Deployment::booked_check`] verifies it): its input, the payload on-lifecycle is to be
    /// invoked with, the one-shot schedule then deleted as the scheduler deletes it
    /// ([`crate::world::after_firing`]).
    pub async fn fire_booked_check(&self, index: usize) -> Result<serde_json::Value, KitError> {
        let schedule = self.booked_check(index).await?;
        self.fired(&schedule).await
    }

    /// [`Deployment::fire_booked_check`] for the check of the pending launch of `ec2_id`.
    pub async fn fire_booked_launch_check(
        &self,
        ec2_id: &str,
    ) -> Result<serde_json::Value, KitError> {
        let schedule = self.booked_launch_check(ec2_id).await?;
        self.fired(&schedule).await
    }

    async fn fired(
        &self,
        schedule: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
    ) -> Result<serde_json::Value, KitError> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.emulator.sdk_config_as(&self.admin));
        crate::world::after_firing(&scheduler, &self.world.schedule_group, schedule).await
    }

    /// Both functions' built binaries, running as deployed: (on-lifecycle, on-task-stopped).
    pub async fn spawn_functions(&self) -> Result<(FunctionProcess, FunctionProcess), KitError> {
        Ok((
            self.spawn_on_lifecycle().await?,
            self.spawn_on_task_stopped().await?,
        ))
    }

    /// on-lifecycle's built binary, running as deployed.
    pub async fn spawn_on_lifecycle(&self) -> Result<FunctionProcess, KitError> {
        FunctionProcess::spawn(
            &function_binary("on-lifecycle")?,
            self.function_env(self.stack.on_lifecycle()?)?,
        )
    }

    /// on-task-stopped's built binary, running as deployed.
    pub async fn spawn_on_task_stopped(&self) -> Result<FunctionProcess, KitError> {
        FunctionProcess::spawn(
            &function_binary("on-task-stopped")?,
            self.function_env(self.stack.on_task_stopped()?)?,
        )
    }
}
