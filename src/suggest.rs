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
/// Bounded for hostile input: words longer than [`MAX_WORD`] get none, candidates whose
/// length or letters alone rule them out are skipped without comparing, and each
/// comparison stops once it cannot come under the limit. For many lookups over large
/// candidate sets (a policy's group keys), [`Suggester`] also caps the total work.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    Suggester::new(u32::MAX, u64::MAX).closest(word, candidates)
}

/// "Did you mean" with a budget: at most `lookups` lookups, whose comparisons together
/// cost at most `cells` (cells of the edit-distance table); past either, lookups suggest
/// nothing. One policy check uses one, so thousands of unknown names against thousands of
/// keys stay cheap whatever the names are: a policy with hundreds of unknown names has a
/// problem other than typos.
pub struct Suggester {
    lookups: u32,
    cells: u64,
}

impl Suggester {
    /// A policy's lookups: the first 200 unknown names get a suggestion.
    pub const POLICY_LOOKUPS: u32 = 200;
    /// A policy's comparisons: about a tenth of a second.
    pub const POLICY_CELLS: u64 = 50_000_000;

    pub fn new(lookups: u32, cells: u64) -> Self {
        Suggester { lookups, cells }
    }

    /// The budget of one policy check.
    pub fn for_policy() -> Self {
        Suggester::new(Self::POLICY_LOOKUPS, Self::POLICY_CELLS)
    }

    pub fn closest<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        let w: Vec<char> = word.chars().collect();
        if w.len() > MAX_WORD || self.lookups == 0 {
            return None;
        }
        self.lookups -= 1;
        let limit = (w.len() / 3).max(1);
        let mut letters = Letters::of(&w);
        let mut best: Option<(usize, &str)> = None;
        let mut c_chars = Vec::with_capacity(MAX_WORD);
        for c in candidates {
            c_chars.clear();
            c_chars.extend(c.chars());
            if c_chars.len().abs_diff(w.len()) > limit {
                continue;
            }
            let bound = best.map_or(limit, |(d, _)| d.min(limit));
            // Each edit changes at most two letters of the multiset: half the difference
            // of the letters is a lower bound of the distance.
            if letters.difference(&c_chars).div_ceil(2) > bound {
                continue;
            }
            let cost = (w.len() as u64 + 1).saturating_mul(c_chars.len() as u64 + 1);
            if cost > self.cells {
                self.cells = 0;
                return best.map(|(_, c)| c);
            }
            self.cells -= cost;
            let d = osa(&w, &c_chars, bound);
            if d <= bound && best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
                best = Some((d, c));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// How often each character occurs in a word (ASCII counted exactly, the rest together).
struct Letters {
    counts: [u16; 129],
    len: usize,
    /// The slots one comparison took, to give them back.
    taken: Vec<usize>,
}

impl Letters {
    fn slot(c: char) -> usize {
        if c.is_ascii() { c as usize } else { 128 }
    }

    fn of(word: &[char]) -> Self {
        let mut counts = [0u16; 129];
        for &c in word {
            let n = &mut counts[Self::slot(c)];
            *n = n.saturating_add(1);
        }
        Letters {
            counts,
            len: word.len(),
            taken: Vec::with_capacity(MAX_WORD),
        }
    }

    /// The size of the symmetric difference of the two multisets of letters.
    fn difference(&mut self, other: &[char]) -> usize {
        for &c in other {
            let slot = Self::slot(c);
            if self.counts[slot] > 0 {
                self.counts[slot] -= 1;
                self.taken.push(slot);
            }
        }
        let shared = self.taken.len();
        for slot in self.taken.drain(..) {
            self.counts[slot] += 1;
        }
        (self.len - shared) + (other.len() - shared)
    }
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
    fn a_spent_budget_suggests_nothing_more() {
        let mut s = Suggester::new(u32::MAX, 200);
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(
            s.closest("prots", ["ports"]),
            None,
            "6 × 36 cells is past 200"
        );
        let mut s = Suggester::new(1, u64::MAX);
        assert_eq!(s.closest("prots", ["ports"]), Some("ports"));
        assert_eq!(s.closest("prots", ["ports"]), None, "one lookup only");
        // Letters alone rule candidates out before any comparison.
        assert_eq!(
            Letters::of(&['a', 'b', 'c']).difference(&['c', 'b', 'x']),
            2
        );
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
