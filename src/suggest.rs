//! "Did you mean" suggestions: the closest known word by edit distance.
//!
//! Pure string work; callers decide what the candidates are.

/// Words longer than this get no suggestion: typos are made in names, not in essays, and
/// the work per candidate grows with the square of the length.
pub const MAX_WORD: usize = 64;

/// Edit distance between two short strings, counting a swap of neighbours as one edit
/// (optimal string alignment), since swapped letters are the commonest typo.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    osa(&a, &b, usize::MAX)
}

/// Optimal string alignment distance, giving up (returning `limit + 1`) as soon as every
/// cell of a row exceeds `limit`.
fn osa(a: &[char], b: &[char], limit: usize) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let w = b.len() + 1;
    // Three rows suffice: the current one, the one before, and the one before that (swaps).
    let mut rows = [vec![0usize; w], (0..w).collect(), vec![0usize; w]];
    for i in 1..=a.len() {
        rows.rotate_left(1);
        let [older, prev, cur] = &mut rows;
        cur[0] = i;
        let mut best = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(older[j - 2] + 1);
            }
            cur[j] = v;
            best = best.min(v);
        }
        if best > limit {
            return limit.saturating_add(1);
        }
    }
    rows[2][b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo
/// (at most a third of the word's length, and at least one edit allowed).
///
/// Bounded for hostile policies: words longer than [`MAX_WORD`] get none, candidates
/// whose length alone rules them out are skipped without comparing, and each comparison
/// stops once it cannot come under the limit.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w: Vec<char> = word.chars().collect();
    if w.len() > MAX_WORD {
        return None;
    }
    let limit = (w.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let mut c_chars = Vec::with_capacity(MAX_WORD);
    for c in candidates {
        let c_len = c.chars().count();
        if c_len.abs_diff(w.len()) > limit {
            continue;
        }
        c_chars.clear();
        c_chars.extend(c.chars());
        let bound = best.map_or(limit, |(d, _)| d.min(limit));
        let d = osa(&w, &c_chars, bound);
        if d <= bound && best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_close_typos_only() {
        assert_eq!(closest("prots", ["ports", "from"]), Some("ports"));
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(closest("ingres", ["ingress", "egress"]), Some("ingress"));
        assert_eq!(closest("zzzzzz", ["ingress", "egress"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn ties_go_to_the_first_in_order_and_long_words_get_none() {
        assert_eq!(closest("web1", ["web2", "web3"]), Some("web2"));
        assert_eq!(closest("web1", ["web3", "web2"]), Some("web2"));
        let long = "x".repeat(MAX_WORD + 1);
        assert_eq!(closest(&long, [long.as_str()]), None);
    }

    #[test]
    fn thousands_of_unknown_names_against_thousands_of_keys_stay_cheap() {
        // 1,000 × 1,000 comparisons of similar names (benches/core times 3,000 × 3,000).
        let keys: Vec<String> = (0..1000).map(|i| format!("group-{i:05}")).collect();
        let mut found = 0;
        for i in 0..1000 {
            let typo = format!("grop-{i:05}");
            found += usize::from(closest(&typo, keys.iter().map(String::as_str)).is_some());
        }
        assert_eq!(found, 1000);
    }
}
