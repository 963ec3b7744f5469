//! Sentiment of a user message: the spec's indicator words and their Spanish, French and
//! German equivalents, matched as whole words, with negation read (README: Sentiment).
//!
//! 1. The message is cut into clauses at punctuation and at contrast words ("but", "pero",
//!    "mais", "aber"); negation never reaches across a clause.
//! 2. Each indicator word found is positive or negative. A negation word flips the first
//!    indicator within the three words after it ("not working", "no funciona", "ne marche
//!    pas"); "nicht" and "pas" also flip the indicator within the three words before them
//!    ("funktioniert nicht", "ça marche pas").
//! 3. A flipped positive is negative ("not good", "doesn't help"). A flipped negative is
//!    neither ("no problem", "not bad", "kein Problem"): it reassures, it praises nothing.
//! 4. Some words count only when flipped: "work" and "help" are neutral alone ("I need help")
//!    and negative when negated ("does not work", "doesn't help").
//! 5. A message with any negative indicator left is negative, even beside thanks ("thanks,
//!    but it is still not working"): a problem outweighs politeness. Otherwise any positive
//!    one makes it positive; otherwise it is neutral.

use crate::text::word_set;
use std::collections::HashSet;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

impl Sentiment {
    pub fn score(self) -> i64 {
        match self {
            Sentiment::Positive => 1,
            Sentiment::Negative => -1,
            Sentiment::Neutral => 0,
        }
    }

    pub fn from_score(score: i64) -> Self {
        match score.signum() {
            1 => Sentiment::Positive,
            -1 => Sentiment::Negative,
            _ => Sentiment::Neutral,
        }
    }
}

/// The spec's positive indicators (thank, great, perfect, awesome, helpful, excellent, good,
/// works), their inflections, and their Spanish, French and German equivalents.
const POSITIVE: [&str; 4] = [
    // English
    "
    thank thanks thanked great perfect perfectly awesome helpful excellent good works worked
    working helped helps
    ",
    // Spanish
    "
    gracias genial perfecto perfecta estupendo estupenda útil excelente bueno buena bien
    funciona funcionó funcionando
    ",
    // French
    "
    merci super génial géniale parfait parfaite utile excellente bon bonne marche fonctionne
    ",
    // German
    "
    danke toll perfekt großartig hilfreich ausgezeichnet gut funktioniert klappt hilft
    ",
];

/// The spec's negative indicators (error, wrong, bad, issue, problem, broken, fail), their
/// inflections and equivalents. ("not work" is rule 4.)
const NEGATIVE: [&str; 4] = [
    // English
    "
    error errors wrong bad issue issues problem problems broken fail fails failed failing
    failure
    ",
    // Spanish
    "
    errores mal malo mala equivocado incorrecto problema problemas roto rota falla fallo falló
    ",
    // French
    "
    erreur erreurs faux fausse mauvais mauvaise problème problèmes cassé cassée panne échec
    échoue
    ",
    // German
    "
    fehler falsch schlecht probleme kaputt defekt fehlgeschlagen
    ",
];

/// Neutral alone, negative when negated.
const ONLY_NEGATED: [&str; 1] = ["
    work help funcionar ayuda fonctionner marcher aide funktionieren
    "];

/// Words that flip the first indicator within the next three words.
const NEGATORS: [&str; 1] = ["
    not no never nothing without don't doesn't didn't isn't wasn't aren't won't can't cannot
    nunca ni sin ningún ninguna ne n' pas sans aucun aucune jamais nicht kein keine keinen
    keinem keiner nie ohne
    "];

/// Negation words that also follow what they negate ("funktioniert nicht", "marche pas").
const POST_NEGATORS: &[&str] = &["nicht", "pas"];

/// Words that start a new clause.
const CONTRASTS: &[&str] = &["but", "however", "pero", "aunque", "mais", "aber", "jedoch"];

/// French elisions split off a word ("n'est" is "n'" and "est").
const ELISIONS: &[&str] = &["n'", "l'", "d'", "j'", "c'", "qu'", "s'", "m'", "t'"];

/// The word lists as sets: every user message is looked up word by word.
struct Lexicon {
    positive: HashSet<&'static str>,
    negative: HashSet<&'static str>,
    only_negated: HashSet<&'static str>,
    negators: HashSet<&'static str>,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| Lexicon {
        positive: word_set(&POSITIVE),
        negative: word_set(&NEGATIVE),
        only_negated: word_set(&ONLY_NEGATED),
        negators: word_set(&NEGATORS),
    })
}

/// How far a negation reaches, in words.
const SCOPE: usize = 3;

pub fn sentiment(text: &str) -> Sentiment {
    let mut positive = false;
    for clause in clauses(text) {
        for polarity in clause_indicators(&clause) {
            match polarity {
                Sentiment::Negative => return Sentiment::Negative,
                Sentiment::Positive => positive = true,
                Sentiment::Neutral => {}
            }
        }
    }
    if positive {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    }
}

/// Lowercased words per clause; apostrophes kept inside words, French elisions split off.
fn clauses(text: &str) -> Vec<Vec<String>> {
    let text = text.replace(['’', '‘'], "'").to_lowercase();
    let mut clauses = Vec::new();
    for part in text.split(|c: char| ",.;:!?¡¿()\n".contains(c)) {
        let mut clause = Vec::new();
        for raw in part.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
            let word = raw.trim_matches('\'');
            if word.is_empty() {
                continue;
            }
            if CONTRASTS.contains(&word) {
                clauses.push(std::mem::take(&mut clause));
                continue;
            }
            match ELISIONS
                .iter()
                .find(|e| word.starts_with(**e) && word.len() > e.len())
            {
                Some(e) => {
                    clause.push((*e).to_string());
                    clause.push(word[e.len()..].to_string());
                }
                None => clause.push(word.to_string()),
            }
        }
        clauses.push(clause);
    }
    clauses
}

