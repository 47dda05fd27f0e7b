//! The user map of a run: full user id (`@lp:server`) → the user's index, looked up once for
//! every email, link, device and token row, millions of times in a large run, in a table far
//! bigger than the CPU's own caches.
//!
//! An open-addressing table with linear probing whose 32-byte slots hold the id itself when it
//! fits (nearly all do): a hit reads one cache line, where a general-purpose map reads its
//! control bytes and then the slot, two lines in different places. Kept at most half full, so
//! a probe rarely goes past the first slot. Longer ids live in a side list; their slots keep
//! the full hash, so only a likely match reads the id.

use std::hash::BuildHasher;

/// Id bytes a slot holds in place.
const INLINE: usize = 27;

/// `Slot::len` of an empty slot (a user id is never empty).
const EMPTY: u8 = 0;

/// `Slot::len` of a slot whose id is in `UserIndex::long`: `bytes` holds the id's position
/// there (4 bytes, little-endian), then its full hash (8 bytes).
const LONG: u8 = u8::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    bytes: [u8; INLINE],
    len: u8,
    value: u32,
}

const EMPTY_SLOT: Slot = Slot {
    bytes: [0; INLINE],
    len: EMPTY,
    value: 0,
};

impl Slot {
    fn long(position: usize, hash: u64, value: u32) -> Self {
        let mut bytes = [0; INLINE];
        bytes[..4].copy_from_slice(&(position as u32).to_le_bytes());
        bytes[4..12].copy_from_slice(&hash.to_le_bytes());
        Self {
            bytes,
            len: LONG,
            value,
        }
    }

    fn long_position(&self) -> usize {
        let mut position = [0; 4];
        position.copy_from_slice(&self.bytes[..4]);
        u32::from_le_bytes(position) as usize
    }

    fn long_hash(&self) -> u64 {
        let mut hash = [0; 8];
        hash.copy_from_slice(&self.bytes[4..12]);
        u64::from_le_bytes(hash)
    }
}

pub(crate) struct UserIndex {
    /// A power of two of them (or none yet).
    slots: Vec<Slot>,
    len: usize,
    /// Keys come from the Synapse database (not from the network); foldhash's seeded hasher is
    /// several times cheaper than SipHash.
    hasher: foldhash::fast::RandomState,
    /// The ids longer than [`INLINE`] bytes.
    long: Vec<Box<[u8]>>,
}

impl UserIndex {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            hasher: foldhash::fast::RandomState::default(),
            long: Vec::new(),
        }
    }

    /// Make room for `additional` more ids without growing on the way.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let wanted = (self.len + additional)
            .saturating_mul(2)
            .max(16)
            .next_power_of_two();
        if wanted > self.slots.len() {
            self.rehash(wanted);
        }
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let found = self.find(id, self.hasher.hash_one(id)).ok()?;
        Some(self.slots[found].value)
    }

    /// Map `id` to `value` (replacing what it mapped to, if anything).
    pub(crate) fn insert(&mut self, id: &[u8], value: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.rehash((self.slots.len() * 2).max(16));
        }
        let hash = self.hasher.hash_one(id);
        let free = match self.find(id, hash) {
            Ok(found) => {
                self.slots[found].value = value;
                return;
            }
            Err(free) => free,
        };
        self.slots[free] = if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id);
            Slot {
                bytes,
                // At most INLINE, so below LONG.
                len: id.len() as u8,
                value,
            }
        } else {
            self.long.push(id.into());
            Slot::long(self.long.len() - 1, hash, value)
        };
        self.len += 1;
    }

    /// The slot holding `id` (whose hash is `hash`), or else the empty slot where it would go.
    /// The table is never empty or full here.
    fn find(&self, id: &[u8], hash: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = &self.slots[at];
            if slot.len == EMPTY {
                return Err(at);
            }
            if self.holds(slot, id, hash) {
                return Ok(at);
            }
            at = (at + 1) & mask;
        }
    }

    fn holds(&self, slot: &Slot, id: &[u8], hash: u64) -> bool {
        if slot.len == LONG {
            slot.long_hash() == hash && *self.long[slot.long_position()] == *id
        } else {
            usize::from(slot.len) == id.len() && slot.bytes[..id.len()] == *id
        }
    }

    /// Move every entry into a table of `size` slots (a power of two, at least twice the
    /// entries).
    fn rehash(&mut self, size: usize) {
        let slots = vec![EMPTY_SLOT; size];
        let old = std::mem::replace(&mut self.slots, slots);
        let mask = size - 1;
        for slot in old.iter().filter(|slot| slot.len != EMPTY) {
            let hash = if slot.len == LONG {
                slot.long_hash()
            } else {
                self.hasher.hash_one(&slot.bytes[..usize::from(slot.len)])
            };
            let mut at = hash as usize & mask;
            while self.slots[at].len != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = *slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserIndex;

    #[test]
    fn finds_what_was_inserted_short_and_long_across_growth() {
        let mut index = UserIndex::new();
        assert_eq!(index.get(b"@nobody:example.test"), None);
        let ids: Vec<String> = (0..5000)
            .map(|i| match i % 3 {
                0 => format!("@u{i}:example.test"),
                // 27 bytes: the longest kept in place.
                1 => format!("@{i:0>13}:example.test"),
                _ => format!("@a-rather-long-localpart-{i}:matrix.example.org"),
            })
            .collect();
        assert_eq!(ids[1].len(), 27);
        for (value, id) in ids.iter().enumerate() {
            index.insert(id.as_bytes(), value as u32);
        }
        for (value, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id.as_bytes()), Some(value as u32), "{id}");
        }
        assert_eq!(index.get(b"@u1:example.test"), None);
        assert_eq!(
            index.get(b"@a-rather-long-localpart-3:matrix.example.org"),
            None
        );
        assert_eq!(index.get(b"@u0:example.tes"), None);
        assert_eq!(index.get(b""), None);
        // Inserting again replaces.
        index.insert(ids[2].as_bytes(), 7);
        assert_eq!(index.get(ids[2].as_bytes()), Some(7));
        assert_eq!(index.len, ids.len());
    }

    #[test]
    fn reserve_keeps_entries_and_avoids_growth() {
        let mut index = UserIndex::new();
        index.insert(b"@first:example.test", 1);
        index.reserve(1000);
        let size = index.slots.len();
        assert!(size >= 2002);
        for i in 0..1000u32 {
            index.insert(format!("@{i}:example.test").as_bytes(), i + 2);
        }
        assert_eq!(index.slots.len(), size);
        assert_eq!(index.get(b"@first:example.test"), Some(1));
        assert_eq!(index.get(b"@999:example.test"), Some(1001));
    }
}
