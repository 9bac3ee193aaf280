//! The chat template: rendering a conversation in the model's own format (the template stored in
//! the GGUF, or ChatML) and fitting it into the context window.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use super::{LlamaError, LlamaModel};

/// ChatML, for GGUF files that carry no chat template.
pub const CHATML_TEMPLATE: &str =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] \
    + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}\
    {{ '<|im_start|>assistant\n' }}{% endif %}";

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may accept others).
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The chat templates of a loaded GGUF file and whether they are the file's own: the file's
/// template when it carries one that parses, else ChatML.
pub(super) fn chat_templates(
    model: &llama_cpp_2::model::LlamaModel,
    shown: &str,
) -> Result<(Environment<'static>, bool), LlamaError> {
    let file_template = model
        .chat_template(None)
        .ok()
        .and_then(|t| t.to_string().ok())
        .or_else(|| model.meta_val_str("tokenizer.chat_template").ok())
        .filter(|t| !t.trim().is_empty());
    if let Some(source) = file_template {
        match template_environment(source) {
            Ok(env) => return Ok((env, true)),
            Err(e) => {
                tracing::warn!(path = %shown, error = %e, "the GGUF chat template does not parse; using ChatML");
            }
        }
    }
    let chatml =
        template_environment(CHATML_TEMPLATE.to_owned()).map_err(|e| LlamaError::Load {
            path: shown.to_owned(),
            message: e.to_string(),
        })?;
    Ok((chatml, false))
}

impl LlamaModel {
    /// Whether the chat template came from the file (otherwise the built-in ChatML is used).
    pub fn has_file_template(&self) -> bool {
        self.template_from_file
    }

    /// Renders a conversation with the model's chat template, ending with the prompt for the
    /// assistant's next turn.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, LlamaError> {
        if messages.is_empty() {
            return Err(LlamaError::InvalidMessages("there are no messages".into()));
        }
        let template = self
            .templates
            .get_template("chat")
            .map_err(|e| LlamaError::InvalidMessages(e.to_string()))?;
        let messages: Value = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|e| LlamaError::InvalidMessages(jinja_message(&e)))
    }

    /// The number of tokens of a rendered conversation.
    pub fn count_chat_tokens(&self, messages: &[ChatMessage]) -> Result<usize, LlamaError> {
        self.count_tokens(&self.render_chat(messages)?)
    }

    /// Drops the oldest messages that are not system messages (never the last one) until the
    /// conversation plus `max_tokens` fits the context window.
    pub fn fit_messages(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
    ) -> Result<Vec<ChatMessage>, LlamaError> {
        let mut kept = messages.to_vec();
        loop {
            let prompt_tokens = self.count_chat_tokens(&kept)?;
            if prompt_tokens + max_tokens <= self.n_ctx {
                return Ok(kept);
            }
            let last = kept.len().saturating_sub(1);
            match kept.iter().take(last).position(|m| m.role != "system") {
                Some(i) => {
                    kept.remove(i);
                }
                None => {
                    return Err(LlamaError::ContextExceeded {
                        prompt_tokens,
                        max_tokens,
                        n_ctx: self.n_ctx,
                    })
                }
            }
        }
    }
}

/// A minijinja environment holding one template, `chat`, configured like Hugging Face's
/// renderer (blocks trimmed, Python string methods, `raise_exception`).
fn template_environment(source: String) -> Result<Environment<'static>, JinjaError> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<Value, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_template_owned("chat", source)?;
    Ok(env)
}

/// The message of a template error, without minijinja's source listing.
fn jinja_message(e: &JinjaError) -> String {
    match e.detail() {
        Some(detail) => detail.to_owned(),
        None => e.to_string(),
    }
}
