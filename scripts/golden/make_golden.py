#!/usr/bin/env python3
"""Generate the golden test corpus, reference token ids and reference embeddings
for all-MiniLM-L6-v2, as produced by sentence-transformers (the reference
implementation edgerec must match).

Usage (from the repository root):

    pip install -r scripts/golden/requirements.txt
    python scripts/golden/make_golden.py [MODEL_DIR]

MODEL_DIR defaults to .cache/models/all-MiniLM-L6-v2 (see scripts/fetch-model.sh).
Everything runs offline on the CPU with one thread.

Outputs (in tests/golden/):
  corpus.json       JSON array of test strings. Generated deterministically by this
                    script (fixed list + deterministic generators); a rerun reproduces
                    it byte for byte.
  tokens.json       {"model", "tokenizer_sha256", "max_seq_length", "ids"}: for every
                    text, the input_ids sentence-transformers feeds the model for that
                    text alone (truncated to 256 incl. [CLS]/[SEP], no padding).
                    Cross-checked against the `tokenizers` library directly.
  embeddings.f32    raw little-endian float32, n x 384, row-major, from
                    model.encode(corpus, batch_size=32) (mean pooling + L2 normalise).
  embeddings.json   metadata (n, dim, versions, model sha256).

Checks performed: the sentence-transformers ids equal those of the `tokenizers`
library (no padding, truncation 256) for every text, both on the raw text and on
text.strip() (older sentence-transformers versions strip inputs; for this BERT
tokenizer it makes no difference); one-at-a-time vs batched encode cosine >= 0.99999;
and an independent transformers AutoModel forward pass on the stored ids (mean
pooling + L2 normalise) agrees with the stored embeddings (cosine >= 0.99999).
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256
DIM = 384
BATCH_SIZE = 32

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(REPO, "tests", "golden")


# --------------------------------------------------------------------------------------
# Deterministic pseudo-random generator (independent of Python's `random` implementation)
# --------------------------------------------------------------------------------------
class Lcg:
    """64-bit LCG (Knuth MMIX constants); output = high 32 bits."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next_u32(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.state >> 32

    def below(self, n):
        return self.next_u32() % n

    def choice(self, seq):
        return seq[self.below(len(seq))]


WORDS = (
    "the a of and to in is for on with as by at from that this it be are was an or "
    "home garden kitchen recipe easy quick healthy dinner lunch breakfast summer winter "
    "autumn spring cozy modern rustic vintage minimalist boho farmhouse living room bedroom "
    "bathroom decor ideas inspiration diy craft project wood paint color white black green "
    "blue pink gold warm light natural plant flower wedding party birthday holiday travel "
    "beach mountain city weekend style fashion outfit dress shoes bag jewelry hair makeup "
    "skin care fitness workout yoga running simple small space storage organization shelf "
    "table chair sofa rug lamp window wall art print photo camera design pattern fabric "
    "knit sew quilt baby kids family dog cat garden vegetable tomato basil lemon chocolate "
    "cake cookie bread pasta salad soup chicken beef vegan gluten free sugar butter cheese "
    "coffee tea morning evening night sunset ocean forest lake river road trip guide tips "
    "best new old great beautiful little big perfect favorite everyday classic fresh "
    "homemade budget affordable luxury tiny cottage cabin apartment studio loft patio "
    "balcony porch backyard pool fireplace candle blanket pillow curtain mirror frame"
).split()


def gen_text(seed, n_words):
    """Deterministic pseudo-English text of n_words words, with punctuation and capitals."""
    rng = Lcg(seed)
    out = []
    start = True
    for i in range(n_words):
        w = rng.choice(WORDS)
        if start:
            w = w[0].upper() + w[1:]
            start = False
        r = rng.below(100)
        if i == n_words - 1:
            w += "."
        elif r < 6:
            w += "."
            start = True
        elif r < 10:
            w += ","
        elif r < 11:
            w += "!"
            start = True
        elif r < 12:
            w += "?"
            start = True
        elif r < 13:
            w = str(rng.below(10000))
        out.append(w)
    return " ".join(out)


