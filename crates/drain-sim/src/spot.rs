//! Spot interruptions: EC2 warns two minutes before it reclaims an instance; with capacity
//! rebalancing the group then terminates the same instance through its terminate hook (or
//! not), and ecs-drain must make one drain and one completion of the two.
//!
//! Every draw comes from the world's Spot stream ([`SimWorld::spot`]): a seed that draws no
//! warning runs exactly as it did before Spot was modelled.

use drain_core::decision::spot::SPOT_WARNING_LEAD_SECONDS;
use drain_core::event::fleet::{InstanceAction, SpotInterruption};

use crate::world::{EPOCH, Event, InstanceStatus, SimWorld, notice_delays};

impl SimWorld {
    /// Draws the run's Spot warning (in about a third of the seeds), for an instance the run
    /// does not scale in otherwise.
    pub fn plan_spot(&mut self) {
        if !self.spot.chance(0.3) {
            return;
        }
        let spared: Vec<usize> = (0..self.instances.len())
            .filter(|instance| !self.victims.contains(instance))
            .collect();
        if spared.is_empty() {
            return;
        }
        let instance = self.spot.pick(&spared);
        let at = EPOCH.plus_seconds(self.spot.range(0, 900));
        self.push(at, Event::SpotWarning { instance });
    }

    /// EC2 warns; the group's terminate action for the same instance follows in most runs,
    /// often within the same seconds; EC2 reclaims the instance a little after the horizon.
    pub fn spot_warning(&mut self, instance: usize) {
        if self.instances[instance].status == InstanceStatus::Inactive {
            return;
        }
        let now = self.now();
        self.spot_warned.insert(instance, now);
        self.note(|_| format!("EC2 Spot interruption warning for ci-{instance}"));
        let (drop_rate, dup_rate) = (self.scenario.drop_rate, self.scenario.dup_rate);
        let delays = notice_delays(&mut self.spot, drop_rate, dup_rate, &mut self.counters);
        for delay in delays.into_iter().flatten() {
            self.push(
                now.plus_seconds(delay),
                Event::DeliverSpotWarning { instance },
            );
        }
        if self.spot.chance(0.7) {
            let delay = if self.spot.chance(0.3) {
                0
            } else {
                self.spot.range(0, 30)
            };
            self.push(now.plus_seconds(delay), Event::ScaleIn { instance });
        }
        let reclaim = SPOT_WARNING_LEAD_SECONDS + self.spot.range(30, 90);
        self.push(now.plus_seconds(reclaim), Event::SpotReclaim { instance });
    }

    /// EC2 reclaims the instance: a lifecycle action still open on it ends with it.
    pub fn spot_reclaim(&mut self, instance: usize) {
        if self.instances[instance].status == InstanceStatus::Inactive {
            return;
        }
        for action in 0..self.actions.len() {
            if self.actions[action].instance == instance && self.actions[action].active {
                self.actions[action].active = false;
                self.actions[action].reclaimed = true;
                self.note(|_| {
                    format!("lifecycle action {action} ends with the reclaimed instance")
                });
            }
        }
        self.note(|_| format!("EC2 reclaims Spot instance ci-{instance}"));
        self.terminate_instance(instance);
    }

    /// The warning as EventBridge carries it.
    pub fn spot_notice(&self, instance: usize) -> SpotInterruption {
        SpotInterruption {
            instance_id: self.instances[instance].ec2.clone(),
            action: InstanceAction::Terminate,
            sent_at: self.spot_warned.get(&instance).copied(),
            account: None,
            region: None,
            replay_name: None,
        }
    }
}
