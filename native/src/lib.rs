//! `cargowatch_native`: the watchlist matcher's per-query work in compiled code.
//!
//! `enrichers/watchlist/index.py` builds a [`NativeIndex`] from the normalised list
//! names; `matcher.py` hands it normalised party names in batches and gets back, per
//! name, the list names it scored and their scores. The Python modules stay the
//! reference: `scoring.py` defines the scores and the explanations' text (which
//! `explain` writes here), and the unit tests hold this port to the same scores and text.

mod avro;
mod indel;
mod index;
mod keys;
mod normalize;
mod scoring;

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use index::{Index, Limits, Query, Tuning};
use scoring::{can_reach, explanation, score_detail, score_names, similarity_matrix, Detail, Params};

/// `(tokens, legal_forms, numbers, abjad, joined)` of a `NormalizedName`.
type NameTuple = (Vec<String>, Vec<String>, Vec<String>, bool, String);
/// `(score, exact, [(part of a, part of b, similarity)], coverage, overlap, conflict,
/// joined or None, number mismatch, legal-form mismatch)`: what `score_names` reports.
type DetailTuple = (f64, bool, Vec<(usize, usize, f64)>, f64, f64, f64, Option<f64>, bool, bool);
/// `(min_share, max_blocked, min_score, coverage_blend, cutoff, max_candidates, keep_by_bound)`.
type LimitsTuple = (f64, usize, f64, f64, f64, usize, usize);

fn query(t: NameTuple) -> Query {
    let bytes = |v: Vec<String>| v.into_iter().map(String::into_bytes).collect();
    Query { tokens: bytes(t.0), legal: bytes(t.1), numbers: bytes(t.2), abjad: t.3, joined: t.4.into_bytes() }
}

fn detail_tuple(d: Detail) -> DetailTuple {
    (d.score, d.exact, d.pairs, d.coverage, d.overlap, d.conflict, d.joined, d.number_mismatch, d.legal_form_mismatch)
}

fn limits(t: LimitsTuple) -> Limits {
    Limits {
        min_share: t.0,
        max_blocked: t.1,
        min_score: t.2,
        coverage_blend: t.3,
        cutoff: t.4,
        max_candidates: t.5,
        keep_by_bound: t.6,
    }
}

/// The candidate index over list names, with scoring (see the module docs).
#[pyclass(frozen, module = "cargowatch_native")]
struct NativeIndex {
    inner: Index,
}

#[pymethods]
impl NativeIndex {
    /// `names`: name tuples by index position; `params`: the `ScoringParams` values in
    /// field order; `tuning`: `(MIN_FUZZY_LEN, MIN_DOUBLE_EDIT_LEN, VARIANT_CACHE_SIZE)`.
    #[new]
    fn new(py: Python<'_>, names: Vec<NameTuple>, params: Vec<f64>, tuning: (usize, usize, usize)) -> PyResult<Self> {
        let params = Params::from_slice(&params)
            .ok_or_else(|| PyValueError::new_err("params: the 11 ScoringParams values in field order"))?;
        let names: Vec<Query> = names.into_iter().map(query).collect();
        let tuning = Tuning { min_fuzzy_len: tuning.0, min_double_edit_len: tuning.1, variant_cache_size: tuning.2 };
        let inner = py.detach(|| Index::build(&names, params, tuning));
        Ok(NativeIndex { inner })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// `TokenStats.weight(token)` over the indexed names.
    fn weight(&self, token: &str) -> f64 {
        self.inner.weight(token.as_bytes())
    }

    /// `score_names(a, b, stats, params).score` with this index's token weights.
    fn score(&self, a: NameTuple, b: NameTuple) -> f64 {
        let (qa, qb) = (query(a), query(b));
        let (na, nb) = (self.inner.query_name(&qa), self.inner.query_name(&qb));
        let sims = similarity_matrix(&na, &nb, &self.inner.params);
        score_names(&na, &nb, &self.inner.params, &sims)
    }

    /// `score_names(a, b, stats, params)` with its features (see `DetailTuple`).
    fn score_detail(&self, a: NameTuple, b: NameTuple) -> DetailTuple {
        let (qa, qb) = (query(a), query(b));
        let (na, nb) = (self.inner.query_name(&qa), self.inner.query_name(&qb));
        let sims = similarity_matrix(&na, &nb, &self.inner.params);
        detail_tuple(score_detail(&na, &nb, &self.inner.params, &sims))
    }

    /// The explanation of query `q` against each indexed name at `positions` (a
    /// query's hits): the text of `NameScore.explain()`, written here rather than from
    /// a `DetailTuple` in Python (that was most of a hit's Python time).
    fn explain(&self, q: NameTuple, positions: Vec<u32>) -> Vec<String> {
        let q = query(q);
        let a = self.inner.query_name(&q);
        self.inner.prefetch_names(&positions);
        positions
            .into_iter()
            .map(|pos| {
                let b = self.inner.indexed_name(pos as usize);
                let sims = similarity_matrix(&a, &b, &self.inner.params);
                explanation(&score_detail(&a, &b, &self.inner.params, &sims), &a, &b)
            })
            .collect()
    }

    /// [`Self::explain`] for two names: the text of `score_names(a, b).explain()`.
    fn explain_pair(&self, a: NameTuple, b: NameTuple) -> String {
        let (qa, qb) = (query(a), query(b));
        let (na, nb) = (self.inner.query_name(&qa), self.inner.query_name(&qb));
        let sims = similarity_matrix(&na, &nb, &self.inner.params);
        explanation(&score_detail(&na, &nb, &self.inner.params, &sims), &na, &nb)
    }

    /// `can_reach(a, b, floor, params, stats)`.
    fn can_reach(&self, a: NameTuple, b: NameTuple, floor: f64) -> bool {
        let (qa, qb) = (query(a), query(b));
        let (na, nb) = (self.inner.query_name(&qa), self.inner.query_name(&qb));
        let sims = similarity_matrix(&na, &nb, &self.inner.params);
        can_reach(&na, &nb, floor, &self.inner.params, &sims)
    }

    /// Name positions by optimistic score bound, best first, at most `max_candidates`.
    fn candidates(&self, py: Python<'_>, q: NameTuple, lim: LimitsTuple, max_candidates: usize) -> Vec<u32> {
        let (q, lim) = (query(q), limits(lim));
        py.detach(|| self.inner.candidates(&q, &lim, max_candidates))
    }

    /// The positions fully scored for each query (`None`: none).
    fn scored_positions(&self, py: Python<'_>, queries: Vec<Option<NameTuple>>, lim: LimitsTuple) -> Vec<Vec<u32>> {
        let qs: Vec<Option<Query>> = queries.into_iter().map(|q| q.map(query)).collect();
        let lim = limits(lim);
        py.detach(|| {
            qs.iter()
                .map(|q| q.as_ref().map(|q| self.inner.scored_positions(q, &lim)).unwrap_or_default())
                .collect()
        })
    }

    /// For each query, `(position, score)` of the list names scored; with a floor,
    /// names scoring below it are left out.
    fn search(
        &self,
        py: Python<'_>,
        queries: Vec<Option<NameTuple>>,
        floors: Vec<Option<f64>>,
        lim: LimitsTuple,
    ) -> PyResult<Vec<Vec<(u32, f64)>>> {
        if floors.len() != queries.len() {
            return Err(PyValueError::new_err("one floor (or None) per query"));
        }
        let qs: Vec<Option<Query>> = queries.into_iter().map(|q| q.map(query)).collect();
        let lim = limits(lim);
        Ok(py.detach(|| {
            qs.iter()
                .zip(&floors)
                .map(|(q, f)| q.as_ref().map(|q| self.inner.search(q, *f, &lim)).unwrap_or_default())
                .collect()
        }))
    }

    /// Forget the memoised token variants.
    fn clear_caches(&self) {
        self.inner.clear_caches();
    }

    /// Sizes of the index tables, and the bytes they take.
    fn memory_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.table_sizes() {
            d.set_item(k, v)?;
        }
        d.set_item("native_bytes", self.inner.bytes())?;
        Ok(d)
    }
}

