//! Name scoring: a line-by-line port of `enrichers/watchlist/scoring.py`
//! (`token_similarity`, `align`, `score_names`, `can_reach`), with the same float
//! operations in the same order so the scores are bit-identical.

use crate::indel::{normalized_similarity, py_round};

/// `ScoringParams`, in field order.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub coverage_blend: f64,
    pub single_word_blend: f64,
    pub conflict_base: f64,
    pub conflict_scale: f64,
    pub sim_power: f64,
    pub min_token_sim: f64,
    pub number_penalty: f64,
    pub legal_form_penalty: f64,
    pub initial_sim: f64,
    pub initial_weight: f64,
    pub joined_floor: f64,
}

impl Params {
    pub fn from_slice(v: &[f64]) -> Option<Params> {
        if v.len() != 11 {
            return None;
        }
        Some(Params {
            coverage_blend: v[0],
            single_word_blend: v[1],
            conflict_base: v[2],
            conflict_scale: v[3],
            sim_power: v[4],
            min_token_sim: v[5],
            number_penalty: v[6],
            legal_form_penalty: v[7],
            initial_sim: v[8],
            initial_weight: v[9],
            joined_floor: v[10],
        })
    }
}

const VOWEL_VARIANT_SIM: f64 = 0.9;

/// A normalised name as scoring sees it (borrowed from a query or the index).
pub struct Name<'a> {
    pub tokens: Vec<&'a [u8]>,
    pub weights: Vec<f64>, // TokenStats.weight of each token
    pub legal: Vec<&'a [u8]>,
    pub numbers: Vec<&'a [u8]>,
    pub abjad: bool,
    pub joined: &'a [u8],
}

pub fn is_digits(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|c| c.is_ascii_digit())
}

pub fn is_alpha(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|c| c.is_ascii_alphabetic())
}

/// `normalize.skeleton`: consonants only, p/v as b/f, runs collapsed.
pub fn skeleton(token: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; token.len()];
    let n = skeleton_to(token, &mut out);
    out.truncate(n);
    out
}

/// [`skeleton`] written into `out` (at least `token.len()` long); returns its length.
fn skeleton_to(token: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut push = |c: u8| {
        if n == 0 || out[n - 1] != c {
            out[n] = c;
            n += 1;
        }
    };
    let head = matches!(token.first(), Some(b'y') | Some(b'w'));
    if head {
        push(token[0]);
    }
    for &c in &token[head as usize..] {
        match c {
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y' | b'w' => {}
            b'p' => push(b'b'),
            b'v' => push(b'f'),
            _ => push(c),
        }
    }
    if n == 0 && !token.is_empty() {
        out[0] = token[0];
        n = 1;
    }
    n
}

/// `f(skeleton(token))`, the skeleton on the stack for tokens of up to 64 letters.
fn with_skeleton<R>(token: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if token.len() <= 64 {
        let mut buf = [0u8; 64];
        let n = skeleton_to(token, &mut buf);
        f(&buf[..n])
    } else {
        f(&skeleton(token))
    }
}

/// `scoring.token_similarity`.
pub fn token_similarity(a: &[u8], b: &[u8], abjad: bool, initial_sim: f64) -> f64 {
    if a == b {
        return 1.0;
    }
    let (la, lb) = (a.len(), b.len());
    if la == 1 || lb == 1 {
        return if a[0] == b[0] && !abjad { initial_sim } else { 0.0 };
    }
    if is_digits(a) || is_digits(b) {
        return 0.0;
    }
    let mut sim = normalized_similarity(a, b);
    if (0.5..VOWEL_VARIANT_SIM).contains(&sim)
        && la >= 4
        && lb >= 4
        && with_skeleton(a, |sa| with_skeleton(b, |sb| sa == sb))
    {
        sim = VOWEL_VARIANT_SIM;
    }
    if abjad {
        let by_skeleton = with_skeleton(a, |sa| {
            with_skeleton(b, |sb| {
                if sa.is_empty() || sb.is_empty() {
                    return 0.0;
                }
                let credit = if sa.len().min(sb.len()) >= 3 { 0.95 } else { 0.8 };
                credit * normalized_similarity(sa, sb)
            })
        });
        if by_skeleton > sim {
            sim = by_skeleton;
        }
    }
    if sim < 1.0 {
        py_round(sim, 2)
    } else {
        1.0
    }
}

