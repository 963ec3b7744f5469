//! Text rules of the analytics endpoints (the spec's algorithms), applied once per message
//! at ingest: language, the normalised query, product names and categories; sentiment is in
//! `sentiment`.

use regex::Regex;
use std::sync::OnceLock;

/// Lowercased words: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub use crate::sentiment::{sentiment, Sentiment};

/// `3 + 2 × (positive − negative) / user messages`, clamped to 1–5 (3 with no messages).
pub fn satisfaction_score(
    positive: i64,
    negative: i64,
    user_messages: i64,
) -> rust_decimal::Decimal {
    use rust_decimal::Decimal;
    if user_messages == 0 {
        return Decimal::from(3);
    }
    let sentiment = Decimal::from(positive - negative) / Decimal::from(user_messages);
    (Decimal::from(3) + sentiment * Decimal::from(2)).clamp(Decimal::ONE, Decimal::from(5))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    English,
    Spanish,
    French,
    German,
    Other,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::English,
        Language::Spanish,
        Language::French,
        Language::German,
        Language::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::Spanish => "Spanish",
            Language::French => "French",
            Language::German => "German",
            Language::Other => "Other",
        }
    }

    /// The CSS colour class the dashboard uses for this language.
    pub fn color(self) -> &'static str {
        match self {
            Language::English => "bg-blue-500",
            Language::Spanish => "bg-yellow-500",
            Language::French => "bg-purple-500",
            Language::German => "bg-red-500",
            Language::Other => "bg-gray-500",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
            Language::French => "fr",
            Language::German => "de",
            Language::Other => "other",
        }
    }

    pub fn from_code(code: &str) -> Language {
        Language::ALL
            .into_iter()
            .find(|l| l.code() == code)
            .unwrap_or(Language::English)
    }
}

const SPANISH: [&str; 5] = ["hola", "gracias", "ayuda", "necesito", "producto"];
const FRENCH: [&str; 5] = ["bonjour", "merci", "aide", "besoin", "produit"];
const GERMAN: [&str; 5] = ["hallo", "danke", "hilfe", "brauche", "produkt"];

/// Whole-word matches of each language's words in one text: (Spanish, French, German).
pub fn language_hits(text: &str) -> [i64; 3] {
    let words = words(text);
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(&w.as_str())).count() as i64;
    [count(&SPANISH), count(&FRENCH), count(&GERMAN)]
}

/// The language of a conversation from the summed hits of its user messages: the language
/// with most hits (ties in the order Spanish, French, German); with none, English — or
/// Other when most letters are outside the Latin alphabet (`non_latin_share` > ½).
pub fn language_of(hits: [i64; 3], non_latin_letters: i64, letters: i64) -> Language {
    let best = hits.iter().copied().max().unwrap_or(0);
    if best > 0 {
        let i = hits.iter().position(|h| *h == best).unwrap_or(0);
        return [Language::Spanish, Language::French, Language::German][i];
    }
    if letters > 0 && non_latin_letters * 2 > letters {
        Language::Other
    } else {
        Language::English
    }
}

/// (letters outside the Latin script, all letters) of a text.
pub fn letter_counts(text: &str) -> (i64, i64) {
    let mut non_latin = 0;
    let mut all = 0;
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        all += 1;
        // Latin letters, with accents, are below U+0250.
        if c as u32 >= 0x0250 {
            non_latin += 1;
        }
    }
    (non_latin, all)
}

/// A user message as a top query: lowercased, whitespace folded, cut to 50 characters.
pub fn normalize_query(text: &str) -> String {
    let folded = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    folded.chars().take(50).collect()
}

/// Cuts text to `max` characters (not bytes).
pub fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn patterns() -> &'static [Regex] {
    static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            r"(?i)looking for (.+?)(?:\.|,|$)",
            r"(?i)do you have (.+?)(?:\?|$)",
            r"(?i)need (?:a |an |some )?(.+?)(?:\.|,|$)",
            r"(?i)searching for (.+?)(?:\.|,|$)",
            // A whole word: "producto" is not "product".
            r"(?i)(.+?) (?:products?|items?|parts?)\b",
            r"(?i)show me (.+?)(?:\.|,|$)",
            r"(?i)where (?:is|are) (?:the )?(.+?)(?:\?|$)",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// Words that never name a product, by language: common English words, greetings, pronouns,
