//! The candidate index and the whole per-query pipeline: a port of `NameIndex`
//! (`_blocking_chunks`, `candidate_arrays`) and `ScreeningIndex.scored_positions_batch`
//! / the scoring loop of `_search`, with the same sums in the same order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::indel::{ratio_with_cutoff, Pattern};
use crate::keys::{hash_bytes, KeyTable, KeyTableBuilder};
use crate::scoring::{can_reach, is_alpha, is_digits, score_names, similarity_matrix_into, skeleton, Name, Params};

/// A normalised name handed over from Python (`NormalizedName` fields).
pub struct Query {
    pub tokens: Vec<Vec<u8>>,
    pub legal: Vec<Vec<u8>>,
    pub numbers: Vec<Vec<u8>>,
    pub abjad: bool,
    pub joined: Vec<u8>,
}

/// `MatcherConfig` as the candidate step uses it.
#[derive(Clone, Copy)]
pub struct Limits {
    pub min_share: f64,
    pub max_blocked: usize,
    pub min_score: f64,
    pub coverage_blend: f64,
    pub cutoff: f64,
    pub max_candidates: usize,
    pub keep_by_bound: usize,
}

pub struct Tuning {
    pub min_fuzzy_len: usize,
    pub min_double_edit_len: usize,
    pub variant_cache_size: usize,
}

/// One blocking key of a query and its weight: the names in any of its lists (a query
/// token's variants are one chunk of several vocabulary lists; a name in two of them
/// counts once — it gets the chunk's bit once).
struct Chunk<'a> {
    lists: Vec<&'a [u32]>,
    weight: f64,
    opening: bool,
}

/// Which chunks of the query each name is in, one bit a chunk (chunk order): the shared
/// weight is summed afterwards from the bits, in the grouping numpy's `reduceat` used
/// (first chunk, then the rest). One byte a name (a 300 KB table, in the core's own
/// cache) for queries of up to 8 chunks, two for 9-16, eight for 17-64.
#[derive(Default)]
struct Scratch<T> {
    mask: Vec<T>,
    touched: Vec<u32>,
}

/// A per-name chunk mask: 8 bits (most queries), 16 or 64.
trait Mask: Copy + Default + PartialEq + std::ops::BitOrAssign {
    fn bit(b: usize) -> Self;
    fn wide(self) -> u64;
}

macro_rules! masks {
    ($($t:ty),*) => {$(
        impl Mask for $t {
            fn bit(b: usize) -> Self {
                1 << b
            }
            fn wide(self) -> u64 {
                self as u64
            }
        }
    )*};
}

masks!(u8, u16, u64);