/// Token similarities of every pair of parts, row-major (`a` rows, `b` columns).
pub fn similarity_matrix(a: &Name, b: &Name, p: &Params) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.tokens.len() * b.tokens.len());
    similarity_matrix_into(a, b, p, &mut out);
    out
}

/// [`similarity_matrix`] into `out` (emptied first; a query scores several names).
pub fn similarity_matrix_into(a: &Name, b: &Name, p: &Params, out: &mut Vec<f64>) {
    let abjad = a.abjad != b.abjad;
    out.clear();
    for x in &a.tokens {
        for y in &b.tokens {
            out.push(token_similarity(x, y, abjad, p.initial_sim));
        }
    }
}

fn same_set(a: &[&[u8]], b: &[&[u8]]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|y| a.contains(y))
}

fn disjoint(a: &[&[u8]], b: &[&[u8]]) -> bool {
    !a.iter().any(|x| b.contains(x))
}

fn joined_similarity(a: &Name, b: &Name) -> f64 {
    // all tokens run together (`NormalizedName.compact`), built only here: few pairs get here
    let (ca, cb) = (a.tokens.concat(), b.tokens.concat());
    let mut joined = normalized_similarity(a.joined, b.joined).max(normalized_similarity(&ca, &cb));
    if a.abjad != b.abjad {
        let sk = normalized_similarity(&skeleton(&ca), &skeleton(&cb));
        if sk >= 0.95 {
            joined = joined.max(0.95 * sk);
        }
    }
    joined
}

fn py_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

/// `scoring.can_reach`: false when `score_names(a, b)` is sure to stay below `floor`.
pub fn can_reach(a: &Name, b: &Name, floor: f64, p: &Params, sims: &[f64]) -> bool {
    let (ta, tb) = (&a.tokens, &b.tokens);
    if ta.is_empty() || tb.is_empty() {
        return floor <= 0.0;
    }
    let m = p.min_token_sim;
    let mut part_a = vec![false; ta.len()];
    let mut part_b = vec![false; tb.len()];
    for i in 0..ta.len() {
        for j in 0..tb.len() {
            if sims[i * tb.len() + j] >= m {
                part_a[i] = true;
                part_b[j] = true;
            }
        }
    }
    let mut mult = 1.0;
    if !same_set(&a.numbers, &b.numbers) {
        mult *= 1.0 - p.number_penalty;
    }
    if !a.legal.is_empty() && !b.legal.is_empty() && disjoint(&a.legal, &b.legal) {
        mult *= 1.0 - p.legal_form_penalty;
    }
    let need = floor - 1e-4;
    let cap;
    if part_a.iter().all(|&x| x) || part_b.iter().all(|&x| x) {
        let mut c = 1.0;
        if ta.iter().all(|t| t.len() > 1) && tb.iter().all(|t| t.len() > 1) {
            let (wa, wb) = (&a.weights, &b.weights);
            let mut got = py_sum(wa.iter().zip(&part_a).filter(|(_, &ok)| ok).map(|(&w, _)| w));
            got += py_sum(wb.iter().zip(&part_b).filter(|(_, &ok)| ok).map(|(&w, _)| w));
            let dice = got / (py_sum(wa.iter().copied()) + py_sum(wb.iter().copied()));
            let blend = if ta.len().min(tb.len()) > 1 { p.coverage_blend } else { p.single_word_blend };
            c = (blend + (1.0 - blend) * dice).min(1.0);
        }
        cap = c;
    } else {
        cap = 1.0 - p.conflict_base;
    }
    if cap * mult >= need {
        return true;
    }
    let joined = joined_similarity(a, b);
    joined >= p.joined_floor && joined * mult >= need
}

/// What `scoring.score_names` reports besides the score: the aligned parts and the
/// features (unrounded), so the explanation of a hit needs no second scoring.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Detail {
    pub score: f64,
    pub exact: bool,
    pub pairs: Vec<(usize, usize, f64)>,
    pub coverage: f64,
    pub overlap: f64,
    pub conflict: f64,
    pub joined: Option<f64>,
    pub number_mismatch: bool,
    pub legal_form_mismatch: bool,
}