/// articles, "product" itself. Words of three letters or fewer that are not here stay: "oil
/// filter" and "air compressor" keep their qualifier.
const FILLER: [&str; 4] = [
    // English
    "
    the and for you your have with this that what where when which there their they them from
    would could should about please need looking want does some any can help show find search
    searching know like tell much more a an i m s t re ve ll d im do did is are am be was my me
    we us it its of to in on at or so if as by up no not yes how why who get got buy use all
    our too very just also hi hey hello thanks thank ok okay pls plz product products item
    items one ones has had may now but out new still stock available sell sale
    ",
    // Spanish
    "
    hola gracias favor necesito tienen tiene donde busco un una unos unas el la los las de del
    y en por con mi mis tu su que qué es hay al lo se para quiero producto productos ayuda
    buenos buenas dias días tardes usted
    ",
    // French
    "
    bonjour merci avez vous besoin cherche aide le les une des du et je j il mon ma mes est
    sont pour avec sur au aux ce ça qu produit produits salut voulez voudrais
    ",
    // German
    "
    hallo danke bitte brauche haben suche ihre eine einen ich du sie er es wir ein einem der
    die das den dem und mit für von zu im ist sind produkt produkte gibt guten tag hilfe
    ",
];

/// The words of whitespace-separated lists, as a set.
pub(crate) fn word_set(lists: &[&'static str]) -> std::collections::HashSet<&'static str> {
    lists.iter().flat_map(|l| l.split_whitespace()).collect()
}

/// Whether `word` (lowercased) is filler, looked up in a set: every message goes through it.
fn filler(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| word_set(&FILLER)).contains(word)
}

/// The product a text asks for: the first of the spec's seven patterns that matches, else
/// its keywords (filler and greetings left out). Normalised: lowercase, single spaces,
/// trailing punctuation dropped, filler at either end dropped, each word singular.
pub fn extract_product(text: &str) -> Option<String> {
    let text = text.trim();
    for pattern in patterns() {
        if let Some(found) = pattern.captures(text).and_then(|c| c.get(1)) {
            let name = normalize_product(&trim_filler(found.as_str()));
            if !name.is_empty() {
                return Some(name);
            }
        }
    }
    let keywords: Vec<String> = words(text).into_iter().filter(|w| !filler(w)).collect();
    let name = normalize_product(&keywords.join(" "));
    (!name.is_empty()).then_some(name)
}

/// Words of `phrase` with filler at its start and end left out ("any gear oil please").
fn trim_filler(phrase: &str) -> String {
    let words = words(phrase);
    let start = words.iter().take_while(|w| filler(w)).count();
    let end = words.len()
        - words[start..]
            .iter()
            .rev()
            .take_while(|w| filler(w))
            .count();
    words[start..end].join(" ")
}

/// Lowercase, words only, leading articles dropped, each word singular, so "Hydraulic
/// pumps" = "a hydraulic pump".
pub fn normalize_product(name: &str) -> String {
    let words = words(name);
    let start = words
        .iter()
        .take_while(|w| ARTICLES.contains(&w.as_str()))
        .count();
    words[start..]
        .iter()
        .map(|w| singular(w))
        .collect::<Vec<_>>()
        .join(" ")
}

const ARTICLES: [&str; 5] = ["a", "an", "the", "some", "any"];

/// The product a user message asks for: a pattern match, or — for a question (it has a
/// `?`) — its keywords. Other messages ("Thanks, perfect!") ask for nothing.
pub fn product_in_question(text: &str) -> Option<String> {
    if patterns().iter().any(|p| p.is_match(text)) || text.contains('?') {
        extract_product(text)
    } else {
        None
    }
}

fn singular(word: &str) -> String {
    let keep = ["ss", "us", "is"];
    if word.chars().count() <= 3 || keep.iter().any(|k| word.ends_with(k)) {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["ches", "shes", "xes", "sses"] {
        if word.ends_with(suffix) {
            return word[..word.len() - 2].to_string();
        }
    }
    word.strip_suffix('s').unwrap_or(word).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Tools,
    Parts,
    Equipment,
    Other,
}

/// The spec's keyword categories, checked in order tools, parts, equipment.
pub fn category(product: &str) -> Category {
    let words = words(product);
    let has = |list: &[&str]| words.iter().any(|w| list.iter().any(|k| w.starts_with(k)));
    if has(&["tool", "wrench", "hammer", "drill"]) {
        Category::Tools
    } else if has(&["part", "filter", "belt", "bearing"]) {
        Category::Parts
    } else if has(&["pump", "motor", "compressor", "generator"]) {
        Category::Equipment
    } else {
        Category::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfaction_follows_the_spec_formula() {
        use rust_decimal::Decimal;
        assert_eq!(satisfaction_score(0, 0, 0), Decimal::from(3));
        assert_eq!(satisfaction_score(3, 1, 4), Decimal::from(4));
        assert_eq!(satisfaction_score(0, 4, 4), Decimal::ONE);
        assert_eq!(satisfaction_score(4, 0, 4), Decimal::from(5));
        assert_eq!(
            satisfaction_score(1, 0, 3).round_dp(4).to_string(),
            "3.6667"
        );
    }

    #[test]
    fn languages_match_whole_words() {
        assert_eq!(language_hits("Hola, necesito ayuda"), [3, 0, 0]);
        assert_eq!(language_hits("Bonjour, merci"), [0, 2, 0]);
        assert_eq!(language_hits("Hallo, ich brauche Hilfe"), [0, 0, 3]);
        // Whole words only: "productos" is not "producto", "aide" inside "aides" no.
        assert_eq!(language_hits("productos aides"), [0, 0, 0]);
        assert_eq!(language_of([0, 0, 0], 0, 10), Language::English);
        assert_eq!(language_of([1, 1, 0], 0, 10), Language::Spanish);
        assert_eq!(language_of([0, 1, 2], 0, 10), Language::German);
        let (non_latin, all) = letter_counts("油圧ポンプはありますか");
        assert_eq!(language_of([0, 0, 0], non_latin, all), Language::Other);
        assert_eq!(letter_counts("Grüße"), (0, 5));
    }

    #[test]
    fn queries_are_folded_and_cut() {
        assert_eq!(
            normalize_query("  Do you   have\tPUMPS? "),
            "do you have pumps?"
        );
        let long = "x".repeat(80);
        assert_eq!(normalize_query(&long).chars().count(), 50);
        assert_eq!(truncate_chars("héllo", 2), "hé");
    }

    #[test]
    fn products_come_from_the_spec_patterns() {
        assert_eq!(
            extract_product("I'm looking for hydraulic pumps."),
            Some("hydraulic pump".into())
        );
        assert_eq!(
            extract_product("Do you have Hydraulic Pump filters?"),
            Some("hydraulic pump filter".into())
        );
        assert_eq!(
            extract_product("I need a torque wrench, urgently"),
            Some("torque wrench".into())
        );
        assert_eq!(
            extract_product("searching for ball bearings"),
            Some("ball bearing".into())
        );
        assert_eq!(
            extract_product("show me drill bits"),
            Some("drill bit".into())
        );
        assert_eq!(
            extract_product("Where are the compressors?"),
            Some("compressor".into())
        );
        assert_eq!(extract_product("brake parts"), Some("brake".into()));
        // Fallback: keywords, filler out.
        assert_eq!(
            extract_product("hydraulic gaskets please"),
            Some("hydraulic gasket".into())
        );
        assert_eq!(extract_product("and the for"), None);
        assert_eq!(
            normalize_product("Hydraulic pumps"),
            normalize_product("hydraulic pump")
        );
        assert_eq!(
            normalize_product("boxes batteries glass"),
            "box battery glass"
        );
        assert_eq!(normalize_product("a torque wrench"), "torque wrench");
        assert_eq!(product_in_question("Thanks, perfect!"), None);
        // Short words that are not filler stay: one need, one name.
        assert_eq!(
            product_in_question("any gear oil?"),
            Some("gear oil".into())
        );
        assert_eq!(
            product_in_question("oil filters?"),
            Some("oil filter".into())
        );
        assert_eq!(
            product_in_question("Do you have any air compressors please?"),
            Some("air compressor".into())
        );
        assert_eq!(
            product_in_question("any ball bearings?"),
            Some("ball bearing".into())
        );
        assert_eq!(
            product_in_question("I'm looking for a torque wrench."),
            Some("torque wrench".into())
        );
    }

    #[test]
    fn categories_use_the_spec_keywords() {
        assert_eq!(category("torque wrench"), Category::Tools);
        assert_eq!(category("oil filter"), Category::Parts);
        assert_eq!(category("hydraulic pump"), Category::Equipment);
        assert_eq!(category("garden hose"), Category::Other);
    }

    #[test]
    fn greetings_in_other_languages_are_not_products() {
        assert_eq!(
            extract_product("Bonjour, avez-vous des air compressor? merci").as_deref(),
            Some("air compressor")
        );
        // Greetings and filler never form a product ("hola necesito un" did).
        assert_eq!(extract_product("Hola, necesito un producto"), None);
        assert_eq!(product_in_question("Hola, necesito un producto"), None);
        assert_eq!(extract_product("Bonjour, je cherche un produit"), None);
        assert_eq!(extract_product("Hallo, ich suche ein Produkt"), None);
        assert_eq!(extract_product("Hi, I need a product"), None);
        assert_eq!(
            extract_product("¿Tienen ball bearings? Gracias").as_deref(),
            Some("ball bearing")
        );
        assert_eq!(
            extract_product("Hallo, ich brauche hedge trimmer bitte, danke").as_deref(),
            Some("hedge trimmer")
        );
    }
}