# --------------------------------------------------------------------------------------
# Fixed hand-written part of the corpus
# --------------------------------------------------------------------------------------
FIXED = [
    # --- short pin-like titles ---
    "Cozy reading nook ideas",
    "Easy weeknight dinners",
    "Small balcony garden inspiration",
    "DIY macramé wall hanging",
    "Minimalist Scandinavian living room",
    "Boho bedroom decor on a budget",
    "Healthy meal prep for the week",
    "Wedding hairstyles for long hair",
    "Summer outfit ideas 2024",
    "Best hiking trails in Colorado",
    "Chocolate chip cookies",
    "Tiny house living",
    "Watercolor painting tutorial for beginners",
    "Fall wreath",
    "Kids' birthday party themes",
    "Vintage kitchen makeover before & after",
    "10 ways to style a bookshelf",
    "Nail art",
    "Home office setup",
    "Japandi interior",
    # --- board names ---
    "My Dream Home",
    "Recipes to try",
    "Travel bucket list ✈️",
    "Outfits",
    "Garden 🌱",
    "Xmas 2023",
    "THINGS I LOVE",
    "wedding stuff!!!",
    "Quotes & Inspo",
    "kitchen_ideas",
    # --- product descriptions ---
    "Handmade ceramic mug, 350 ml, dishwasher safe. Speckled oatmeal glaze with a "
    "natural clay rim. Each piece is unique.",
    "Organic cotton throw blanket — 130 x 170 cm, chunky knit, available in sage, "
    "cream and terracotta.",
    "Solid oak floating shelf (60cm/24in) with hidden steel bracket; holds up to 15 kg.",
    "Rechargeable LED table lamp, 3 brightness levels, USB-C, 8-hour battery life. $39.99",
    "Women's linen midi dress with pockets, relaxed fit, sizes XS–XXL.",
    "Stainless steel 18/10 cookware set (10 pcs) — induction compatible, oven-safe to 260°C.",
    "Set of 2 rattan pendant lights, Ø 40 cm, E27 socket, bulb not included.",
    # --- recipe descriptions ---
    "This creamy one-pot tuscan chicken pasta is ready in 30 minutes and uses pantry "
    "staples: sun-dried tomatoes, spinach, garlic, and parmesan.",
    "Preheat oven to 180°C (350°F). Whisk 2 eggs with 1/2 cup sugar, fold in 1 ½ cups "
    "flour and bake for 25–30 min.",
    "Vegan banana bread — moist, fluffy, and made with only 7 ingredients! #vegan #baking",
    "Ingredients:\n- 200g flour\n- 100g butter\n- 1 tsp vanilla\n\nMethod:\n1. Mix.\n2. Bake.",
    "Classic French ratatouille with eggplant, zucchini, bell peppers and herbes de Provence.",
    "Spicy Korean gochujang noodles (매운 고추장 국수) in 15 minutes",
    # --- tag lists ---
    "#homedecor #interiordesign #cozy #livingroom #inspo",
    "diy, crafts, upcycling, thrift flip, sustainable",
    "tags: recipe; dinner; chicken; easy; 30-minute",
    "#OOTD #fashion #streetstyle #NYFW2024",
    "travel|beach|sunset|bali|wanderlust",
    # --- sentences of various lengths ---
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I love this!",
    "What are some good ideas for decorating a small apartment without spending a lot of money?",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Find this Pin and more on Home by Jane Doe.",
    "It's a beautiful day; let's go outside — shall we?",
    "Don't stop believin'. Y'all can't, won't, shouldn't.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "The new movie is awesome",
    "The cat sits outside",
    # --- mixed case, punctuation, numbers ---
    "ThIs Is MiXeD cAsE tExT",
    "ALL CAPS HEADLINE: HUGE SALE TODAY",
    "lowercase only, no capitals here",
    "camelCaseIdentifier and snake_case_identifier and kebab-case-identifier",
    "!!!???...,,,;;;:::",
    "...",
    "Wait... what?!?! Really??",
    "(parentheses) [brackets] {braces} <angles>",
    "\"double quotes\" and 'single quotes' and `backticks` and “curly” ‘quotes’ «guillemets»",
    "3.14159 2.71828 1.41421 0.0001 -42 +7 1e10 1,000,000 12:30pm 2024-03-15",
    "Call +1 (555) 123-4567 or email hello@example.com",
    "Price: €12,50 / £9.99 / ¥1200 / ₹499 / ₩15000 / $5",
    "50% off!!! Use code SAVE50 at checkout",
    "ISBN 978-3-16-148410-0",
    "v1.2.3-beta+build.456",
    "100°F ≈ 37.8°C; ½ + ¼ = ¾; x² + y² = z²; ∑ ∫ √ ∞ ≠ ≤ ≥",
    "1st 2nd 3rd 4th 21st 101st",
    # --- URLs / emails ---
    "https://www.example.com/path/to/page?query=1&lang=en#section",
    "Check out https://pinterest.com/pin/123456789/ for more",
    "www.etsy.com/shop/HandmadeByAnna",
    "ftp://files.example.org/pub/README.txt",
    "mailto:someone@example.co.uk",
    # --- accents ---
    "café",
    "Café au lait at a naïve coffee shop",
    "The Ångström unit is 10⁻¹⁰ m",
    "São Paulo, Brasil",
    "Crème brûlée and jalapeño piñata",
    "Zoë and Chloë visited Reykjavík and Malmö",
    "résumé vs resume vs RÉSUMÉ",
    "Œuvre, æsthetic, Straße, ﬁnance (ligature fi)",
    # --- German / French / Spanish / Turkish / other Latin ---
    "Gemütliches Wohnzimmer mit Kamin und großen Fenstern.",
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "Ich möchte ein Stück Käsekuchen, bitte.",
    "Idées de décoration pour une chambre d'enfant à petit prix.",
    "Où est la bibliothèque ? Elle est à côté de l'église.",
    "Recetas fáciles de cocina española: paella, tortilla y gazpacho.",
    "¿Dónde está el baño? ¡Muchas gracias, señor!",
    "Türkiye'nin en güzel şehirleri: İstanbul, İzmir ve Çanakkale.",
    "ılık İLIK ığdır IĞDIR şeker ŞEKER",
    "Polska: zażółć gęślą jaźń",
    "Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Tiếng Việt: Xin chào, bạn khỏe không?",
    "Norsk: blåbærsyltetøy og rødgrød med fløde",
    # --- emoji ---
    "😀",
    "I love pizza 🍕🍕🍕",
    "👩‍👩‍👧 family",
    "👨‍💻 working from home",
    "🇯🇵 🇺🇸 🇩🇪 🇧🇷",
    "👍🏻 👍🏼 👍🏽 👍🏾 👍🏿",
    "❤️ vs ❤ (with and without VS16)",
    "🏳️‍🌈 pride month",
    "Great job!!! 🎉🎉🎉 #winning",
    "🌸🌼🌻🌺🌷",
    "🧑🏽‍🍳 chef special",
    # --- CJK ---
    "我喜欢吃中国菜。",
    "北京是中华人民共和国的首都。",
    "繁體中文：臺灣的夜市小吃",
    "日本語のテキストです。ひらがなとカタカナと漢字。",
    "東京タワー",
    "カワイイ インテリア",
    "ｶﾀｶﾅ half-width katakana and ＦＵＬＬＷＩＤＴＨ ｌａｔｉｎ １２３",
    "한국어 텍스트입니다. 안녕하세요!",
    "서울 여행 코스 추천",
    "Mixed 中文 English 日本語 한국어 text",
    # --- Arabic / Hebrew / Cyrillic / Greek / Thai / Hindi ---
    "مرحبا بالعالم",
    "أفكار لتزيين غرفة المعيشة",
    "שלום עולם",
    "רעיונות לעיצוב הבית",
    "Привет, мир!",
    "Уютная гостиная в скандинавском стиле",
    "Γειά σου Κόσμε",
    "Ελληνική κουζίνα: μουσακάς και σουβλάκι",
    "สวัสดีครับ",
    "ไอเดียตกแต่งบ้าน",
    "नमस्ते दुनिया",
    "घर की सजावट के विचार",
    "Українська: Ґанок і їжачок",
    # --- combining characters, zero-width, odd whitespace ---
    "cafe\u0301",
    "e\u0301",
    "n\u0303o\u0308",
    "a\u0300\u0301\u0302\u0303\u0304",
    "zero\u200bwidth\u200bspace",
    "zero\u200cwidth\u200dnon\u200bjoiner",
    "\u200b",
    "\u200d",
    "\ufeffBOM at start",
    "soft\u00adhyphen",
    "word\u2060joiner",
    "tab\tseparated\tvalues",
    "line one\nline two\nline three",
    "windows\r\nline\r\nendings",
    "multiple     spaces     here",
    "non\u00a0breaking\u00a0space",
    "\u00a0\u00a0leading and trailing nbsp\u00a0\u00a0",
    "  leading and trailing spaces  ",
    "\t\n mixed whitespace \r\n\t",
    "em\u2003space and en\u2002space and thin\u2009space",
    "ideographic\u3000space",
    "line\u2028separator and paragraph\u2029separator",
    "null\u0000char and bell\u0007char and escape\u001bchar",
    "\u0085next line\u0085",
    "\ufffd replacement char",
    "private use \ue000\uf8ff",
    # --- empty / whitespace-only / single chars ---
    "",
    " ",
    "     ",
    "\t",
    "\n",
    "\u00a0",
    "a",
    "Z",
    "7",
    "?",
    "中",
    "é",
    # --- special tokens written literally ---
    "[CLS]",
    "[SEP]",
    "[PAD]",
    "[UNK]",
    "[MASK]",
    "[CLS] hello [SEP] world [SEP]",
    "This is a [MASK] sentence with [PAD] [PAD] and [UNK] tokens.",
    "[cls] lowercase special tokens [sep]",
    "<s> </s> <pad> <unk> <mask> <|endoftext|>",
    # --- HTML / markup / code ---
    "<div class=\"pin\"><h1>Title</h1><p>Some <b>bold</b> text &amp; more&nbsp;here</p></div>",
    "<script>alert('xss')</script>",
    "<!-- comment --> <br/> <img src=\"a.png\" alt=\"A\">",
    "**Markdown** _italic_ `code` [link](https://example.com) # Heading",
    "def hello(name: str) -> str:\n    return f\"Hello, {name}!\"",
    "fn main() { println!(\"Hello, world!\"); }",
    "SELECT * FROM pins WHERE board_id = 42 ORDER BY created_at DESC LIMIT 10;",
    "const x = arr.map((v, i) => v * i).filter(Boolean); // ES6",
    "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "C:\\Users\\Public\\Documents\\file.txt",
    "/usr/local/bin/python3 -m pip install --upgrade pip",
    "rm -rf / --no-preserve-root && echo $HOME | grep -E '^/root$'",
    # --- repeated words ---
    "the the the the the the the the the the",
    "buffalo buffalo Buffalo buffalo buffalo buffalo Buffalo buffalo",
    "ha" * 50,
    "lol " * 40,
    "no no no NO No nO",
]