/// `NameScore.explain()` of the score `d` of `a` against `b` (`NameScore.from_core`
/// names and rounds the features): `parts[a~b:0.93, ...] coverage=1.00, ...`. Features
/// are rounded to 3 places (Python's `round`) and shown to 2, zeros left out; Rust's
/// `{:.2}` is Python's `:.2f` (both exact, ties to even on the binary value).
pub fn explanation(d: &Detail, a: &Name, b: &Name) -> String {
    use std::fmt::Write;
    let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
    let mut out = String::from("parts[");
    if a.tokens.is_empty() || b.tokens.is_empty() {
        out.push(']');
        return out;
    }
    if d.exact {
        for (i, t) in a.tokens.iter().enumerate() {
            let t = text(t);
            let _ = write!(out, "{}{t}~{t}:1.00", if i > 0 { ", " } else { "" });
        }
        out.push_str("] exact=1.00");
        return out;
    }
    for (k, &(i, j, s)) in d.pairs.iter().enumerate() {
        let sep = if k > 0 { ", " } else { "" };
        let _ = write!(out, "{sep}{}~{}:{s:.2}", text(a.tokens[i]), text(b.tokens[j]));
    }
    out.push(']');
    let mut first = true;
    let mut feature = |out: &mut String, name: &str, value: f64| {
        let _ = write!(out, "{}{name}={value:.2}", if first { " " } else { ", " });
        first = false;
    };
    for (name, value) in [("coverage", d.coverage), ("overlap", d.overlap), ("conflict", d.conflict)]
        .into_iter()
        .chain(d.joined.map(|j| ("joined", j)))
    {
        // conflict can be a rounding error below zero: Python's round is symmetric
        let shown = if value < 0.0 { -py_round(-value, 3) } else { py_round(value, 3) };
        if shown != 0.0 {
            feature(&mut out, name, shown);
        }
    }
    if d.number_mismatch {
        feature(&mut out, "number_mismatch", 1.0);
    }
    if d.legal_form_mismatch {
        feature(&mut out, "legal_form_mismatch", 1.0);
    }
    out
}

/// `scoring.score_names(a, b).score`.
pub fn score_names(a: &Name, b: &Name, p: &Params, sims: &[f64]) -> f64 {
    score_detail(a, b, p, sims).score
}

