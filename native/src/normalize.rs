//! The word-level half of `enrichers/watchlist/normalize.py` (`_word_tokens` and
//! `Normalizer._normalize` after folding): a port with the same steps in the same order,
//! on the folded name (lower-case ASCII: unidecode writes ASCII). The tables (legal
//! forms, dropped words, number words, abbreviations) come from the Python module, so
//! there is one copy of them; `normalize.py` stays the reference and the unit tests hold
//! the two to the same `NormalizedName` on the list and labelled names.

// hashbrown's default hasher: each word of a party name is looked up in several tables
use hashbrown::{HashMap, HashSet};

type Phrase = (Vec<Vec<u8>>, Vec<u8>); // words, generic form

/// The tables `Normalizer` holds, handed over once.
pub struct Tables {
    pub by_first: HashMap<Vec<u8>, Vec<Phrase>>, // longest phrase first
    pub by_last: HashMap<Vec<u8>, Vec<Phrase>>,
    pub max_len: usize,
    pub dropped: HashSet<Vec<u8>>, // stop words and honorifics
    pub numbers: HashMap<Vec<u8>, Vec<u8>>, // number words and roman numerals
    pub abbreviations: Vec<(Vec<u8>, Vec<u8>)>,
}

/// `NormalizedName`'s tokens, legal forms, numbers and joined words (`tokens` empty: the
/// caller keeps the folded name itself).
pub struct Words {
    pub tokens: Vec<Vec<u8>>,
    pub legal: Vec<Vec<u8>>,
    pub numbers: Vec<Vec<u8>>,
    pub joined: Vec<u8>,
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// `re.sub(rf"\b{abbr}\b", full, text)` on ASCII text.
fn replace_word(text: &[u8], abbr: &[u8], full: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + full.len());
    let mut i = 0;
    while i < text.len() {
        let end = i + abbr.len();
        // a word boundary: a word character on one side only
        let starts = (i > 0 && is_word_char(text[i - 1])) != is_word_char(abbr[0]);
        let ends = (end < text.len() && is_word_char(text[end])) != is_word_char(abbr[abbr.len() - 1]);
        if text[i..].starts_with(abbr) && starts && ends {
            out.extend_from_slice(full);
            i = end;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

impl Tables {
    /// `_word_tokens`: apostrophes join, other punctuation splits, runs of single
    /// letters join.
    pub fn word_tokens(&self, folded: &[u8]) -> Vec<Vec<u8>> {
        let mut text = replace(folded, b"'s ", b" ");
        text.retain(|&c| c != b'`' && c != b'\'');
        if text.contains(&b'&') {
            text = replace(&text, b"&", b" and ");
        }
        for (abbr, full) in &self.abbreviations {
            if text.windows(abbr.len()).any(|w| w == abbr.as_slice()) {
                text = replace_word(&text, abbr, full);
            }
        }
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut run: Vec<u8> = Vec::new();
        for tok in text.split(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit())).filter(|t| !t.is_empty()) {
            if tok.len() == 1 && tok[0].is_ascii_lowercase() {
                run.push(tok[0]);
                continue;
            }
            if !run.is_empty() {
                out.push(std::mem::take(&mut run));
            }
            out.push(tok.to_vec());
        }
        if !run.is_empty() {
            out.push(run);
        }
        out
    }

    /// `Normalizer._form_at`: the legal form phrase starting at `pos` (or ending there).
    fn form_at(&self, words: &[Vec<u8>], pos: usize, ending: bool, long_only: bool) -> Option<(usize, &[u8])> {
        let n = words.len();
        let limit = self.max_len.min(if long_only { n } else { n.saturating_sub(1) });
        let phrases = if ending {
            if pos == 0 || pos > n {
                return None;
            }
            self.by_last.get(&words[pos - 1])?
        } else {
            self.by_first.get(words.get(pos)?)?
        };
        for (phrase, generic) in phrases {
            let size = phrase.len();
            if size > limit {
                continue;
            }
            let at = if ending { pos.checked_sub(size) } else { Some(pos) };
            match at {
                Some(s) if s + size <= n && words[s..s + size] == phrase[..] => {}
                _ => continue,
            }
            if !long_only || size > 1 || phrase[0].len() >= 5 {
                return Some((size, generic));
            }
        }
        None
    }

    /// `_number`: digits without leading zeros, an ordinal's digits, a number word's or
    /// roman numeral's value.
    fn number(&self, tok: &[u8]) -> Option<Vec<u8>> {
        if tok[0].is_ascii_digit() {
            if tok.iter().all(u8::is_ascii_digit) {
                let t: &[u8] = match tok.iter().position(|&c| c != b'0') {
                    Some(i) => &tok[i..],
                    None => b"0",
                };
                return Some(t.to_vec());
            }
            let digits = tok.iter().take_while(|c| c.is_ascii_digit()).count();
            let suffix = &tok[digits..];
            let ordinal = matches!(suffix, b"st" | b"nd" | b"rd" | b"th");
            return ordinal.then(|| tok[..digits].to_vec());
        }
        self.numbers.get(tok).cloned()
    }

    /// `Normalizer._normalize` of a folded name.
    pub fn normalize(&self, folded: &[u8]) -> Words {
        let mut words = self.word_tokens(folded);
        let dropped = |w: &[u8]| self.dropped.contains(w);
        let joined: Vec<u8> = words.iter().filter(|w| !dropped(w)).flat_map(|w| w.iter().copied()).collect();
        let mut legal: Vec<Vec<u8>> = Vec::new();
        let mut tail: Vec<Vec<u8>> = Vec::new();
        // short legal forms only at either end, long or multi-word ones anywhere
        while words.len() > 1 && self.by_last.contains_key(&words[words.len() - 1]) {
            let Some((size, generic)) = self.form_at(&words, words.len(), true, false) else { break };
            tail.insert(0, generic.to_vec());
            words.truncate(words.len() - size);
        }
        while words.len() > 1 && self.by_first.contains_key(&words[0]) {
            let Some((size, generic)) = self.form_at(&words, 0, false, false) else { break };
            legal.push(generic.to_vec());
            words.drain(..size);
        }
        let mut tokens: Vec<Vec<u8>> = Vec::new();
        let mut numbers: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            if let Some((size, generic)) = self.form_at(&words, i, false, true) {
                if words.len() > size {
                    legal.push(generic.to_vec());
                    i += size;
                    continue;
                }
            }
            let tok = &words[i];
            i += 1;
            if dropped(tok) {
                continue;
            }
            match self.number(tok) {
                Some(num) => {
                    numbers.push(num.clone());
                    tokens.push(num);
                }
                None => tokens.push(tok.clone()),
            }
        }
        legal.extend(tail);
        if tokens.is_empty() {
            // only legal-form words, stop words or honorifics: keep what there was
            tokens = words;
        }
        Words { tokens, legal, numbers, joined }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_are_replaced_as_whole_words_only() {
        assert_eq!(replace_word(b"acme intl", b"intl", b"international"), b"acme international");
        assert_eq!(replace_word(b"intl_x intls", b"intl", b"international"), b"intl_x intls");
        assert_eq!(replace_word(b"intl-intl", b"intl", b"i"), b"i-i");
    }
}
