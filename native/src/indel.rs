//! Indel similarity (what rapidfuzz's `Indel.normalized_similarity` and `fuzz.ratio`
//! compute), exact to the bit: distance = len(a) + len(b) - 2 * LCS, and the float
//! arithmetic is the same as rapidfuzz's.

/// Length of the longest common subsequence (bit-parallel, Hyyrö), any lengths.
pub fn lcs(a: &[u8], b: &[u8]) -> usize {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if a.len() <= 64 {
        let mask = if a.len() == 64 { !0 } else { (1u64 << a.len()) - 1 };
        let mut s: u64 = !0;
        for_each_match(a, b, |m| {
            let u = s & m & mask;
            s = s.wrapping_add(u) | (s.wrapping_sub(u));
        });
        return (!s & mask).count_ones() as usize;
    }
    Pattern::new(a).lcs(b)
}

/// `f(m)` for each character of `b`, `m` the bits of the positions of `a` (at most 64
/// long) that hold it; bits at and above `a.len()` are to be ignored. The masks come from
/// 16-byte comparisons rather than one pass over `a` per character.
#[inline(always)]
fn for_each_match(a: &[u8], b: &[u8], mut f: impl FnMut(u64)) {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        use std::arch::x86_64::*;
        let mut buf = [0u8; 64];
        buf[..a.len()].copy_from_slice(a);
        let blocks = a.len().div_ceil(16);
        let v: [__m128i; 4] = std::array::from_fn(|k| _mm_loadu_si128(buf.as_ptr().add(16 * k) as *const __m128i));
        for &ch in b {
            let c = _mm_set1_epi8(ch as i8);
            let mut m = _mm_movemask_epi8(_mm_cmpeq_epi8(v[0], c)) as u32 as u64;
            for (k, vk) in v.iter().enumerate().take(blocks).skip(1) {
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(*vk, c)) as u32 as u64) << (16 * k);
            }
            f(m);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for &ch in b {
        f(a.iter().enumerate().filter(|(_, &x)| x == ch).fold(0u64, |m, (i, _)| m | 1 << i));
    }
}

/// Per-character bit masks of one string, built once and compared with many.
pub struct Pattern {
    len: usize,
    words: usize,
    masks: Vec<u64>, // words * 256
}

impl Pattern {
    pub fn new(a: &[u8]) -> Pattern {
        let words = a.len().div_ceil(64).max(1);
        let mut masks = vec![0u64; words * 256];
        for (i, &ch) in a.iter().enumerate() {
            masks[(i / 64) * 256 + ch as usize] |= 1 << (i % 64);
        }
        Pattern { len: a.len(), words, masks }
    }

    pub fn lcs(&self, b: &[u8]) -> usize {
        if self.len == 0 || b.is_empty() {
            return 0;
        }
        if self.words == 1 {
            let mut s: u64 = !0;
            for &ch in b {
                let u = s & self.masks[ch as usize];
                s = s.wrapping_add(u) | (s.wrapping_sub(u));
            }
            let mask = if self.len == 64 { !0 } else { (1u64 << self.len) - 1 };
            return (!s & mask).count_ones() as usize;
        }
        let mut s = vec![!0u64; self.words];
        for &ch in b {
            let mut carry = 0u64;
            for (w, sw) in s.iter_mut().enumerate() {
                let m = self.masks[w * 256 + ch as usize];
                let u = *sw & m;
                let (x, c1) = sw.overflowing_add(u);
                let (x, c2) = x.overflowing_add(carry);
                carry = (c1 | c2) as u64;
                *sw = x | (sw.wrapping_sub(u));
            }
        }
        let mut total = 0usize;
        for (w, sw) in s.iter().enumerate() {
            let bits = if w + 1 == self.words && self.len % 64 != 0 {
                (1u64 << (self.len % 64)) - 1
            } else {
                !0
            };
            total += (!sw & bits).count_ones() as usize;
        }
        total
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

/// rapidfuzz `Indel.normalized_similarity(a, b)` (no cutoff).
pub fn normalized_similarity(a: &[u8], b: &[u8]) -> f64 {
    let lensum = a.len() + b.len();
    if lensum == 0 {
        return 1.0;
    }
    let dist = lensum - 2 * lcs(a, b);
    1.0 - (dist as f64) / (lensum as f64)
}

/// rapidfuzz `fuzz.ratio(a, b, score_cutoff=cutoff)` for a pattern built from `a`:
/// the score (0-100), or 0 below the cutoff.
pub fn ratio_with_cutoff(pat: &Pattern, b: &[u8], cutoff: f64) -> f64 {
    let sim_cutoff = cutoff / 100.0;
    let norm_cutoff = 1.0 - sim_cutoff;
    let lensum = pat.len() + b.len();
    let norm_dist = if lensum == 0 {
        0.0
    } else {
        let dist = lensum - 2 * pat.lcs(b);
        (dist as f64) / (lensum as f64)
    };
    let norm_dist = if norm_dist <= norm_cutoff { norm_dist } else { 1.0 };
    let sim = 1.0 - norm_dist;
    let sim = if sim >= sim_cutoff { sim } else { 0.0 };
    sim * 100.0
}

/// Python's `round(x, ndigits)` for 0 <= x (exact: half-even on the binary value).
pub fn py_round(x: f64, ndigits: u32) -> f64 {
    if !(x > 0.0) || !x.is_finite() {
        return if x == 0.0 { 0.0 } else { x };
    }
    let scale: u128 = 10u128.pow(ndigits);
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, e) = if exp == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp - 1075) };
    if e >= 0 {
        return x; // an integer already
    }
    let sh = (-e) as u32;
    if sh > 110 {
        return 0.0; // far below half a unit of the last kept digit
    }
    if sh < 64 && scale <= 1 << 10 {
        // the same sums in 64 bits (num < 2^63): what scores and features take, on
        // every pair of name parts
        let num = scale as u64 * mant;
        let mut k = num >> sh;
        let rem = num - (k << sh);
        let half = 1u64 << (sh - 1);
        if rem > half || (rem == half && k & 1 == 1) {
            k += 1;
        }
        return k as f64 / scale as f64;
    }
    round_wide(mant, sh, scale)
}