/// The polarity of each indicator of one clause, negation applied.
fn clause_indicators(words: &[String]) -> Vec<Sentiment> {
    let lexicon = lexicon();
    let mut flipped = vec![false; words.len()];
    for (i, word) in words.iter().enumerate() {
        if lexicon.negators.contains(word.as_str()) {
            // The first indicator after it, within reach.
            let after = (i + 1..words.len().min(i + 1 + SCOPE)).find(|&j| indicator(&words[j]));
            if let Some(j) = after {
                flipped[j] = true;
            }
        }
        if POST_NEGATORS.contains(&word.as_str()) {
            let before = (i.saturating_sub(SCOPE)..i)
                .rev()
                .find(|&j| indicator(&words[j]));
            if let Some(j) = before {
                flipped[j] = true;
            }
        }
    }
    words
        .iter()
        .zip(flipped)
        .filter(|(w, _)| indicator(w))
        .map(
            |(w, flipped)| match (lexicon.negative.contains(w.as_str()), flipped) {
                (true, false) => Sentiment::Negative,
                (true, true) => Sentiment::Neutral,
                (false, true) => Sentiment::Negative,
                (false, false) if lexicon.positive.contains(w.as_str()) => Sentiment::Positive,
                (false, false) => Sentiment::Neutral,
            },
        )
        .collect()
}

fn indicator(word: &str) -> bool {
    let lexicon = lexicon();
    lexicon.positive.contains(word)
        || lexicon.negative.contains(word)
        || lexicon.only_negated.contains(word)
}

#[cfg(test)]
mod tests {
    use super::Sentiment::{Negative as N, Neutral as O, Positive as P};
    use super::*;

    /// Labelled sentences, five languages (the fifth: text in another language is neutral).
    const LABELLED: &[(&str, Sentiment)] = &[
        // English
        ("Thanks, that works!", P),
        ("THANK YOU", P),
        ("It does not work", N),
        ("great, but there is an error", N),
        ("Where is my order?", O),
        ("No problem, great job", P),
        ("not bad", O),
        ("no errors, perfect", P),
        ("This is not working", N),
        ("That doesn't help at all", N),
        ("Thanks, but it is still not working", N),
        ("Goodbye", O),
        ("I got a badge", O),
        ("I need help with my order", O),
        ("The checkout is broken", N),
        ("It's not good", N),
        ("Excellent service, very helpful", P),
        ("Nothing wrong with it, thanks", P),
        ("The payment failed twice", N),
        ("Perfect!", P),
        ("It worked, thank you", P),
        ("You sent me the wrong size", N),
        ("The app works but shows an error", N),
        ("Do you ship to Canada", O),
        ("forgood", O),
        // Spanish
        ("Gracias, funciona perfecto", P),
        ("No funciona", N),
        ("No hay problema, gracias", P),
        ("El pedido llegó roto", N),
        ("Hola, necesito un producto", O),
        ("Muy bien, excelente atención", P),
        ("La página da un error", N),
        ("No es bueno", N),
        ("Gracias, pero sigue sin funcionar", N),
        ("Todo bien, sin problemas", P),
        ("¿Dónde está mi pedido?", O),
        ("Es muy útil", P),
        // French
        ("Merci, ça marche", P),
        ("Ça ne marche pas", N),
        ("Ça marche pas", N),
        ("Pas de problème, merci", P),
        ("Pas mal du tout", O),
        ("Il y a une erreur sur la page", N),
        ("Bonjour, je cherche un produit", O),
        ("Parfait, merci beaucoup", P),
        ("Merci mais ça ne fonctionne pas", N),
        ("Le colis est arrivé cassé", N),
        ("Ce n'est pas bon", N),
        ("Très utile", P),
        // German
        ("Danke, das funktioniert", P),
        ("Funktioniert nicht", N),
        ("Das hilft mir nicht", N),
        ("Kein Problem, danke", P),
        ("Es gibt einen Fehler", N),
        ("Hallo, ich brauche Hilfe", O),
        ("Super, perfekt!", P),
        ("Danke, aber es funktioniert immer noch nicht", N),
        ("Das ist nicht gut", N),
        ("Die Lieferung kam kaputt an", N),
        ("Sehr hilfreich, danke", P),
        ("Wo ist meine Bestellung?", O),
        // Other languages: no indicator
        ("Ciao, dove si trova il mio ordine?", O),
        ("Obrigado pela ajuda", O),
        ("谢谢", O),
    ];

    #[test]
    fn labelled_sentences_in_five_languages() {
        assert!(LABELLED.len() >= 60);
        let wrong: Vec<_> = LABELLED
            .iter()
            .filter(|(text, label)| sentiment(text) != *label)
            .map(|(text, label)| format!("{text:?}: expected {label:?}, got {:?}", sentiment(text)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn negation_stays_within_its_clause_and_reach() {
        // The comma ends "no"'s clause: "great" is not negated.
        assert_eq!(sentiment("no, great"), P);
        // Three words at most: "not" does not reach "good" four words on.
        assert_eq!(sentiment("not one of the good ones"), P);
        // A negator flips only the first indicator after it.
        assert_eq!(sentiment("no problem great job"), P);
    }
}
