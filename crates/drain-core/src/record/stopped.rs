//! The tasks a drain knows are STOPPED, so that a later census describes only the others.
//!
//! ECS keeps a stopped task listed (ListTasks, desiredStatus STOPPED) for about an hour, so
//! every census of a drain lists every task that stopped during it. Describing them all again
//! is what makes a census of a busy instance cost one DescribeTasks per 100 tasks each time
//! (issue 11). Skipping the known ones trades no correctness: STOPPED is terminal in ECS (a
//! task never leaves it), and a task id is unique (one random 128-bit id per task, never
//! reused), so a task once seen STOPPED can never be alive again. A task the record does not
//! know (not kept, past the bound, or of an id form it cannot pack) is simply described again.
//!
//! An id joins the set two ways: a census described the task with lastStatus STOPPED (ECS's
//! own answer), or a STOPPED event took it out of the alive set. The second is only as true as
//! the event, and a direct invoke of on-task-stopped can forge one for a task that still runs.
//! So the set is only ever used on ECS's STOPPED listing: a task ECS lists as desired RUNNING
//! is described by every census whatever the set says (`decision::look::tasks_to_describe`),
//! and a forged event can at most hide a task ECS is already stopping.
//!
//! Compact: each id is kept as its 16 bytes, sorted, at most [`MAX_KNOWN_STOPPED`] of them;
//! the DynamoDB adapter stores them as one binary attribute (16 bytes a task, no per-element
//! overhead as a list or set of strings would have).

use serde::{Deserialize, Serialize};

use crate::ids::TaskArn;

/// At most this many STOPPED task ids are kept in a record: twice the alive set's bound
/// ([`crate::record::MAX_ALIVE_TASKS`]), so a drain of a full instance keeps every task that
/// stops during it and the ones still listed from the hour before. 2,000 ids take 32 KB; with
/// a full alive set of 1,000 tasks (about 70 KB) the item stays near 100 KB, a quarter of
/// DynamoDB's 400 KB item limit. Past the bound, new ids are not kept: those tasks are
/// described again by later censuses, which is still correct.
pub const MAX_KNOWN_STOPPED: usize = 2_000;

/// A task id packed into 16 bytes: ECS's 32 hex digits (the long ARN format's id), or the
/// older UUID form with dashes (8-4-4-4-12, also what the local emulator writes), which holds
/// the same 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PackedTaskId([u8; 16]);

impl PackedTaskId {
    /// The packed id of `task` (its ARN's last path segment); None for an id in neither form,
    /// which the record then cannot keep.
    pub fn of(task: &TaskArn) -> Option<PackedTaskId> {
        let id = task.id();
        let hex: String = match id.len() {
            32 => id.to_owned(),
            36 if [8, 13, 18, 23]
                .iter()
                .all(|&dash| id.as_bytes().get(dash) == Some(&b'-')) =>
            {
                id.chars().filter(|&c| c != '-').collect()
            }
            _ => return None,
        };
        if hex.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            // from_str_radix accepts a leading '+': only hex digits are an id.
            if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(PackedTaskId(bytes))
    }

    /// The 16 bytes.
    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }
}

/// The STOPPED tasks a drain knows of: sorted, no duplicates, at most [`MAX_KNOWN_STOPPED`].
/// What a census may leave out of ECS's desired-STOPPED listing, never of its desired-RUNNING
/// one (see the module's doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownStopped {
    ids: Vec<PackedTaskId>,
}

impl KnownStopped {
    /// Whether `task` is known STOPPED.
    pub fn knows(&self, task: &TaskArn) -> bool {
        PackedTaskId::of(task).is_some_and(|id| self.ids.binary_search(&id).is_ok())
    }

