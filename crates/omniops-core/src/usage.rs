//! Token counts in the OpenTelemetry convention: `input` includes cached and cache-write
//! tokens, `output` includes reasoning tokens. Provider usage objects are normalised here.

use serde::{Deserialize, Serialize};

/// The service tier a call ran at; priced at that tier's rates where the price has them.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    #[default]
    Default,
    Flex,
    Priority,
    Batch,
}

impl ServiceTier {
    pub const ALL: [ServiceTier; 4] = [
        ServiceTier::Default,
        ServiceTier::Flex,
        ServiceTier::Priority,
        ServiceTier::Batch,
    ];

    /// A provider's name for it: OpenAI's `service_tier` (`default`, `flex`, `priority`,
    /// and `auto`/`scale`, billed at the default rates), Anthropic's (`standard`,
    /// `priority`, `batch`), or ours.
    pub fn parse(text: &str) -> Option<ServiceTier> {
        match text.trim().to_ascii_lowercase().as_str() {
            "default" | "standard" | "auto" | "scale" | "" => Some(ServiceTier::Default),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            "batch" | "batches" => Some(ServiceTier::Batch),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
            ServiceTier::Batch => "batch",
        }
    }
}

/// What one model call used: its tokens, the part of its cache writes kept for an hour
/// (Anthropic prices them apart), and its service tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallUsage {
    pub tokens: TokenUsage,
    /// Of `tokens.cache_write`, those written for one hour.
    pub cache_write_1h: i64,
    pub service_tier: ServiceTier,
}

