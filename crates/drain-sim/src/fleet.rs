//! Launches and the warm pool: the group launching new instances through its launch hook,
//! their ECS agents registering on time, late, never, or failing to, and instances scaled in to
//! the warm pool coming back through the same hook with the container instance ecs-drain left
//! DRAINING.
//!
//! Every draw here comes from the world's fleet stream ([`SimWorld::fleet`]), never from the
//! stream that shapes the terminate-only world: a seed that draws no launch and no warm pool
//! runs exactly as it did before launches were modelled.

use drain_core::event::Channel;
use drain_core::event::fleet::{LaunchNotice, Placement};
use drain_core::event::launch::ContainerInstanceChange;
use drain_core::ports::{EcsInstanceStatus, LifecycleState};

use crate::world::{ActionKind, AgentPlan, Event, InstanceStatus, SimWorld, notice_delays};

impl SimWorld {
    /// Draws the run's launches (none in half the seeds): new instances the group launches
    /// while the drains go on.
    pub fn plan_launches(&mut self) {
        if !self.fleet.chance(0.5) {
            return;
        }
        let launches = self.fleet.range(1, 3);
        for _ in 0..launches {
            let at = crate::world::EPOCH.plus_seconds(self.fleet.range(0, 1200));
            let agent = self.draw_agent();
            self.push(
                at,
                Event::LaunchBegins {
                    instance: None,
                    agent,
                },
            );
        }
    }

    fn draw_agent(&mut self) -> AgentPlan {
        let roll = self.fleet.unit();
        if roll < 0.7 {
            AgentPlan::OnTime
        } else if roll < 0.85 {
            AgentPlan::Late
        } else if roll < 0.93 {
            AgentPlan::Never
        } else {
            AgentPlan::Fails
        }
    }

    /// The group launches an instance: a new EC2 instance (no container instance yet), or
    /// `back` from the warm pool (its container instance still DRAINING, its agent about to
    /// reconnect).
    pub fn launch(&mut self, back: Option<usize>, agent: AgentPlan) {
        let (instance, origin) = match back {
            Some(instance) if self.instances[instance].status == InstanceStatus::Inactive => {
                return;
            }
            Some(instance) => (instance, Placement::WarmPool),
            None => {
                let instance = self.add_instance();
                let sim = &mut self.instances[instance];
                sim.registered = false;
                sim.agent_connected = false;
                (instance, Placement::Ec2)
            }
        };
        self.instances[instance].asg = LifecycleState::PendingWait;
        let token_bits = self.fleet.next_u64();
        let action = self.begin_action(ActionKind::Launch { origin }, instance, token_bits);
        self.note(|_| {
            format!(
                "ASG launches ci-{instance} from {}: launch action {action} begins (agent \
                 {agent:?})",
                origin.as_str()
            )
        });
        let (drop_rate, dup_rate) = (self.scenario.drop_rate, self.scenario.dup_rate);
        let delays = notice_delays(&mut self.fleet, drop_rate, dup_rate, &mut self.counters);
        self.deliver_notice_copies(action, &delays, |action| Event::DeliverLaunchNotice {
            action,
        });
        let deadline = self.scenario.launch_policy.deadline_seconds;
        let now = self.now();
        let step = match (back, agent) {
            (_, AgentPlan::Never) => None,
            // A warm-pool instance is registered already: its agent only reconnects.
            (Some(_), AgentPlan::OnTime | AgentPlan::Fails) => {
                Some((self.fleet.range(10, 120), Event::AgentConnects { instance }))
            }
            (Some(_), AgentPlan::Late) => Some((
                self.fleet.range(deadline - 60, deadline + 600),
                Event::AgentConnects { instance },
            )),
            (None, AgentPlan::OnTime) => {
                let status = if self.fleet.chance(0.2) {
                    InstanceStatus::Registering
                } else {
                    InstanceStatus::Active
                };
                let connected = status == InstanceStatus::Active && self.fleet.chance(0.6);
                Some((
                    self.fleet.range(15, 120),
                    Event::AgentRegisters {
                        instance,
                        status,
                        connected,
                    },
                ))
            }
            (None, AgentPlan::Late) => Some((
                self.fleet.range(deadline - 60, deadline + 600),
                Event::AgentRegisters {
                    instance,
                    status: InstanceStatus::Active,
                    connected: true,
                },
            )),
            (None, AgentPlan::Fails) => Some((
                self.fleet.range(15, 120),
                Event::AgentRegisters {
                    instance,
                    status: InstanceStatus::RegistrationFailed,
                    connected: false,
                },
            )),
        };
        if let Some((delay, event)) = step {
            self.push(now.plus_seconds(delay.max(1)), event);
        }
    }