# --------------------------------------------------------------------------------------
# Generated part
# --------------------------------------------------------------------------------------
def generated_base():
    out = []
    # very long single "words"
    out.append("a" * 500)
    out.append("https://www.example.com/" + "/".join("segment%02d-abcdefghij" % i for i in range(8))
               + "?utm_source=pinterest&utm_medium=social&id=" + "0123456789" * 3)
    out.append("supercalifragilisticexpialidocious" * 6)
    out.append("x" * 101)  # longer than BERT's max_input_chars_per_word (100) -> [UNK]
    out.append("y" * 100)  # exactly at max_input_chars_per_word
    out.append("🙂" * 120)
    out.append("中" * 300)  # each CJK char is its own token -> truncated
    out.append("1234567890" * 30)
    # repeated words long enough to be truncated
    out.append(" ".join(["pizza"] * 400))
    out.append(" ".join(["hello", "world"] * 150))
    # medium texts 20..200 words
    for k, n in enumerate([20, 35, 50, 75, 100, 150, 200]):
        out.append(gen_text(1000 + k, n))
    # several texts of 300-600 words
    for k, n in enumerate([300, 400, 500, 600]):
        out.append(gen_text(2000 + k, n))
    # one very long text of ~3000 words
    out.append(gen_text(3000, 3000))
    # short generated pin titles
    for k in range(30):
        out.append(gen_text(4000 + k, 2 + (k % 7)))
    return out