/// `scoring.score_names(a, b)`: the score and its features.
pub fn score_detail(a: &Name, b: &Name, p: &Params, sims: &[f64]) -> Detail {
    let (ta, tb) = (&a.tokens, &b.tokens);
    let (la, lb) = (ta.len(), tb.len());
    if la == 0 || lb == 0 {
        return Detail::default();
    }
    if ta == tb && a.legal == b.legal {
        let pairs = (0..la).map(|i| (i, i, 1.0)).collect();
        return Detail { score: 1.0, exact: true, pairs, ..Detail::default() };
    }
    // align: best pairs first, ties by position
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    for i in 0..la {
        for j in 0..lb {
            let s = sims[i * lb + j];
            if s >= p.min_token_sim {
                cands.push((s, i, j));
            }
        }
    }
    cands.sort_by(|x, y| {
        y.0.partial_cmp(&x.0).unwrap().then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2))
    });
    let mut used_a = vec![false; la];
    let mut used_b = vec![false; lb];
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for (s, i, j) in cands {
        if used_a[i] || used_b[j] {
            continue;
        }
        used_a[i] = true;
        used_b[j] = true;
        pairs.push((i, j, s));
    }
    let mut wa = a.weights.clone();
    let mut wb = b.weights.clone();
    for &(i, j, _) in &pairs {
        if ta[i].len() == 1 && tb[j].len() > 1 {
            wb[j] *= p.initial_weight;
            wa[i] = wb[j];
        } else if tb[j].len() == 1 && ta[i].len() > 1 {
            wa[i] *= p.initial_weight;
            wb[j] = wa[i];
        }
    }
    let (sum_a, sum_b) = (py_sum(wa.iter().copied()), py_sum(wb.iter().copied()));
    let sp = p.sim_power;
    let got_a = py_sum(pairs.iter().map(|&(i, _, s)| s.powf(sp) * wa[i]));
    let got_b = py_sum(pairs.iter().map(|&(_, j, s)| s.powf(sp) * wb[j]));
    let (cov_a, cov_b) = (got_a / sum_a, got_b / sum_b);
    let dice = (got_a + got_b) / (sum_a + sum_b);
    let shorter = if la < lb || (la == lb && sum_a <= sum_b) { cov_a } else { cov_b };
    let blend = if la.min(lb) > 1 { p.coverage_blend } else { p.single_word_blend };
    let mut token_score = blend * shorter + (1.0 - blend) * dice;
    let un_a = 1.0 - py_sum(pairs.iter().map(|&(i, _, _)| wa[i])) / sum_a;
    let un_b = 1.0 - py_sum(pairs.iter().map(|&(_, j, _)| wb[j])) / sum_b;
    let conflict = if un_b < un_a { un_b } else { un_a };
    if conflict > 0.0 {
        token_score *= (1.0 - p.conflict_base - p.conflict_scale * conflict).max(0.0);
    }
    let mut score = token_score;
    let mut joined_used = None;
    let one_sided_number = a.numbers.is_empty() != b.numbers.is_empty();
    if !one_sided_number && (la != lb || pairs.len() < la.min(lb)) {
        let joined = joined_similarity(a, b);
        if joined >= p.joined_floor && joined > score {
            joined_used = Some(joined);
            score = joined;
        }
    }
    let number_mismatch = !same_set(&a.numbers, &b.numbers);
    if number_mismatch {
        score *= 1.0 - p.number_penalty;
    }
    let legal_form_mismatch = !a.legal.is_empty() && !b.legal.is_empty() && disjoint(&a.legal, &b.legal);
    if legal_form_mismatch {
        score *= 1.0 - p.legal_form_penalty;
    }
    score = score.min(1.0).max(0.0);
    Detail {
        score: py_round(score, 4),
        exact: false,
        pairs,
        coverage: shorter,
        overlap: dice,
        conflict,
        joined: joined_used,
        number_mismatch,
        legal_form_mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name<'a>(tokens: &[&'a [u8]]) -> Name<'a> {
        Name { tokens: tokens.to_vec(), weights: vec![1.0; tokens.len()], legal: vec![], numbers: vec![], abjad: false, joined: b"" }
    }

    #[test]
    fn explanations_format_as_python_does() {
        // NameScore(0.9, {coverage: round(0.1149996, 3), overlap: round(0.375, 3),
        // conflict: round(-1e-17, 3), joined: round(0.0004, 3)},
        // [("ab", "abc", 0.125), ("x", "y", 0.375)]).explain() in Python: rounded to 3
        // places before shown to 2, ties to even, zeros (and -0.0) left out
        let d = Detail {
            score: 0.9,
            pairs: vec![(0, 0, 0.125), (1, 1, 0.375)],
            coverage: 0.1149996,
            overlap: 0.375,
            conflict: -1e-17,
            joined: Some(0.0004),
            ..Detail::default()
        };
        let (a, b) = (name(&[b"ab", b"x"]), name(&[b"abc", b"y"]));
        assert_eq!(explanation(&d, &a, &b), "parts[ab~abc:0.12, x~y:0.38] coverage=0.12, overlap=0.38");
        let flags = Detail { number_mismatch: true, legal_form_mismatch: true, ..d.clone() };
        assert_eq!(
            explanation(&flags, &a, &b),
            "parts[ab~abc:0.12, x~y:0.38] coverage=0.12, overlap=0.38, number_mismatch=1.00, legal_form_mismatch=1.00"
        );
        let exact = Detail { exact: true, ..Detail::default() };
        assert_eq!(explanation(&exact, &a, &a), "parts[ab~ab:1.00, x~x:1.00] exact=1.00");
        assert_eq!(explanation(&Detail::default(), &name(&[]), &b), "parts[]");
        assert_eq!(explanation(&Detail::default(), &a, &b), "parts[]");
    }
}