    /// The agent registers the container instance.
    pub fn agent_registers(&mut self, instance: usize, status: InstanceStatus, connected: bool) {
        if self.instances[instance].status == InstanceStatus::Inactive {
            return; // abandoned and terminated before its agent came up
        }
        let sim = &mut self.instances[instance];
        sim.registered = true;
        sim.status = status;
        sim.agent_connected = connected;
        self.note(|_| {
            format!(
                "agent registers ci-{instance}: {} (agent connected: {connected})",
                status.as_str()
            )
        });
        if status == InstanceStatus::Registering || (status == InstanceStatus::Active && !connected)
        {
            let at = self.now().plus_seconds(self.fleet.range(3, 60));
            self.push(at, Event::AgentConnects { instance });
        }
        self.became_ready(instance);
        self.publish_join_change(instance);
    }

    /// The agent connects (a REGISTERING instance turns ACTIVE with it).
    pub fn agent_connects(&mut self, instance: usize) {
        let sim = &mut self.instances[instance];
        if sim.status == InstanceStatus::Inactive {
            return;
        }
        if sim.status == InstanceStatus::Registering {
            sim.status = InstanceStatus::Active;
        }
        sim.agent_connected = true;
        let status = sim.status;
        self.note(|_| format!("agent of ci-{instance} connects ({})", status.as_str()));
        if status == InstanceStatus::Draining {
            // Back from the warm pool: ready to serve once ecs-drain sets it ACTIVE.
            let now = self.now();
            self.instances[instance].ready_at.get_or_insert(now);
        }
        self.became_ready(instance);
        self.publish_join_change(instance);
    }

    /// ACTIVE with the agent connected: ECS starts placing tasks.
    pub fn became_ready(&mut self, instance: usize) {
        if !self.instances[instance].placeable() {
            return;
        }
        let now = self.now();
        self.instances[instance].ready_at.get_or_insert(now);
        for service in 0..self.services.len() {
            if !self.services[service].daemon {
                self.tick_soon(service);
            }
        }
    }

    /// The instance scaled in to the warm pool is stopped: what still ran on it dies, its agent
    /// disconnects; the group launches it back later.
    pub fn warm_stop(&mut self, instance: usize) {
        self.instances[instance].asg = LifecycleState::Other("Warmed:Stopped".into());
        self.instances[instance].agent_connected = false;
        self.instances[instance].ready_at = None;
        self.kill_tasks_on(instance, "the warm pool stops");
        let at = self.now().plus_seconds(self.fleet.range(120, 1800));
        let agent = self.draw_agent();
        self.push(
            at,
            Event::LaunchBegins {
                instance: Some(instance),
                agent,
            },
        );
    }

    /// ECS emits an "ECS Container Instance State Change" for a registered instance: lost,
    /// duplicated and delayed like every event.
    pub fn publish_join_change(&mut self, instance: usize) {
        self.instance_versions[instance] += 1;
        let version = self.instance_versions[instance];
        let (status, connected) = (
            self.instances[instance].status,
            self.instances[instance].agent_connected,
        );
        let (drop_rate, dup_rate) = (self.scenario.drop_rate, self.scenario.dup_rate);
        let delays = notice_delays(&mut self.fleet, drop_rate, dup_rate, &mut self.counters);
        let now = self.now();
        for delay in delays {
            // Unlike a lifecycle notice, every copy of a state change may be lost: the
            // launch's scheduled check is the safety net.
            if delay.is_none() || self.fleet.chance(drop_rate) {
                self.note(|_| format!("bus drops a state change of ci-{instance}"));
                continue;
            }
            let delay = delay.unwrap_or_default();
            self.push(
                now.plus_seconds(delay),
                Event::DeliverJoinChange {
                    instance,
                    status,
                    connected,
                    version,
                },
            );
        }
    }

    /// The launch notice of action `action`, as EventBridge carries it.
    pub fn launch_notice(&self, action: usize) -> LaunchNotice {
        let sim = &self.actions[action];
        let origin = match sim.kind {
            ActionKind::Launch { origin } => origin,
            ActionKind::Terminate { .. } => Placement::Ec2,
        };
        LaunchNotice {
            action: sim.action.clone(),
            sent_at: Some(sim.began_at),
            origin: Some(origin),
            destination: Some(Placement::AutoScalingGroup),
            channel: Channel::EventBridge,
            replay_name: None,
            account: None,
            region: None,
        }
    }

    /// The state change ECS emitted for `instance` with `status` and `connected`.
    pub fn join_change(
        &self,
        instance: usize,
        status: InstanceStatus,
        connected: bool,
        version: u64,
    ) -> ContainerInstanceChange {
        ContainerInstanceChange {
            cluster_arn: self.cluster_arn.clone(),
            container_instance_arn: self.instances[instance].arn.clone(),
            ec2_instance_id: self.instances[instance].ec2.clone(),
            status: EcsInstanceStatus::parse(status.as_str()),
            agent_connected: connected,
            version: Some(version),
            replay_name: None,
        }
    }
}