def boundary_texts(count_pieces):
    """Texts whose word-piece count (without [CLS]/[SEP]) lands exactly around the
    256-token limit: 253, 254 (fits exactly with [CLS]/[SEP]), 255, 256, 257.
    Plus one where the cut falls in the middle of a multi-piece word."""
    out = []
    targets = [253, 254, 255, 256, 257]
    singles = [w for w in WORDS if count_pieces(w) == 1]
    assert len(singles) > 50
    # Base: pseudo-English text grown word by word while it stays <= 240 pieces.
    rng = Lcg(5000)
    words = []
    while True:
        w = rng.choice(WORDS)
        if count_pieces(" ".join(words + [w])) > 240:
            break
        words.append(w)
    # Pad with single-piece words up to each target.
    found = {}
    k = 0
    while len(found) < len(targets):
        c = count_pieces(" ".join(words))
        assert c <= max(targets), c
        if c in targets:
            found[c] = " ".join(words)
        words.append(singles[k % len(singles)])
        k += 1
    for t in targets:
        assert count_pieces(found[t]) == t
        out.append(found[t])
    # Mid-word cut: 253 pieces of filler, then a long multi-piece word.
    base = found[253]
    long_word = "antidisestablishmentarianism"
    text = base + " " + long_word
    assert count_pieces(text) - 253 >= 3, "long word should be >= 3 pieces"
    out.append(text)
    return out


