// Whether a text pin looks like it is not English: the default model reads English, and text in
// another language gives unrelated results, so the demo says so before it is pinned. A hint, not
// a language detector: other scripts, or several function words of the common European languages
// that English does not have (and more of them than English ones).

const FOREIGN = new Set(("le les des une est avec pour dans sur et du au aux cette qui très " +
  "der das und mit ein eine ist nicht auf für ich sie wir " +
  "el los las una y con para por muy pero más es de en " +
  "il della che di gli sono anche " +
  "het een niet ook zijn " +
  "não uma com são").split(" "));
const ENGLISH = new Set("the a an and of in on with for to is are at by from this that it my".split(" "));

/** @param {string} text */
export function looksNonEnglish(text) {
  const letters = text.match(/\p{L}/gu) ?? [];
  if (letters.length < 3) return false;
  const latin = letters.filter((c) => /\p{Script=Latin}/u.test(c)).length;
  if (latin / letters.length < 0.7) return true;
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  const foreign = words.filter((w) => FOREIGN.has(w)).length;
  const english = words.filter((w) => ENGLISH.has(w)).length;
  const accented = letters.filter((c) => /[^\u0000-\u007f]/.test(c)).length;
  return (foreign >= 2 && foreign > english) || (foreign >= 1 && english === 0 && accented / letters.length > 0.04);
}