/// Ask for the cache line of `slot` ahead of use: postings jump around the name table,
/// and waiting on memory is most of what accumulating them costs.
#[inline(always)]
fn prefetch<T>(slot: &T) {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch(slot as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
}

const AHEAD: usize = 16;
/// Chunks a query can have in the byte, narrow and wide bit masks (a query of 22+ words
/// has more than the wide one holds: see `shared_slow`).
const BYTE_CHUNKS: usize = 8;
const NARROW_CHUNKS: usize = 16;
const MAX_CHUNKS: usize = 64;

/// The shared weight of a name in the chunks of `bits`: the first chunk's weight plus
/// the others', summed in a row up to eight and pairwise beyond (as numpy's `reduceat`).
fn shared_weight(chunks: &[Chunk], mut bits: u64) -> f64 {
    let k = bits.count_ones();
    let first = chunks[bits.trailing_zeros() as usize].weight;
    bits &= bits - 1;
    if k == 1 {
        return first;
    }
    if k <= 8 {
        let mut rest = chunks[bits.trailing_zeros() as usize].weight;
        bits &= bits - 1;
        while bits != 0 {
            rest += chunks[bits.trailing_zeros() as usize].weight;
            bits &= bits - 1;
        }
        return first + rest;
    }
    let mut seq: Vec<f64> = Vec::with_capacity(k as usize - 1);
    while bits != 0 {
        seq.push(chunks[bits.trailing_zeros() as usize].weight);
        bits &= bits - 1;
    }
    first + pairwise_sum(&seq)
}

#[derive(Default)]
struct State {
    // query token and its abjad flag (a last byte) -> vocabulary ids; hashbrown's fast
    // hasher, looked up through `variant_key` (no key allocated per look-up)
    variants: hashbrown::HashMap<Box<[u8]>, Arc<[u32]>>,
    variant_key: Vec<u8>,
    byte: Scratch<u8>,
    narrow: Scratch<u16>,
    wide: Scratch<u64>,
}

pub struct Index {
    pub params: Params,
    tuning: Tuning,
    n: usize,
    tok_off: Vec<u32>,
    tok_ids: Vec<u32>,
    legal_off: Vec<u32>,
    legal_ids: Vec<u32>,
    num_off: Vec<u32>,
    num_ids: Vec<u32>,
    words: KeyTable, // legal forms and numbers, interned
    abjad: Vec<bool>,
    joined_off: Vec<u32>,
    joined_arena: Vec<u8>,
    key_off: Vec<u32>,
    key_arena: Vec<u8>, // words sorted, for the whole-name ranking
    recs: Vec<NameRec>, // what the bound and the ranking's filters read of a name
    vocab: KeyTable, // token -> name positions (sorted, unique)
    tok_weight: Vec<f64>,
    deletes: KeyTable,   // one-deletion key -> token ids
    skeletons: KeyTable, // consonant skeleton -> token ids
    joined: KeyTable,    // run-together words -> name positions
    state: Mutex<State>,
}

fn push_range(off: &mut Vec<u32>, ids: &mut Vec<u32>, table: &mut KeyTableBuilder, items: &[Vec<u8>]) {
    for it in items {
        ids.push(table.intern(it));
    }
    off.push(ids.len() as u32);
}

/// Letters counted per group in a name's sorted key (16 groups, one byte each): the
/// common subsequence of two keys has at most `min` of each group's counts, so the sum
/// of minima bounds the whole-name ratio without reading the key.
type Letters = [u8; 16];

/// What a name reached by a query is read for, in 16 bytes: its weight (the bound), its
/// key length and letter counts (the whole-name ranking's first filters). One cache miss
/// a name reached: the filters are worked out with the bound, for the names kept, and
/// carried in their blocked keys (two separate tables cost a second miss a blocked name).
#[repr(C, align(16))]
struct NameRec {
    weight: f32, // the sum of the name's token weights (1 when 0)
    key_len: u32,
    letters: u64, // [`Letters`] four bits a group, 15 standing for 15 or more
}

const fn letter_groups() -> [u8; 256] {
    let mut g = [15u8; 256];
    let groups: [&[u8]; 15] =
        [b"a", b"e", b"i", b"o", b"u", b"n", b"r", b"s", b"l", b"t", b"h", b"m", b"dbp", b"kgcqj", b"ywvfzx"];
    let mut i = 0;
    while i < 15 {
        let mut j = 0;
        while j < groups[i].len() {
            g[groups[i][j] as usize] = i as u8;
            j += 1;
        }
        i += 1;
    }
    g
}

const LETTER_GROUP: [u8; 256] = letter_groups();

fn letters(key: &[u8]) -> Letters {
    if key.len() >= 255 {
        return [255; 16]; // counts would saturate: bound by the other side alone
    }
    let mut c = [0u8; 16];
    for &b in key {
        c[LETTER_GROUP[b as usize] as usize] += 1;
    }
    c
}

/// [`Letters`] in four bits a group: a count of 15 or more is 15, which
/// [`common_letters_packed`] reads as 255, so the bound stays a bound.
fn pack_letters(c: &Letters) -> u64 {
    c.iter().enumerate().fold(0u64, |p, (g, &n)| p | (n.min(15) as u64) << (4 * g))
}

/// [`common_letters`] against packed counts ([`pack_letters`]).
fn common_letters_packed(a: &Letters, b: u64) -> usize {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        // the nibbles spread to bytes (low nibbles the even groups), 15 raised to 255
        use std::arch::x86_64::*;
        let x = _mm_cvtsi64_si128(b as i64);
        let nib = _mm_set1_epi8(0x0f);
        let lo = _mm_and_si128(x, nib);
        let hi = _mm_and_si128(_mm_srli_epi16(x, 4), nib);
        let v = _mm_unpacklo_epi8(lo, hi);
        let v = _mm_or_si128(v, _mm_cmpeq_epi8(v, nib));
        let m = _mm_min_epu8(_mm_loadu_si128(a.as_ptr() as *const __m128i), v);
        let s = _mm_sad_epu8(m, _mm_setzero_si128());
        (_mm_cvtsi128_si64(s) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s))) as usize
    }
    #[cfg(not(target_arch = "x86_64"))]
    a.iter()
        .enumerate()
        .map(|(g, &x)| {
            let n = ((b >> (4 * g)) & 15) as u8;
            x.min(if n == 15 { 255 } else { n }) as usize
        })
        .sum()
}

/// At most this many characters in common between two keys with these letter counts.
#[cfg(test)]
fn common_letters(a: &Letters, b: &Letters) -> usize {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        // one byte-wise minimum and one sum of absolute differences against zero
        use std::arch::x86_64::*;
        let m = _mm_min_epu8(_mm_loadu_si128(a.as_ptr() as *const __m128i), _mm_loadu_si128(b.as_ptr() as *const __m128i));
        let s = _mm_sad_epu8(m, _mm_setzero_si128());
        (_mm_cvtsi128_si64(s) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s))) as usize
    }
    #[cfg(not(target_arch = "x86_64"))]
    a.iter().zip(b).map(|(&x, &y)| x.min(y) as usize).sum()
}

/// The name position in a blocked key (see [`Index::bounded`]).
fn key_pos(bkey: u128) -> u32 {
    (bkey >> 32) as u32
}

/// The low 32 bits of a blocked key whose name's key is too long for 16 bits (never
/// for a real name): the ranking's filters are worked out from the key itself.
const FILTERS_FALLBACK: u32 = u32::MAX;

/// A query's sorted key, its length and letter counts (the whole-name ranking's).
struct KeyStats {
    key: Vec<u8>,
    len: usize,
    letters: Letters,
}

impl KeyStats {
    fn of(q: &Query) -> KeyStats {
        let toks: Vec<&[u8]> = q.tokens.iter().map(|t| t.as_slice()).collect();
        let key = sorted_key(&toks);
        KeyStats { len: key.len(), letters: letters(&key), key }
    }
}

fn sorted_key(tokens: &[&[u8]]) -> Vec<u8> {
    let mut t: Vec<&[u8]> = tokens.to_vec();
    t.sort();
    t.join(&b' ')
}

