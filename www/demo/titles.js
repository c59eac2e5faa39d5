// Catalog titles as people type and read them. Library catalogues (MovieLens among them) file
// "The Matrix" as "Matrix, The (1999)"; the demo shows the natural order and its search finds a
// title by either form, with or without the year.

/** Leading articles that catalogues move behind a comma (English and the common European ones). */
const ARTICLES = new Set(["the", "a", "an", "le", "la", "les", "l'", "il", "lo", "gli", "el", "los", "las", "die", "der", "das", "de", "het", "een"]);

/**
 * "Matrix, The (1999)" → "The Matrix (1999)"; "Shawshank Redemption, The" → "The Shawshank
 * Redemption"; anything else unchanged.
 * @param {string} title
 */
export function displayTitle(title) {
  // The article may be followed by parenthesised alternate titles and the year.
  const m = /^(.*?), ([^\s,()]+)((?:\s*\([^()]*\))*)\s*$/u.exec(title);
  if (!m || !ARTICLES.has(m[2].toLowerCase())) return title;
  const article = m[2];
  const sep = article.endsWith("'") ? "" : " ";
  return `${article}${sep}${m[1]}${m[3]}`;
}

/** Lower case without accents, punctuation as spaces, single-spaced: what search compares. */
export function fold(s) {
  return s
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}']+/gu, " ")
    .trim();
}

/**
 * How well `query` (folded) matches a title's folded forms: 0 a prefix of the natural title or of
 * the catalogue's, 1 a word start inside one, 2 anywhere inside, -1 no match.
 * @param {string} query
 * @param {string[]} forms
 */
export function matchRank(query, forms) {
  let best = -1;
  for (const f of forms) {
    const at = f.indexOf(query);
    if (at < 0) continue;
    const rank = at === 0 ? 0 : /[\s']/.test(f[at - 1]) ? 1 : 2;
    if (best < 0 || rank < best) best = rank;
  }
  return best;
}
