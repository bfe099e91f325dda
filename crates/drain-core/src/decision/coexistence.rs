//! Coexistence with ECS managed instance draining, which installs its own terminate hook
//! (`ecs-managed-draining-termination-hook`) on capacity-provider groups: two tools draining
//! one group is a configuration the operator must hear about, once per drain, and ecs-drain
//! never acts on that hook's actions (ECS completes them itself).

use crate::config::ECS_MANAGED_DRAINING_HOOK;

/// Whether `hook_name` is ECS managed draining's hook: its actions are never ecs-drain's.
pub fn is_managed_draining_hook(hook_name: &str) -> bool {
    hook_name == ECS_MANAGED_DRAINING_HOOK
}

/// What to say about the group's hooks during one drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coexistence {
    /// No managed draining hook on the group.
    Alone,
    /// The group carries ECS managed draining's hook: log a warning and emit the metric now,
    /// and note on the drain that it was said.
    WarnNow,
    /// Already said for this drain.
    AlreadyWarned,
}

/// Decides whether this drain warns about ECS managed draining, given the names of the
/// group's lifecycle hooks (DescribeLifecycleHooks) and whether the drain already warned.
pub fn managed_draining_coexistence<S: AsRef<str>>(
    group_hook_names: &[S],
    already_warned: bool,
) -> Coexistence {
    let managed = group_hook_names
        .iter()
        .any(|name| is_managed_draining_hook(name.as_ref()));
    match (managed, already_warned) {
        (false, _) => Coexistence::Alone,
        (true, false) => Coexistence::WarnNow,
        (true, true) => Coexistence::AlreadyWarned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_drain_when_the_group_carries_the_managed_hook() {
        let both = [
            "ecs-drain-terminate",
            "ecs-managed-draining-termination-hook",
        ];
        let ours = ["ecs-drain-terminate", "ecs-drain-launch"];
        let none: [&str; 0] = [];
        for (story, hooks, warned, expected) in [
            (
                "managed hook, first look",
                &both[..],
                false,
                Coexistence::WarnNow,
            ),
            (
                "managed hook, said already",
                &both[..],
                true,
                Coexistence::AlreadyWarned,
            ),
            (
                "only ecs-drain's hooks",
                &ours[..],
                false,
                Coexistence::Alone,
            ),
            ("no hooks listed", &none[..], false, Coexistence::Alone),
        ] {
            assert_eq!(
                managed_draining_coexistence(hooks, warned),
                expected,
                "{story}"
            );
        }
    }

    #[test]
    fn never_takes_the_managed_hook_for_its_own() {
        assert!(is_managed_draining_hook(
            "ecs-managed-draining-termination-hook"
        ));
        assert!(!is_managed_draining_hook(
            "ecs-managed-draining-termination-hook-2"
        ));
        assert!(!is_managed_draining_hook("ecs-drain-terminate"));
        let config = crate::Config::with_table("t");
        assert!(!config.handles_hook(ECS_MANAGED_DRAINING_HOOK));
    }
}