/// [`py_round`]'s sums in 128 bits (x * scale = mant * scale / 2^sh).
fn round_wide(mant: u64, sh: u32, scale: u128) -> f64 {
    let num = scale * mant as u128; // x * scale = num / 2^sh
    let mut k = num >> sh;
    let rem = num - (k << sh);
    let half = 1u128 << (sh - 1);
    if rem > half || (rem == half && k & 1 == 1) {
        k += 1;
    }
    k as f64 / scale as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_blocks_agree_with_the_short_path() {
        let a = b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
        let b = b"xbcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh";
        let dp = {
            let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
            for i in 1..=a.len() {
                for j in 1..=b.len() {
                    t[i][j] = if a[i - 1] == b[j - 1] {
                        t[i - 1][j - 1] + 1
                    } else {
                        t[i - 1][j].max(t[i][j - 1])
                    };
                }
            }
            t[a.len()][b.len()]
        };
        assert_eq!(lcs(a, b), dp);
        assert_eq!(Pattern::new(a).lcs(b), dp);
    }

    #[test]
    fn short_lcs_agrees_with_the_pattern_path() {
        let words: [&[u8]; 8] = [b"", b"a", b"mohammed", b"muhammad al", b"abcdefghijklmnopq", b"qponmlkjihgfedcba x", b"\0\0a", &[b'z'; 64]];
        for a in words {
            for b in words {
                let want = if a.is_empty() || b.is_empty() { 0 } else { Pattern::new(a).lcs(b) };
                assert_eq!(lcs(a, b), want, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(0.375, 2), 0.38);
        assert_eq!(py_round(0.8333333333333334, 2), 0.83);
        assert_eq!(py_round(0.67385, 4), 0.6738); // 0.67385 is just below in binary
    }

    #[test]
    fn rounding_in_64_bits_is_the_wide_rounding() {
        let mut values: Vec<f64> = Vec::new();
        for k in 0..=8000u32 {
            for d in [1000.0, 1024.0, 8000.0] {
                let x = k as f64 / d;
                values.extend([x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits().saturating_sub(1))]);
            }
        }
        let mut r: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..200_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            values.push((r >> 11) as f64 / (1u64 << 53) as f64);
        }
        values.extend([1e-300, 4.9e-324, 0.0004, 0.0005, 0.00048828125]);
        for x in values {
            if !(x > 0.0) || x >= 1.0 {
                continue;
            }
            let bits = x.to_bits();
            let exp = ((bits >> 52) & 0x7ff) as i32;
            let frac = bits & ((1u64 << 52) - 1);
            let (mant, e) = if exp == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp - 1075) };
            let sh = (-e) as u32;
            for nd in [2u32, 3, 4] {
                let want = if sh > 110 { 0.0 } else { round_wide(mant, sh, 10u128.pow(nd)) };
                assert_eq!(py_round(x, nd).to_bits(), want.to_bits(), "{x} {nd}");
            }
        }
    }
}
