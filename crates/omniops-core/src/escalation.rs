//! A user asking for a person instead of the assistant (README: analytics, escalation rate):
//! whole words or phrases of English, Spanish, French and German.

use crate::text::words;

/// One-word requests; "agent" is the same word in English, French and German.
const WORDS: [&str; 14] = [
    "human",
    "agent",
    "representative",
    "operator", // English
    "humano",
    "agente",
    "representante",
    "operador", // Spanish
    "humain",
    "conseiller",
    "représentant", // French
    "mensch",
    "mitarbeiter",
    "kundenberater", // German
];

/// Requests of several words, as word sequences.
const PHRASES: [&[&str]; 8] = [
    &["real", "person"],
    &["live", "person"],
    &["customer", "service"],
    &["persona", "real"],
    &["vraie", "personne"],
    &["personne", "réelle"],
    &["echte", "person"],
    &["echten", "menschen"],
];

/// Whether the text asks for a person.
pub fn asks_for_human(text: &str) -> bool {
    let words = words(text);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
        || PHRASES.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|window| window.iter().zip(phrase.iter()).all(|(w, p)| w == p))
        })
}

#[cfg(test)]
mod tests {
    use super::asks_for_human;

    #[test]
    fn requests_for_a_person_in_four_languages() {
        for text in [
            "Can I talk to a human?",
            "I want a real person please",
            "connect me with an agent",
            "Quiero hablar con un humano",
            "¿Puedo hablar con una persona real?",
            "Je veux parler à un conseiller",
            "Je voudrais une vraie personne",
            "Ich möchte mit einem Mitarbeiter sprechen",
            "Bitte eine echte Person",
        ] {
            assert!(asks_for_human(text), "{text}");
        }
        for text in [
            "Do you have torque wrenches?",
            "humanity",
            "Is this a real product?",
            "Personne ne répond",
        ] {
            assert!(!asks_for_human(text), "{text}");
        }
    }
}