fn deletions(token: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..token.len())
        .map(|i| {
            let mut d = Vec::with_capacity(token.len() - 1);
            d.extend_from_slice(&token[..i]);
            d.extend_from_slice(&token[i + 1..]);
            d
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// numpy's pairwise float sum (what `np.add.reduceat` applies after a segment's first value).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut r = 0.0;
        for &x in a {
            r += x;
        }
        r
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

pub fn weight_of(df: usize, n: usize, token_len: usize) -> f64 {
    let n = n.max(1);
    let mut w = if df == 0 || n <= 1 {
        1.0
    } else {
        let idf = ((n + 1) as f64 / (df as f64 + 0.5)).ln() / ((n + 1) as f64).ln();
        0.25 + 0.75 * idf.max(0.0).min(1.0)
    };
    if token_len == 1 {
        w *= 0.5;
    }
    w
}

impl Index {
    pub fn build(names: &[Query], params: Params, tuning: Tuning) -> Index {
        let n = names.len();
        let mut words = KeyTableBuilder::new();
        let mut vocab = KeyTableBuilder::new();
        let mut joined = KeyTableBuilder::new();
        let (mut tok_off, mut tok_ids) = (vec![0u32], Vec::new());
        let (mut legal_off, mut legal_ids) = (vec![0u32], Vec::new());
        let (mut num_off, mut num_ids) = (vec![0u32], Vec::new());
        let (mut joined_off, mut joined_arena) = (vec![0u32], Vec::new());
        let (mut key_off, mut key_arena) = (vec![0u32], Vec::new());
        let mut abjad = Vec::with_capacity(n);
        for (pos, q) in names.iter().enumerate() {
            let pos = pos as u32;
            let mut seen: Vec<&[u8]> = Vec::with_capacity(q.tokens.len());
            for t in &q.tokens {
                if !seen.contains(&t.as_slice()) {
                    seen.push(t);
                    vocab.push(t, pos);
                }
            }
            for t in &q.tokens {
                tok_ids.push(vocab.intern(t));
            }
            tok_off.push(tok_ids.len() as u32);
            if q.tokens.len() > 1 {
                for w in q.tokens.windows(2) {
                    joined.push(&[w[0].as_slice(), w[1].as_slice()].concat(), pos);
                }
            }
            let compact: Vec<u8> = q.tokens.concat();
            if !q.joined.is_empty() && q.joined != compact {
                joined.push(&q.joined, pos);
            }
            push_range(&mut legal_off, &mut legal_ids, &mut words, &q.legal);
            push_range(&mut num_off, &mut num_ids, &mut words, &q.numbers);
            abjad.push(q.abjad);
            joined_arena.extend_from_slice(&q.joined);
            joined_off.push(joined_arena.len() as u32);
            let toks: Vec<&[u8]> = q.tokens.iter().map(|t| t.as_slice()).collect();
            key_arena.extend_from_slice(&sorted_key(&toks));
            key_off.push(key_arena.len() as u32);
        }
        let vocab = vocab.finish();
        let tok_weight: Vec<f64> = (0..vocab.len() as u32)
            .map(|t| weight_of(vocab.values_of(t).len(), n, vocab.key(t).len()))
            .collect();
        let recs: Vec<NameRec> = (0..n)
            .map(|i| {
                let s = tok_ids[tok_off[i] as usize..tok_off[i + 1] as usize]
                    .iter()
                    .fold(0.0f64, |acc, &t| acc + tok_weight[t as usize]) as f32;
                let key = &key_arena[key_off[i] as usize..key_off[i + 1] as usize];
                NameRec {
                    weight: if s > 0.0 { s } else { 1.0 },
                    key_len: key.len() as u32,
                    letters: pack_letters(&letters(key)),
                }
            })
            .collect();
        let mut deletes = KeyTableBuilder::new();
        let mut skeletons = KeyTableBuilder::new();
        for tid in 0..vocab.len() as u32 {
            let tok = vocab.key(tid);
            if tok.len() >= tuning.min_fuzzy_len && !is_digits(tok) {
                for d in deletions(tok) {
                    deletes.push(&d, tid);
                }
            }
            if is_alpha(tok) && tok.len() >= 2 {
                skeletons.push(&skeleton(tok), tid);
            }
        }
        Index {
            params,
            tuning,
            n,
            tok_off,
            tok_ids,
            legal_off,
            legal_ids,
            num_off,
            num_ids,
            words: words.finish(),
            abjad,
            joined_off,
            joined_arena,
            key_off,
            key_arena,
            recs,
            vocab,
            tok_weight,
            deletes: deletes.finish(),
            skeletons: skeletons.finish(),
            joined: joined.finish(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    /// `TokenStats.weight` over the indexed names.
    pub fn weight(&self, token: &[u8]) -> f64 {
        match self.vocab.id(token) {
            Some(t) => self.tok_weight[t as usize],
            None => weight_of(0, self.n, token.len()),
        }
    }

    pub fn query_name<'a>(&self, q: &'a Query) -> Name<'a> {
        Name {
            tokens: q.tokens.iter().map(|t| t.as_slice()).collect(),
            weights: q.tokens.iter().map(|t| self.weight(t)).collect(),
            legal: q.legal.iter().map(|t| t.as_slice()).collect(),
            numbers: q.numbers.iter().map(|t| t.as_slice()).collect(),
            abjad: q.abjad,
            joined: &q.joined,
        }
    }

    pub fn indexed_name(&self, pos: usize) -> Name<'_> {
        let mut name = Name { tokens: vec![], weights: vec![], legal: vec![], numbers: vec![], abjad: false, joined: &[] };
        self.indexed_name_into(pos, &mut name);
        name
    }

    /// Ask for what [`Self::indexed_name`] reads of the names at `positions`, a level of
    /// indirection at a time for all of them (offsets, then token ids and bytes of the
    /// joined words, then the tokens' offsets and weights, then their bytes): a query
    /// scores several names, each a chain of trips to memory that would otherwise be
    /// waited on one after the other.
    pub fn prefetch_names(&self, positions: &[u32]) {
        for &pos in positions {
            let pos = pos as usize;
            prefetch(&self.tok_off[pos]);
            prefetch(&self.joined_off[pos]);
            prefetch(&self.legal_off[pos]);
            prefetch(&self.num_off[pos]);
            prefetch(&self.abjad[pos]);
        }
        for &pos in positions {
            let pos = pos as usize;
            if let Some(t) = self.tok_ids.get(self.tok_off[pos] as usize) {
                prefetch(t);
            }
            if let Some(b) = self.joined_arena.get(self.joined_off[pos] as usize) {
                prefetch(b);
            }
        }
        for &pos in positions {
            for &t in &self.tok_ids[self.tok_off[pos as usize] as usize..self.tok_off[pos as usize + 1] as usize] {
                self.vocab.prefetch_offsets(t);
                prefetch(&self.tok_weight[t as usize]);
            }
        }
        for &pos in positions {
            for &t in &self.tok_ids[self.tok_off[pos as usize] as usize..self.tok_off[pos as usize + 1] as usize] {
                self.vocab.prefetch_key(t);
            }
        }
    }

    /// [`Self::indexed_name`] into `name`, its lists' room kept (a query scores several).
    fn indexed_name_into<'a>(&'a self, pos: usize, name: &mut Name<'a>) {
        let ids = &self.tok_ids[self.tok_off[pos] as usize..self.tok_off[pos + 1] as usize];
        name.tokens.clear();
        name.tokens.extend(ids.iter().map(|&t| self.vocab.key(t)));
        name.weights.clear();
        name.weights.extend(ids.iter().map(|&t| self.tok_weight[t as usize]));
        let words = |out: &mut Vec<&'a [u8]>, off: &[u32], ids: &[u32]| {
            out.clear();
            out.extend(ids[off[pos] as usize..off[pos + 1] as usize].iter().map(|&w| self.words.key(w)));
        };
        words(&mut name.legal, &self.legal_off, &self.legal_ids);
        words(&mut name.numbers, &self.num_off, &self.num_ids);
        name.abjad = self.abjad[pos];
        name.joined = &self.joined_arena[self.joined_off[pos] as usize..self.joined_off[pos + 1] as usize];
    }

    fn sorted_key_of(&self, pos: usize) -> &[u8] {
        &self.key_arena[self.key_off[pos] as usize..self.key_off[pos + 1] as usize]
    }

    /// Vocabulary ids within one edit of `token` (or sharing its skeleton, abjad).
    /// Deletions are written into one buffer (a deletion inside a run of the same
    /// letter is the same string as the run's first: looked up once).
    pub fn token_variants(&self, token: &[u8], abjad: bool) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        if let Some(t) = self.vocab.id(token) {
            out.push(t);
        }
        let len = token.len();
        if len >= self.tuning.min_fuzzy_len && !is_digits(token) {
            if let Some(hit) = self.deletes.get(token) {
                out.extend_from_slice(hit);
            }
            // every distinct deletion string into one buffer with its hash, the filters'
            // cache lines asked for, then the lookups (first deletions: the vocabulary
            // and the deletion keys; second deletions: the deletion keys)
            let double = len >= self.tuning.min_double_edit_len;
            let mut buf: Vec<u8> = Vec::new();
            let mut keys: Vec<(usize, usize, u64, bool)> = Vec::new(); // start, end, hash, first
            let mut push = |buf: &mut Vec<u8>, parts: &[&[u8]], first: bool| {
                let start = buf.len();
                for p in parts {
                    buf.extend_from_slice(p);
                }
                let h = hash_bytes(&buf[start..]);
                self.deletes.prefetch(h);
                if first {
                    self.vocab.prefetch(h);
                }
                keys.push((start, buf.len(), h, first));
            };
            for i in 0..len {
                if i > 0 && token[i] == token[i - 1] {
                    continue;
                }
                push(&mut buf, &[&token[..i], &token[i + 1..]], true);
                if double {
                    // second deletions after the first one's position: every pair once
                    for j in i + 1..len {
                        if j > i + 1 && token[j] == token[j - 1] {
                            continue;
                        }
                        push(&mut buf, &[&token[..i], &token[i + 1..j], &token[j + 1..]], false);
                    }
                }
            }
            for &(start, end, h, first) in &keys {
                let d = &buf[start..end];
                if first {
                    if let Some(t) = self.vocab.id_hashed(d, h) {
                        out.push(t);
                    }
                }
                if let Some(hit) = self.deletes.get_hashed(d, h) {
                    out.extend_from_slice(hit);
                }
            }
        }
        if abjad && is_alpha(token) {
            if let Some(hit) = self.skeletons.get(&skeleton(token)) {
                out.extend_from_slice(hit);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`Self::token_variants`], memoised per query token: traffic repeats first names,
    /// surnames and trade words far more than whole names.
    fn variant_ids(&self, state: &mut State, token: &[u8], abjad: bool) -> Arc<[u32]> {
        state.variant_key.clear();
        state.variant_key.extend_from_slice(token);
        state.variant_key.push(abjad as u8);
        if let Some(hit) = state.variants.get(state.variant_key.as_slice()) {
            return hit.clone();
        }
        let tids: Arc<[u32]> = Arc::from(self.token_variants(token, abjad));
        if state.variants.len() >= self.tuning.variant_cache_size {
            state.variants.clear();
        }
        state.variants.insert(state.variant_key.as_slice().into(), tids.clone());
        tids
    }

    fn blocking_chunks<'a>(&'a self, state: &mut State, q: &Query, min_share: f64) -> (f64, Vec<Chunk<'a>>) {
        let toks = &q.tokens;
        let mut chunks: Vec<Chunk<'a>> = Vec::new();
        if toks.is_empty() {
            return (0.0, chunks);
        }
        let mut weighted: Vec<(&[u8], f64)> = Vec::new();
        for t in toks {
            if !weighted.iter().any(|(x, _)| *x == t.as_slice()) {
                weighted.push((t, self.weight(t)));
            }
        }
        weighted.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        let total = weighted.iter().fold(0.0, |acc, (_, w)| acc + w);
        let wmap = |t: &[u8]| weighted.iter().find(|(x, _)| *x == t).unwrap().1;
        if !q.joined.is_empty() {
            if let Some(hit) = self.joined.get(&q.joined) {
                chunks.push(Chunk { lists: vec![hit], weight: total, opening: true });
            }
        }
        for w in toks.windows(2) {
            if let Some(t) = self.vocab.id(&[w[0].as_slice(), w[1].as_slice()].concat()) {
                chunks.push(Chunk {
                    lists: vec![self.vocab.values_of(t)],
                    weight: wmap(&w[0]) + wmap(&w[1]),
                    opening: true,
                });
            }
        }
        for &(tok, w) in &weighted {
            if tok.len() >= self.tuning.min_fuzzy_len {
                if let Some(hit) = self.joined.get(tok) {
                    chunks.push(Chunk { lists: vec![hit], weight: w, opening: true });
                }
            }
        }
        let floor = min_share * total;
        let mut remaining = total;
        for &(tok, w) in &weighted {
            let opening = remaining >= floor;
            remaining -= w;
            if tok.len() == 1 && !is_digits(tok) {
                continue;
            }
            let tids = self.variant_ids(state, tok, q.abjad);
            if !tids.is_empty() {
                let lists = tids.iter().map(|&t| self.vocab.values_of(t)).collect();
                chunks.push(Chunk { lists, weight: w, opening });
            }
        }
        (total, chunks)
    }

    /// Into `blocked`, a key for every name the query's blocking keys reach with a share
    /// of its weight and an optimistic score bound that pass the limits: the key orders
    /// names best bound first, ties by position (the bits of a bound >= 0 order as the
    /// bounds do, in the top 64 bits), the next 32 bits are the position ([`key_pos`]),
    /// the low 32 what the whole-name ranking's filters need of the name against the
    /// query's sorted key `qk` ([`key_filters`]). False when no blocking key opens
    /// candidates.
    fn bounded(&self, state: &mut State, q: &Query, lim: &Limits, qk: &KeyStats, blocked: &mut Vec<u128>) -> bool {
        let (total, chunks) = self.blocking_chunks(state, q, lim.min_share);
        if !chunks.iter().any(|c| c.opening) {
            return false;
        }
        let cb = lim.coverage_blend;
        let need = lim.min_share * total;
        let mut found = |pos: u32, shared: f64| {
            // below the share it needs a name is not kept whatever its weight: its
            // weight (a trip to memory) is not read
            if shared < need {
                return;
            }
            let rec = &self.recs[pos as usize];
            let wn = rec.weight as f64;
            let shared_n = shared.min(wn);
            let coverage = (shared_n / total.min(wn)).min(1.0);
            let overlap = (2.0 * shared_n / (total + wn)).min(1.0);
            let bound = cb * coverage + (1.0 - cb) * overlap;
            let keep = bound >= lim.min_score;
            // the key length and the letters in common, from the record already read
            let l = rec.key_len as usize;
            let filters = if l < 0xffff {
                let common = common_letters_packed(&qk.letters, rec.letters).min(l.min(qk.len));
                (l << 16 | common) as u32
            } else {
                FILTERS_FALLBACK
            };
            // every name written, the length moved past it only when it is kept: about
            // half are, and a branch on it would be mispredicted as often
            if blocked.len() == blocked.capacity() {
                blocked.reserve(blocked.len().max(256));
            }
            let n = blocked.len();
            // SAFETY: the slot at `n` is within the capacity reserved above
            unsafe {
                blocked.as_mut_ptr().add(n).write(((!bound.to_bits() as u128) << 64) | (pos as u128) << 32 | filters as u128);
                blocked.set_len(n + keep as usize);
            }
        };
        if chunks.len() <= BYTE_CHUNKS {
            self.shared_by_mask(&mut state.byte, &chunks, found);
        } else if chunks.len() <= NARROW_CHUNKS {
            self.shared_by_mask(&mut state.narrow, &chunks, found);
        } else if chunks.len() <= MAX_CHUNKS {
            self.shared_by_mask(&mut state.wide, &chunks, found);
        } else {
            for (pos, shared) in self.shared_slow(&chunks) {
                found(pos, shared);
            }
        }
        true
    }

    /// `NameIndex.candidates`: positions by optimistic score bound, best first.
    fn candidates_locked(&self, state: &mut State, q: &Query, lim: &Limits, max: usize) -> Vec<u32> {
        let mut ranked: Vec<u128> = Vec::new();
        if !self.bounded(state, q, lim, &KeyStats::of(q), &mut ranked) {
            return Vec::new();
        }
        if ranked.len() > max && max > 0 {
            ranked.select_nth_unstable(max - 1);
            ranked.truncate(max);
        }
        ranked.sort_unstable();
        ranked.truncate(max);
        ranked.into_iter().map(key_pos).collect()
    }

    /// `found(name, shared weight)` for the names an opening chunk reaches (in the order
    /// first reached); closing chunks (common tokens, after every opening one) only add
    /// weight to names already found.
    fn shared_by_mask<T: Mask>(&self, sc: &mut Scratch<T>, chunks: &[Chunk], mut found: impl FnMut(u32, f64)) {
        if sc.mask.len() != self.n {
            *sc = Scratch { mask: vec![T::default(); self.n], touched: Vec::new() };
        }
        let zero = T::default();
        for (b, c) in chunks.iter().enumerate() {
            let bit = T::bit(b);
            if c.opening {
                for postings in &c.lists {
                    for (i, &pos) in postings.iter().enumerate() {
                        if let Some(&ahead) = postings.get(i + AHEAD) {
                            prefetch(&sc.mask[ahead as usize]);
                        }
                        let m = &mut sc.mask[pos as usize];
                        if *m == zero {
                            sc.touched.push(pos);
                        }
                        *m |= bit;
                    }
                }
                continue;
            }
            // fewer names found than the chunk holds: look them up in its sorted lists
            let found = sc.touched.len();
            let walk: usize = c.lists.iter().map(|l| l.len()).sum();
            let search: usize = c.lists.iter().map(|l| (usize::BITS - l.len().leading_zeros()) as usize).sum();
            if found * search <= walk {
                for &pos in &sc.touched {
                    if c.lists.iter().any(|l| l.binary_search(&pos).is_ok()) {
                        sc.mask[pos as usize] |= bit;
                    }
                }
            } else {
                for postings in &c.lists {
                    for (i, &pos) in postings.iter().enumerate() {
                        if let Some(&ahead) = postings.get(i + AHEAD) {
                            prefetch(&sc.mask[ahead as usize]);
                        }
                        let m = &mut sc.mask[pos as usize];
                        if *m != zero {
                            *m |= bit;
                        }
                    }
                }
            }
        }
        let opening: u64 = chunks.iter().enumerate().filter(|(_, c)| c.opening).fold(0, |m, (b, _)| m | 1 << b);
        // up to 8 chunks: each mask's shared weight summed once, at its first name (a
        // query has at most 256 masks and reaches hundreds of names)
        let mut by_mask = [f64::NAN; 1 << BYTE_CHUNKS];
        let small = chunks.len() <= BYTE_CHUNKS;
        // the loop asks a stride ahead: the first stride asked for here
        for &pos in sc.touched.iter().take(AHEAD) {
            prefetch(&sc.mask[pos as usize]);
            prefetch(&self.recs[pos as usize]);
        }
        for (i, &pos) in sc.touched.iter().enumerate() {
            if let Some(&ahead) = sc.touched.get(i + AHEAD) {
                prefetch(&sc.mask[ahead as usize]);
                prefetch(&self.recs[ahead as usize]);
            }
            let bits = std::mem::take(&mut sc.mask[pos as usize]).wide();
            if bits & opening != 0 {
                let shared = if small {
                    let slot = &mut by_mask[bits as usize];
                    if slot.is_nan() {
                        *slot = shared_weight(chunks, bits);
                    }
                    *slot
                } else {
                    shared_weight(chunks, bits)
                };
                found(pos, shared);
            }
        }
        sc.touched.clear();
    }

    /// [`Self::shared_by_mask`] for a query with more chunks than mask bits (22+ words).
    fn shared_slow(&self, chunks: &[Chunk]) -> Vec<(u32, f64)> {
        let mut seqs: HashMap<u32, (Vec<f64>, usize)> = HashMap::new(); // weights, last chunk
        let mut order: Vec<u32> = Vec::new();
        for (b, c) in chunks.iter().enumerate() {
            for &pos in c.lists.iter().flat_map(|l| l.iter()) {
                match seqs.get_mut(&pos) {
                    Some((_, last)) if *last == b => {}
                    Some((seq, last)) => {
                        seq.push(c.weight);
                        *last = b;
                    }
                    None if c.opening => {
                        seqs.insert(pos, (vec![c.weight], b));
                        order.push(pos);
                    }
                    None => {}
                }
            }
        }
        order
            .into_iter()
            .map(|pos| {
                let seq = &seqs[&pos].0;
                let shared = match seq.len() {
                    1 => seq[0],
                    2..=8 => seq[0] + seq[2..].iter().fold(seq[1], |acc, &w| acc + w),
                    _ => seq[0] + pairwise_sum(&seq[1..]),
                };
                (pos, shared)
            })
            .collect()
    }

    pub fn candidates(&self, q: &Query, lim: &Limits, max: usize) -> Vec<u32> {
        let mut state = self.state.lock().unwrap();
        self.candidates_locked(&mut state, q, lim, max)
    }

    /// `(key length, letters in common with the query)` of the name of a blocked key
    /// (read from the key, or worked out for a key too long for it).
    fn key_filters(&self, bkey: u128, qk: &KeyStats) -> (usize, usize) {
        let filters = bkey as u32;
        if filters != FILTERS_FALLBACK {
            return ((filters >> 16) as usize, (filters & 0xffff) as usize);
        }
        let key = self.sorted_key_of(key_pos(bkey) as usize);
        let common = common_letters_packed(&qk.letters, pack_letters(&letters(key)));
        (key.len(), common.min(key.len().min(qk.len)))
    }

    /// `ScreeningIndex.scored_positions`: blocked names ranked by whole-name similarity
    /// (Indel ratio of the word-sorted names), plus the best few by blocking bound.
    ///
    /// The same names as ranking the best `max_blocked` by bound in bound order, without
    /// sorting them: the best `max_blocked` are selected (not sorted), each one's length
    /// and letters in common (in its blocked key) looked at, and only the names whose
    /// ratio could reach the cutoff sorted (their bound order breaks ties in the ranking)
    /// and ranked.
    fn scored_positions_locked(&self, state: &mut State, q: &Query, lim: &Limits) -> Vec<u32> {
        let qk = KeyStats::of(q);
        let lq = qk.len;
        let k = lim.max_candidates;
        let mut blocked: Vec<u128> = Vec::new();
        self.bounded(state, q, lim, &qk, &mut blocked);
        let max = lim.max_blocked;
        if blocked.is_empty() || max == 0 {
            return Vec::new();
        }
        if blocked.len() > max {
            blocked.select_nth_unstable(max - 1);
            blocked.truncate(max);
        }
        // of the best `max_blocked`, the names whose ratio could reach the cutoff, by
        // length and letter counts
        let mut viable: Vec<(u128, f64)> = Vec::new(); // key, bound on the ratio
        for &bkey in blocked.iter().take(if k == 0 { 0 } else { usize::MAX }) {
            let (l, common) = self.key_filters(bkey, &qk);
            if ((200 * l.min(lq)) as f64) < lim.cutoff * ((l + lq) as f64) {
                continue;
            }
            let ub = 200.0 * (common as f64) / ((l + lq) as f64);
            if ub >= lim.cutoff - 1e-9 {
                viable.push((bkey, ub));
            }
        }
        viable.sort_unstable_by_key(|v| v.0);
        let pat = Pattern::new(&qk.key);
        // the best `max_candidates` by (score desc, bound order), as rapidfuzz's extract
        // orders them; once full, a name whose letter counts keep it at or below the
        // last kept score cannot enter (it would lose the tie on bound order)
        let mut scored: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        // the loop asks strides ahead: the first names' offsets and keys asked for here
        for &(bkey, _) in viable.iter().take(2 * AHEAD) {
            prefetch(&self.key_off[key_pos(bkey) as usize]);
        }
        for &(bkey, _) in viable.iter().take(AHEAD) {
            prefetch(&self.key_arena[(self.key_off[key_pos(bkey) as usize] as usize).min(self.key_arena.len() - 1)]);
        }
        for (i, &(bkey, ub)) in viable.iter().enumerate() {
            // the keys are scattered over the arena: ask for the offsets two strides
            // ahead and the key bytes one stride ahead
            if let Some(&(far, _)) = viable.get(i + 2 * AHEAD) {
                prefetch(&self.key_off[key_pos(far) as usize]);
            }
            if let Some(&(near, _)) = viable.get(i + AHEAD) {
                prefetch(&self.key_arena[(self.key_off[key_pos(near) as usize] as usize).min(self.key_arena.len() - 1)]);
            }
            let floor = if scored.len() == k { scored[k - 1].0.max(lim.cutoff) } else { lim.cutoff };
            if ub < floor - 1e-9 {
                continue;
            }
            let pos = key_pos(bkey);
            let s = ratio_with_cutoff(&pat, self.sorted_key_of(pos as usize), lim.cutoff);
            if s < lim.cutoff {
                continue;
            }
            let at = scored.partition_point(|x| x.0 >= s);
            if at < k {
                scored.insert(at, (s, pos));
                scored.truncate(k);
            }
        }
        let mut out: Vec<u32> = Vec::new();
        for &(_, pos) in &scored {
            if !out.contains(&pos) {
                out.push(pos);
            }
        }
        // the best few by bound
        let keep = lim.keep_by_bound.min(blocked.len());
        if keep > 0 && keep < blocked.len() {
            blocked.select_nth_unstable(keep - 1);
        }
        blocked[..keep].sort_unstable();
        for &bkey in &blocked[..keep] {
            let pos = key_pos(bkey);
            if !out.contains(&pos) {
                out.push(pos);
            }
        }
        out
    }

    pub fn scored_positions(&self, q: &Query, lim: &Limits) -> Vec<u32> {
        let mut state = self.state.lock().unwrap();
        self.scored_positions_locked(&mut state, q, lim)
    }

    /// The names scored for a query with their `score_names` scores; with a `floor`,
    /// names below it are left out (unscored where `can_reach` proves it): the caller
    /// would drop them, and most queries then hand back nothing.
    pub fn search(&self, q: &Query, floor: Option<f64>, lim: &Limits) -> Vec<(u32, f64)> {
        let positions = {
            let mut state = self.state.lock().unwrap();
            self.scored_positions_locked(&mut state, q, lim)
        };
        self.prefetch_names(&positions);
        let a = self.query_name(q);
        let p = &self.params;
        let mut out = Vec::with_capacity(positions.len());
        let mut b = Name { tokens: vec![], weights: vec![], legal: vec![], numbers: vec![], abjad: false, joined: &[] };
        let mut sims = Vec::new();
        for pos in positions {
            self.indexed_name_into(pos as usize, &mut b);
            similarity_matrix_into(&a, &b, p, &mut sims);
            if let Some(f) = floor {
                if !can_reach(&a, &b, f, p, &sims) {
                    continue;
                }
            }
            let score = score_names(&a, &b, p, &sims);
            if floor.is_none_or(|f| score >= f) {
                out.push((pos, score));
            }
        }
        out
    }

    pub fn clear_caches(&self) {
        self.state.lock().unwrap().variants.clear();
    }

    pub fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("names", self.n),
            ("tokens", self.vocab.len()),
            ("deletion_keys", self.deletes.len()),
            ("skeleton_keys", self.skeletons.len()),
            ("joined_keys", self.joined.len()),
        ]
    }

    pub fn bytes(&self) -> usize {
        let v = |x: usize| 4 * x;
        v(self.tok_off.capacity() + self.tok_ids.capacity())
            + v(self.legal_off.capacity() + self.legal_ids.capacity())
            + v(self.num_off.capacity() + self.num_ids.capacity())
            + v(self.joined_off.capacity() + self.key_off.capacity())
            + self.joined_arena.capacity()
            + self.key_arena.capacity()
            + std::mem::size_of::<NameRec>() * self.recs.capacity()
            + self.abjad.capacity()
            + 8 * self.tok_weight.capacity()
            + self.words.bytes()
            + self.vocab.bytes()
            + self.deletes.bytes()
            + self.skeletons.bytes()
            + self.joined.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(words: &str) -> Query {
        Query {
            tokens: words.split(' ').map(|w| w.as_bytes().to_vec()).collect(),
            legal: vec![],
            numbers: vec![],
            abjad: false,
            joined: words.replace(' ', "").into_bytes(),
        }
    }

    fn params() -> Params {
        Params::from_slice(&[0.4, 0.15, 0.45, 1.0, 1.5, 0.63, 0.2, 0.08, 0.8, 0.6, 0.9]).unwrap()
    }

    #[test]
    fn letter_counts_bound_the_common_subsequence() {
        let keys: [&[u8]; 6] = [b"al hassan muhammad", b"ahmad al hasan", b"xyz 123", b"", b"zhang longbao", b"li jiadong"];
        for a in keys {
            for b in keys {
                let common = common_letters(&letters(a), &letters(b));
                assert!(crate::indel::lcs(a, b) <= common.min(a.len().min(b.len())));
            }
            assert_eq!(common_letters(&letters(a), &letters(a)), a.len());
        }
        let long = vec![b'a'; 300];
        assert!(common_letters(&letters(&long), &letters(b"aaa")) >= 3);
    }

    #[test]
    fn packed_letter_counts_bound_as_the_bytes_do() {
        // counts under 15 kept; 15 and more read as no limit (a looser bound, still a bound)
        let keys: [&[u8]; 7] = [
            b"al hassan muhammad",
            b"ahmad al hasan",
            b"xyz 123",
            b"",
            b"aaaaaaaaaaaaaaa bbbb",
            b"aaaaaaaaaaaaaaaaaaaaaaaaa",
            b"zhang longbao wuyfzxyvw",
        ];
        for a in keys {
            for b in keys {
                let (la, lb) = (letters(a), letters(b));
                let packed = common_letters_packed(&la, pack_letters(&lb));
                assert!(crate::indel::lcs(a, b) <= packed.min(a.len().min(b.len())));
                assert!(packed >= common_letters(&la, &lb));
                if lb.iter().all(|&c| c < 15) {
                    assert_eq!(packed, common_letters(&la, &lb));
                }
            }
        }
        let long = vec![b'a'; 300];
        assert_eq!(common_letters_packed(&letters(b"aaa"), pack_letters(&letters(&long))), 3);
    }

    #[test]
    fn mask_and_slow_paths_find_the_same_shared_weights() {
        let words = ["al", "muhammad", "mohammed", "ali", "hassan", "trading", "company", "khan", "nasser", "abu"];
        let mut names: Vec<Query> = (0..400)
            .map(|i: usize| {
                let n = 1 + i % 4;
                let ws: Vec<&str> = (0..n).map(|k| words[(i * 7 + k * 3 + i / 5) % words.len()]).collect();
                name(&ws.join(" "))
            })
            .collect();
        names.push(name("zanzibar al"));
        names.push(name("qorvex muhammad ali"));
        names.push(name("muhammad mohammed ali"));
        let tuning = Tuning { min_fuzzy_len: 4, min_double_edit_len: 7, variant_cache_size: 100 };
        let index = Index::build(&names, params(), tuning);
        let mut state = State::default();
        let (mut closing, mut shared_lists) = (0, 0);
        for q in ["mohammad ali", "zanzibar al ali", "qorvex muhammad al ali", "mohamed al hasan trading company", "abu khan nasser al ali"] {
            let (_, chunks) = index.blocking_chunks(&mut state, &name(q), 0.3);
            closing += chunks.iter().filter(|c| !c.opening).count();
            // a token's variants: several lists in one chunk, names in more than one
            shared_lists += chunks
                .iter()
                .filter(|c| c.lists.len() > 1 && c.lists[0].iter().any(|p| c.lists[1].contains(p)))
                .count();
            assert!(chunks.len() <= BYTE_CHUNKS);
            let (mut byte, mut narrow, mut fast) = (Vec::new(), Vec::new(), Vec::new());
            index.shared_by_mask(&mut state.byte, &chunks, |pos, w| byte.push((pos, w)));
            index.shared_by_mask(&mut state.narrow, &chunks, |pos, w| narrow.push((pos, w)));
            index.shared_by_mask(&mut state.wide, &chunks, |pos, w| fast.push((pos, w)));
            byte.sort_by_key(|x| x.0);
            narrow.sort_by_key(|x| x.0);
            let mut slow = index.shared_slow(&chunks);
            fast.sort_by_key(|x| x.0);
            slow.sort_by_key(|x| x.0);
            assert!(!fast.is_empty());
            assert_eq!(fast, slow, "{q}");
            assert_eq!(narrow, slow, "{q}");
            assert_eq!(byte, slow, "{q}");
        }
        assert!(closing > 0 && shared_lists > 0);
    }
}
