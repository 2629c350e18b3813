//! Byte-string keys to lists of u32 values, packed: one arena of key bytes, CSR value
//! lists, and a hash table of key ids (4 bytes a slot) instead of a map of boxed keys.
//! A one-hash bit filter (16 bits a key, ~4% false positives) in front of the table
//! answers most lookups of absent keys with one cache line: the deletion strings of a
//! query token are mostly absent, and each probe of the table itself costs misses.

use hashbrown::HashTable;

pub fn hash_bytes(b: &[u8]) -> u64 {
    // FNV-1a, then a final mix so the table's top bits spread
    let mut h: u64 = 0xcbf29ce484222325;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^ (h >> 33)
}

/// Collects `(key, value)` pairs; `finish` packs them into a [`KeyTable`].
#[derive(Default)]
pub struct KeyTableBuilder {
    arena: Vec<u8>,
    key_off: Vec<u32>,
    table: HashTable<u32>,
    pairs: Vec<(u32, u32)>, // (key id, value) in insertion order
}

impl KeyTableBuilder {
    pub fn new() -> Self {
        KeyTableBuilder { key_off: vec![0], ..Default::default() }
    }

    /// The key's id, adding it when new.
    pub fn intern(&mut self, key: &[u8]) -> u32 {
        let h = hash_bytes(key);
        let (arena, key_off) = (&self.arena, &self.key_off);
        let get = |id: u32| &arena[key_off[id as usize] as usize..key_off[id as usize + 1] as usize];
        if let Some(&id) = self.table.find(h, |&id| get(id) == key) {
            return id;
        }
        let id = (self.key_off.len() - 1) as u32;
        self.arena.extend_from_slice(key);
        self.key_off.push(self.arena.len() as u32);
        let (arena, key_off) = (&self.arena, &self.key_off);
        self.table.insert_unique(h, id, |&i| {
            hash_bytes(&arena[key_off[i as usize] as usize..key_off[i as usize + 1] as usize])
        });
        id
    }

    pub fn push(&mut self, key: &[u8], value: u32) {
        let id = self.intern(key);
        self.pairs.push((id, value));
    }

    pub fn finish(self) -> KeyTable {
        let n = self.key_off.len() - 1;
        let mut val_off = vec![0u32; n + 1];
        for &(k, _) in &self.pairs {
            val_off[k as usize + 1] += 1;
        }
        for i in 0..n {
            val_off[i + 1] += val_off[i];
        }
        let mut fill: Vec<u32> = val_off[..n].to_vec();
        let mut vals = vec![0u32; self.pairs.len()];
        for &(k, v) in &self.pairs {
            vals[fill[k as usize] as usize] = v;
            fill[k as usize] += 1;
        }
        // each list sorted and without repeats (a name with the same run-together pair
        // twice is in that key's list once): the walks count a name once per key
        let mut kept = 0usize;
        let mut start = 0usize;
        for i in 0..n {
            let end = val_off[i + 1] as usize;
            let list = &mut vals[start..end];
            list.sort_unstable();
            let mut last: Option<u32> = None;
            for j in start..end {
                let v = vals[j];
                if last != Some(v) {
                    vals[kept] = v;
                    kept += 1;
                    last = Some(v);
                }
            }
            start = end;
            val_off[i + 1] = kept as u32;
        }
        vals.truncate(kept);
        vals.shrink_to_fit();
        let bits = (n * 16).next_power_of_two().max(64);
        let mut t = KeyTable {
            arena: self.arena,
            key_off: self.key_off,
            table: self.table,
            val_off,
            vals,
            filter: vec![0u64; bits / 64],
            filter_mask: (bits - 1) as u64,
        };
        for id in 0..n as u32 {
            let (w, b) = t.filter_bit(hash_bytes(t.key(id)));
            t.filter[w] |= b;
        }
        t.arena.shrink_to_fit();
        t.key_off.shrink_to_fit();
        t.table.shrink_to(0, |&i| {
            let (s, e) = (t.key_off[i as usize] as usize, t.key_off[i as usize + 1] as usize);
            hash_bytes(&t.arena[s..e])
        });
        t
    }
}

pub struct KeyTable {
    arena: Vec<u8>,
    key_off: Vec<u32>,
    table: HashTable<u32>,
    val_off: Vec<u32>,
    vals: Vec<u32>,
    filter: Vec<u64>,
    filter_mask: u64,
}

impl KeyTable {
    fn filter_bit(&self, h: u64) -> (usize, u64) {
        // bits the table's bucket index and tag do not use
        let b = (h >> 24) & self.filter_mask;
        ((b >> 6) as usize, 1u64 << (b & 63))
    }

    /// Ask for the filter's cache line of a key hash ahead of [`Self::get_hashed`].
    pub fn prefetch(&self, h: u64) {
        let (w, _) = self.filter_bit(h);
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_prefetch(self.filter.as_ptr().add(w) as *const i8, std::arch::x86_64::_MM_HINT_T0);
        }
    }

    /// [`Self::id`] for a key whose [`hash_bytes`] is `h`.
    pub fn id_hashed(&self, key: &[u8], h: u64) -> Option<u32> {
        let (w, b) = self.filter_bit(h);
        if self.filter[w] & b == 0 {
            return None;
        }
        self.table.find(h, |&id| self.key(id) == key).copied()
    }

    /// [`Self::get`] for a key whose [`hash_bytes`] is `h`.
    pub fn get_hashed(&self, key: &[u8], h: u64) -> Option<&[u32]> {
        self.id_hashed(key, h).map(|id| self.values_of(id))
    }

    /// Ask for the cache line of key `id`'s offsets (ahead of [`Self::key`]).
    pub fn prefetch_offsets(&self, id: u32) {
        prefetch(&self.key_off[id as usize]);
    }

    /// Ask for the first cache line of key `id`'s bytes (its offsets read).
    pub fn prefetch_key(&self, id: u32) {
        if let Some(b) = self.arena.get(self.key_off[id as usize] as usize) {
            prefetch(b);
        }
    }

    pub fn key(&self, id: u32) -> &[u8] {
        &self.arena[self.key_off[id as usize] as usize..self.key_off[id as usize + 1] as usize]
    }

    pub fn id(&self, key: &[u8]) -> Option<u32> {
        self.id_hashed(key, hash_bytes(key))
    }

    pub fn values_of(&self, id: u32) -> &[u32] {
        &self.vals[self.val_off[id as usize] as usize..self.val_off[id as usize + 1] as usize]
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u32]> {
        self.id(key).map(|id| self.values_of(id))
    }

    pub fn len(&self) -> usize {
        self.key_off.len() - 1
    }

    pub fn bytes(&self) -> usize {
        self.arena.capacity()
            + 4 * (self.key_off.capacity() + self.val_off.capacity() + self.vals.capacity())
            + 5 * self.table.capacity()
            + 8 * self.filter.capacity()
    }
}

fn prefetch<T>(slot: &T) {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch(slot as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
}