def build_corpus(count_pieces):
    corpus = list(FIXED) + generated_base() + boundary_texts(count_pieces)
    assert len(corpus) >= 220, len(corpus)
    return corpus


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".cache", "models", MODEL_NAME)
    model_dir = os.path.abspath(model_dir)
    tok_path = os.path.join(model_dir, "tokenizer.json")

    import tokenizers
    import torch
    import transformers
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)

    raw_tok = Tokenizer.from_file(tok_path)
    raw_tok.no_padding()
    raw_tok.enable_truncation(MAX_SEQ_LENGTH)

    count_tok = Tokenizer.from_file(tok_path)
    count_tok.no_padding()
    count_tok.no_truncation()

    def count_pieces(text):
        return len(count_tok.encode(text, add_special_tokens=False).ids)

    corpus = build_corpus(count_pieces)
    os.makedirs(OUT, exist_ok=True)
    corpus_bytes = (json.dumps(corpus, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    with open(os.path.join(OUT, "corpus.json"), "wb") as f:
        f.write(corpus_bytes)
    assert json.loads(corpus_bytes.decode("utf-8")) == corpus
    print("corpus: %d texts, sha256 %s" % (len(corpus), hashlib.sha256(corpus_bytes).hexdigest()))

    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()
    assert model.get_max_seq_length() == MAX_SEQ_LENGTH, model.get_max_seq_length()
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    assert get_dim() == DIM
    st_tokenize = getattr(model, "preprocess", None) or model.tokenize

    # ---------------- token ids ----------------
    all_ids = []
    mismatches = []
    for i, text in enumerate(corpus):
        feats = st_tokenize([text])
        ids = feats["input_ids"][0]
        mask = feats["attention_mask"][0]
        assert feats["input_ids"].shape[0] == 1
        st_ids = [int(t) for t, m in zip(ids.tolist(), mask.tolist()) if m == 1]
        assert int(mask.sum()) == len(ids), "single text must not be padded"
        raw_ids = raw_tok.encode(text).ids
        raw_ids_stripped = raw_tok.encode(text.strip()).ids
        if st_ids != raw_ids or st_ids != raw_ids_stripped:
            mismatches.append((i, text, st_ids, raw_ids, raw_ids_stripped))
        all_ids.append(st_ids)
    if mismatches:
        for i, text, a, b, c in mismatches[:20]:
            print("MISMATCH #%d %r\n  st=%s\n  raw=%s\n  raw(strip)=%s" % (i, text[:80], a[:40], b[:40], c[:40]))
        sys.exit("token id mismatch between sentence-transformers and tokenizers on %d texts"
                 % len(mismatches))

    lens = [len(x) for x in all_ids]
    assert max(lens) <= MAX_SEQ_LENGTH
    print("tokens: max len %d, %d texts truncated to %d, %d texts -> [CLS][SEP] only"
          % (max(lens), sum(l == MAX_SEQ_LENGTH for l in lens), MAX_SEQ_LENGTH,
             sum(l == 2 for l in lens)))
    only_special = [i for i, x in enumerate(all_ids) if len(x) == 2]
    for i in only_special:
        print("  [CLS][SEP] only: #%d %r" % (i, corpus[i]))

    tokens = {
        "model": MODEL_NAME,
        "tokenizer_sha256": sha256_file(tok_path),
        "max_seq_length": MAX_SEQ_LENGTH,
        "ids": all_ids,
    }
    with open(os.path.join(OUT, "tokens.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(' "model": %s,\n' % json.dumps(tokens["model"]))
        f.write(' "tokenizer_sha256": %s,\n' % json.dumps(tokens["tokenizer_sha256"]))
        f.write(' "max_seq_length": %d,\n' % MAX_SEQ_LENGTH)
        f.write(' "ids": [\n')
        f.write(",\n".join("  " + json.dumps(x, separators=(",", ":")) for x in all_ids))
        f.write("\n ]\n}\n")
    with open(os.path.join(OUT, "tokens.json"), encoding="utf-8") as f:
        assert json.load(f) == tokens

    # ---------------- embeddings ----------------
    with torch.inference_mode():
        emb = model.encode(corpus, batch_size=BATCH_SIZE, convert_to_numpy=True,
                           show_progress_bar=False)
    emb = np.asarray(emb, dtype=np.float32)
    assert emb.shape == (len(corpus), DIM), emb.shape
    assert np.all(np.isfinite(emb))
    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    assert np.all(np.abs(norms - 1.0) < 1e-5), (norms.min(), norms.max())
    emb.astype("<f4").tofile(os.path.join(OUT, "embeddings.f32"))

    # sanity: one-at-a-time encoding vs batched
    rng = Lcg(7)
    picks = sorted({rng.below(len(corpus)) for _ in range(9)} | {len(corpus) - 7})[:10]
    cos = []
    with torch.inference_mode():
        for i in picks:
            v = model.encode([corpus[i]], batch_size=1, convert_to_numpy=True, show_progress_bar=False)[0]
            cos.append(float(np.dot(v.astype(np.float64), emb[i].astype(np.float64))
                             / (np.linalg.norm(v) * np.linalg.norm(emb[i]))))
    print("single vs batched cosine over %d texts: min %.9f" % (len(picks), min(cos)))
    assert min(cos) >= 0.99999, cos

    # independent check: plain transformers forward pass on the stored ids
    from transformers import AutoModel
    hf = AutoModel.from_pretrained(model_dir).eval()
    check = sorted(set(picks) | {i for i, l in enumerate(lens) if l == MAX_SEQ_LENGTH} | set(only_special))
    cos2 = []
    with torch.inference_mode():
        for i in check:
            ids = torch.tensor([all_ids[i]], dtype=torch.long)
            out = hf(input_ids=ids, attention_mask=torch.ones_like(ids),
                     token_type_ids=torch.zeros_like(ids)).last_hidden_state[0]
            v = out.mean(dim=0).double().numpy()
            v /= np.linalg.norm(v)
            cos2.append(float(np.dot(v, emb[i].astype(np.float64)) / np.linalg.norm(emb[i])))
    print("AutoModel(stored ids) vs stored embeddings over %d texts: min cosine %.9f" % (len(check), min(cos2)))
    assert min(cos2) >= 0.99999, cos2

    meta = {
        "model": MODEL_NAME,
        "n": len(corpus),
        "dim": DIM,
        "normalized": True,
        "batch_size": BATCH_SIZE,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "model_safetensors_sha256": sha256_file(os.path.join(model_dir, "model.safetensors")),
    }
    with open(os.path.join(OUT, "embeddings.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