/// The word-level steps of `Normalizer._normalize` (see `normalize.rs`) with the
/// normaliser's tables.
#[pyclass(frozen, module = "cargowatch_native")]
struct NativeNormalizer {
    tables: normalize::Tables,
}

#[pymethods]
impl NativeNormalizer {
    /// `phrases`: `(words, generic form)` of the legal forms, longest first; `dropped`:
    /// stop words and honorifics; `numbers`: number words and roman numerals to digits;
    /// `abbreviations`: `(abbreviation, full word)` in the order they are replaced.
    #[new]
    fn new(
        phrases: Vec<(Vec<String>, String)>,
        dropped: Vec<String>,
        numbers: HashMap<String, String>,
        abbreviations: Vec<(String, String)>,
    ) -> Self {
        let mut by_first: hashbrown::HashMap<Vec<u8>, Vec<_>> = hashbrown::HashMap::new();
        let mut by_last: hashbrown::HashMap<Vec<u8>, Vec<_>> = hashbrown::HashMap::new();
        let mut max_len = 1;
        for (words, generic) in phrases {
            let words: Vec<Vec<u8>> = words.into_iter().map(String::into_bytes).collect();
            let (Some(first), Some(last)) = (words.first().cloned(), words.last().cloned()) else { continue };
            max_len = max_len.max(words.len());
            let phrase = (words, generic.into_bytes());
            by_first.entry(first).or_default().push(phrase.clone());
            by_last.entry(last).or_default().push(phrase);
        }
        let bytes = |(a, b): (String, String)| (a.into_bytes(), b.into_bytes());
        let tables = normalize::Tables {
            by_first,
            by_last,
            max_len,
            dropped: dropped.into_iter().map(String::into_bytes).collect::<hashbrown::HashSet<_>>(),
            numbers: numbers.into_iter().map(bytes).collect(),
            abbreviations: abbreviations.into_iter().map(bytes).collect(),
        };
        NativeNormalizer { tables }
    }

    /// `(tokens, legal_forms, numbers, joined)` of a folded name (lower-case ASCII;
    /// `None` for any other text); `tokens` empty when the name had no word at all.
    fn words<'py>(&self, py: Python<'py>, folded: &str) -> PyResult<Option<Bound<'py, PyTuple>>> {
        if !folded.is_ascii() || folded.bytes().any(|c| c.is_ascii_uppercase()) {
            return Ok(None);
        }
        let w = self.tables.normalize(folded.as_bytes());
        // ASCII in, ASCII out: every piece is valid UTF-8
        let text = |b: &[u8]| PyString::new(py, std::str::from_utf8(b).unwrap_or_default());
        let tuple = |v: &[Vec<u8>]| PyTuple::new(py, v.iter().map(|b| text(b)));
        Ok(Some(PyTuple::new(
            py,
            [tuple(&w.tokens)?.into_any(), tuple(&w.legal)?.into_any(), tuple(&w.numbers)?.into_any(), text(&w.joined).into_any()],
        )?))
    }
}

#[pymodule]
fn cargowatch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeIndex>()?;
    m.add_class::<avro::AvroTranscoder>()?;
    m.add_class::<NativeNormalizer>()?;
    Ok(())
}