impl CallUsage {
    pub fn validate(&self) -> Result<(), UsageError> {
        self.tokens.validate()?;
        if self.cache_write_1h < 0 {
            return Err(UsageError::Negative("cache_write_1h_tokens"));
        }
        if self.cache_write_1h > crate::limits::MAX_TOKENS {
            return Err(UsageError::TooLarge("cache_write_1h_tokens"));
        }
        if self.cache_write_1h > self.tokens.cache_write {
            return Err(UsageError::OneHourExceedsCacheWrite);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    pub output: i64,
    pub reasoning: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("{0} must not be negative")]
    Negative(&'static str),
    #[error("cached_input_tokens + cache_write_tokens exceed input_tokens")]
    CachedExceedsInput,
    #[error("reasoning_tokens exceed output_tokens")]
    ReasoningExceedsOutput,
    #[error("one-hour cache writes exceed cache_write_tokens")]
    OneHourExceedsCacheWrite,
    #[error("token counts too large")]
    Overflow,
    #[error("{0} must be at most {max}", max = crate::limits::MAX_TOKENS)]
    TooLarge(&'static str),
    #[error("service_tier must be one of default, flex, priority, batch")]
    ServiceTier,
}

impl TokenUsage {
    pub fn total(&self) -> i64 {
        self.input.saturating_add(self.output)
    }

    pub fn validate(&self) -> Result<(), UsageError> {
        for (name, value) in [
            ("input_tokens", self.input),
            ("cached_input_tokens", self.cached_input),
            ("cache_write_tokens", self.cache_write),
            ("output_tokens", self.output),
            ("reasoning_tokens", self.reasoning),
        ] {
            if value < 0 {
                return Err(UsageError::Negative(name));
            }
            if value > crate::limits::MAX_TOKENS {
                return Err(UsageError::TooLarge(name));
            }
        }
        if self.cached_input.saturating_add(self.cache_write) > self.input {
            return Err(UsageError::CachedExceedsInput);
        }
        if self.reasoning > self.output {
            return Err(UsageError::ReasoningExceedsOutput);
        }
        Ok(())
    }

    pub fn checked_add(&self, other: &TokenUsage) -> Result<TokenUsage, UsageError> {
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(UsageError::Overflow);
        Ok(TokenUsage {
            input: add(self.input, other.input)?,
            cached_input: add(self.cached_input, other.cached_input)?,
            cache_write: add(self.cache_write, other.cache_write)?,
            output: add(self.output, other.output)?,
            reasoning: add(self.reasoning, other.reasoning)?,
        })
    }
}

/// A provider's `usage` object as it arrives: OpenAI Chat Completions, OpenAI Responses
/// or Anthropic Messages. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderUsage {
    // OpenAI Chat Completions
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    prompt_tokens_details: Option<OpenAiInputDetails>,
    completion_tokens_details: Option<OpenAiOutputDetails>,
    // OpenAI Responses and Anthropic share these two names
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    input_tokens_details: Option<OpenAiInputDetails>,
    output_tokens_details: Option<OpenAiOutputDetails>,
    // Anthropic
    cache_read_input_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    /// Anthropic's split of cache writes by lifetime.
    cache_creation: Option<AnthropicCacheCreation>,
    /// Anthropic reports the tier inside `usage`; OpenAI beside it (the event's field).
    service_tier: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AnthropicCacheCreation {
    ephemeral_5m_input_tokens: Option<i64>,
    ephemeral_1h_input_tokens: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct OpenAiInputDetails {
    cached_tokens: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct OpenAiOutputDetails {
    reasoning_tokens: Option<i64>,
}

impl ProviderUsage {
    /// OpenAI counts cached tokens inside `prompt_tokens` and reasoning inside
    /// `completion_tokens`; Anthropic's `input_tokens` excludes cache reads and writes.
    pub fn normalise(&self) -> Result<TokenUsage, UsageError> {
        let usage = if let Some(prompt) = self.prompt_tokens {
            TokenUsage {
                input: prompt,
                cached_input: detail_cached(&self.prompt_tokens_details),
                cache_write: 0,
                output: self.completion_tokens.unwrap_or(0),
                reasoning: detail_reasoning(&self.completion_tokens_details),
            }
        } else if self.cache_read_input_tokens.is_some()
            || self.cache_creation_input_tokens.is_some()
        {
            let read = self.cache_read_input_tokens.unwrap_or(0);
            let write = match (self.cache_creation_input_tokens, &self.cache_creation) {
                (Some(total), _) => total,
                (None, Some(c)) => c
                    .ephemeral_5m_input_tokens
                    .unwrap_or(0)
                    .checked_add(c.ephemeral_1h_input_tokens.unwrap_or(0))
                    .ok_or(UsageError::Overflow)?,
                (None, None) => 0,
            };
            TokenUsage {
                input: self
                    .input_tokens
                    .unwrap_or(0)
                    .checked_add(read)
                    .and_then(|v| v.checked_add(write))
                    .ok_or(UsageError::Overflow)?,
                cached_input: read,
                cache_write: write,
                output: self.output_tokens.unwrap_or(0),
                reasoning: 0,
            }
        } else {
            TokenUsage {
                input: self.input_tokens.unwrap_or(0),
                cached_input: detail_cached(&self.input_tokens_details),
                cache_write: 0,
                output: self.output_tokens.unwrap_or(0),
                reasoning: detail_reasoning(&self.output_tokens_details),
            }
        };
        usage.validate()?;
        Ok(usage)
    }

    /// The call's usage: [`ProviderUsage::normalise`] plus one-hour cache writes and the
    /// service tier Anthropic reports inside `usage` (`None` when it names an unknown one).
    pub fn call(&self) -> Result<CallUsage, UsageError> {
        let call = CallUsage {
            tokens: self.normalise()?,
            cache_write_1h: self
                .cache_creation
                .as_ref()
                .and_then(|c| c.ephemeral_1h_input_tokens)
                .unwrap_or(0),
            service_tier: match self.service_tier.as_deref() {
                None => ServiceTier::Default,
                Some(text) => ServiceTier::parse(text).ok_or(UsageError::ServiceTier)?,
            },
        };
        call.validate()?;
        Ok(call)
    }
}

fn detail_cached(details: &Option<OpenAiInputDetails>) -> i64 {
    details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0)
}

fn detail_reasoning(details: &Option<OpenAiOutputDetails>) -> i64 {
    details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> TokenUsage {
        serde_json::from_str::<ProviderUsage>(json)
            .expect("usage json")
            .normalise()
            .expect("valid usage")
    }

    #[test]
    fn openai_chat_usage_keeps_cached_inside_prompt() {
        let usage = parse(
            r#"{"prompt_tokens":2000,"completion_tokens":100,"total_tokens":2100,
                "prompt_tokens_details":{"cached_tokens":1500},
                "completion_tokens_details":{"reasoning_tokens":40}}"#,
        );
        assert_eq!(
            usage,
            TokenUsage {
                input: 2000,
                cached_input: 1500,
                cache_write: 0,
                output: 100,
                reasoning: 40
            }
        );
    }

    #[test]
    fn anthropic_usage_adds_cache_reads_and_writes_to_input() {
        let usage = parse(
            r#"{"input_tokens":100,"cache_read_input_tokens":3000,
                "cache_creation_input_tokens":500,"output_tokens":250}"#,
        );
        assert_eq!(
            usage,
            TokenUsage {
                input: 3600,
                cached_input: 3000,
                cache_write: 500,
                output: 250,
                reasoning: 0
            }
        );
    }

    #[test]
    fn openai_responses_usage_reads_details() {
        let usage = parse(
            r#"{"input_tokens":800,"output_tokens":300,
                "input_tokens_details":{"cached_tokens":200},
                "output_tokens_details":{"reasoning_tokens":120}}"#,
        );
        assert_eq!(
            usage,
            TokenUsage {
                input: 800,
                cached_input: 200,
                cache_write: 0,
                output: 300,
                reasoning: 120
            }
        );
    }

    #[test]
    fn rejects_inconsistent_counts() {
        let bad = TokenUsage {
            input: 10,
            cached_input: 11,
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(UsageError::CachedExceedsInput));
        let bad = TokenUsage {
            output: 1,
            reasoning: 2,
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(UsageError::ReasoningExceedsOutput));
        let bad = TokenUsage {
            input: -1,
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(UsageError::Negative("input_tokens")));
    }
}