    /// How many ids are kept.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none is kept (a new drain, or a record written before the field existed).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The set with `tasks` added, as far as the bound allows (the rest are not kept) and their
    /// ids can be packed.
    pub fn with<'a>(&self, tasks: impl IntoIterator<Item = &'a TaskArn>) -> KnownStopped {
        let mut known = self.clone();
        for id in tasks.into_iter().filter_map(PackedTaskId::of) {
            if let Err(at) = known.ids.binary_search(&id)
                && known.ids.len() < MAX_KNOWN_STOPPED
            {
                known.ids.insert(at, id);
            }
        }
        known
    }

    /// The ids, concatenated in order: 16 bytes each (what the DynamoDB adapter stores).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.ids.iter().flat_map(PackedTaskId::bytes).collect()
    }

    /// Reads [`KnownStopped::to_bytes`] back; None unless the length is a multiple of 16. Ids
    /// out of order or repeated are put in order; past the bound, the first ones are kept.
    pub fn from_bytes(bytes: &[u8]) -> Option<KnownStopped> {
        if !bytes.len().is_multiple_of(16) {
            return None;
        }
        let mut ids: Vec<PackedTaskId> = bytes
            .chunks_exact(16)
            .take(MAX_KNOWN_STOPPED)
            .map(|chunk| {
                let mut id = [0u8; 16];
                id.copy_from_slice(chunk);
                PackedTaskId(id)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Some(KnownStopped { ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> TaskArn {
        TaskArn::new(format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}")).expect("arn")
    }

    #[test]
    fn an_id_of_32_hex_digits_or_a_dashed_uuid_packs_into_16_bytes_and_nothing_else_does() {
        let table: [(&str, Option<[u8; 16]>); 7] = [
            (
                "0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a",
                Some([
                    0x0d, 0x7e, 0x5f, 0x3a, 0x9c, 0x1b, 0x4e, 0x2d, 0x8f, 0x6a, 0x0b, 0x3c, 0x5d,
                    0x7e, 0x9f, 0x1a,
                ]),
            ),
            (
                "0d7e5f3a-9c1b-4e2d-8f6a-0b3c5d7e9f1a",
                Some([
                    0x0d, 0x7e, 0x5f, 0x3a, 0x9c, 0x1b, 0x4e, 0x2d, 0x8f, 0x6a, 0x0b, 0x3c, 0x5d,
                    0x7e, 0x9f, 0x1a,
                ]),
            ),
            (
                "0D7E5F3A9C1B4E2D8F6A0B3C5D7E9F1A",
                Some([
                    0x0d, 0x7e, 0x5f, 0x3a, 0x9c, 0x1b, 0x4e, 0x2d, 0x8f, 0x6a, 0x0b, 0x3c, 0x5d,
                    0x7e, 0x9f, 0x1a,
                ]),
            ),
            ("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1", None),
            ("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1g", None),
            ("0d7e5f3a-9c1b-4e2d-8f6a-0b3c5d7e9f1-", None),
            ("0d7e5f3a9-c1b-4e2d-8f6a-0b3c5d7e9f1a", None),
        ];
        for (id, expected) in table {
            assert_eq!(
                PackedTaskId::of(&task(id)).map(|packed| packed.bytes()),
                expected,
                "{id}"
            );
        }
    }

    #[test]
    fn added_tasks_are_known_once_each_and_others_are_not() {
        let a = task(&format!("{:032x}", 7));
        let b = task(&format!("{:032x}", 3));
        let unpackable = task("abc");
        let known = KnownStopped::default().with([&a, &b, &a, &unpackable]);
        assert_eq!(known.len(), 2);
        assert!(known.knows(&a) && known.knows(&b));
        assert!(!known.knows(&task(&format!("{:032x}", 4))));
        assert!(
            !known.knows(&unpackable),
            "an id it cannot pack is never known"
        );
    }

    #[test]
    fn past_the_bound_new_ids_are_not_kept_and_the_kept_ones_stay() {
        let tasks: Vec<TaskArn> = (0..MAX_KNOWN_STOPPED + 5)
            .map(|n| task(&format!("{n:032x}")))
            .collect();
        let known = KnownStopped::default().with(&tasks);
        assert_eq!(known.len(), MAX_KNOWN_STOPPED);
        assert!(known.knows(&tasks[0]));
        assert!(known.knows(&tasks[MAX_KNOWN_STOPPED - 1]));
        assert!(!known.knows(&tasks[MAX_KNOWN_STOPPED]));
        assert_eq!(known.with([&tasks[MAX_KNOWN_STOPPED + 1]]), known);
    }

    #[test]
    fn the_bytes_round_trip_and_a_torn_value_is_refused() {
        let known = KnownStopped::default().with(&[
            task(&format!("{:032x}", u128::MAX)),
            task(&format!("{:032x}", 1)),
        ]);
        let bytes = known.to_bytes();
        assert_eq!(bytes.len(), 32);
        assert_eq!(KnownStopped::from_bytes(&bytes), Some(known.clone()));
        assert_eq!(KnownStopped::from_bytes(&bytes[..31]), None);
        assert_eq!(KnownStopped::from_bytes(&[]), Some(KnownStopped::default()));
        let mut swapped = bytes[16..].to_vec();
        swapped.extend_from_slice(&bytes[..16]);
        swapped.extend_from_slice(&bytes[..16]);
        assert_eq!(
            KnownStopped::from_bytes(&swapped),
            Some(known),
            "read back in order, once each"
        );
    }
}
