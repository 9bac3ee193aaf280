//! Chat generation and summarisation on the real SmolLM2-135M-Instruct GGUF.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use tessera_models::runtime::llama::{
    ChatMessage, Finish, GenerateOptions, Generation, LlamaError, LlamaModel, LlamaOptions,
};
use tessera_models::runtime::{InputFault, Model, RuntimeError};
use tessera_models::text::chat::{summarise, ChatModel, ChatRequest};

/// SmolLM2-135M at Q4_1 answers the bare question greedily with French word salad (llama.cpp
/// gives the same tokens outside this crate); asking for a sentence gets the plain answer.
const FRANCE: &str = "What is the capital of France? Answer in one sentence.";

const SMOLLM_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

fn model_path() -> std::path::PathBuf {
    crate::support::model_dir("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The model with default options, shared by the tests as the product shares it.
fn model() -> Arc<LlamaModel> {
    static MODEL: OnceLock<Arc<LlamaModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| LlamaModel::load(&model_path(), &LlamaOptions::default()).expect("loads"))
        .clone()
}

/// The same file with a 256-token context window.
fn small_model() -> Arc<LlamaModel> {
    static MODEL: OnceLock<Arc<LlamaModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let options = LlamaOptions {
                n_ctx: Some(256),
                ..LlamaOptions::default()
            };
            LlamaModel::load(&model_path(), &options).expect("loads")
        })
        .clone()
}

fn ask(model: &LlamaModel, question: &str, options: &GenerateOptions) -> (String, Finish, usize) {
    let g = model
        .chat(
            &[ChatMessage::user(question)],
            options,
            &AtomicBool::new(false),
            |_| ControlFlow::Continue(()),
        )
        .expect("generates");
    (g.text, g.finish, g.completion_tokens)
}

#[test]
fn greedy_answer_names_paris() {
    let m = model();
    assert!(m.n_ctx_train() >= 2048, "n_ctx_train {}", m.n_ctx_train());
    let (text, finish, tokens) = ask(&m, FRANCE, &GenerateOptions::greedy(48));
    assert!(text.contains("Paris"), "answer: {text:?}");
    assert_eq!(finish, Finish::Stop, "answer: {text:?}");
    assert!(tokens > 0 && tokens < 48);
}

#[test]
fn template_from_the_file_adds_the_default_system_prompt() {
    let m = model();
    assert!(m.has_file_template());
    let rendered = m
        .render_chat(&[
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("How are you?"),
        ])
        .expect("renders");
    assert!(
        rendered.starts_with(&format!("<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>\n")),
        "{rendered:?}"
    );
    assert!(rendered
        .contains("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"));
    assert!(
        rendered.ends_with("<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"),
        "{rendered:?}"
    );

    let own_system = m
        .render_chat(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")])
        .expect("renders");
    assert!(!own_system.contains(SMOLLM_SYSTEM), "{own_system:?}");
    assert!(own_system.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n"));

    assert!(matches!(
        m.render_chat(&[]).expect_err("no messages"),
        LlamaError::InvalidMessages(_)
    ));
}

#[test]
fn streamed_pieces_concatenate_to_the_final_text() {
    let m = model();
    let mut pieces = Vec::new();
    let g = m
        .chat(
            &[ChatMessage::user("Write a short poem about the sea.")],
            &GenerateOptions::greedy(40),
            &AtomicBool::new(false),
            |p| {
                pieces.push(p.to_owned());
                ControlFlow::Continue(())
            },
        )
        .expect("generates");
    assert!(pieces.len() > 5, "{pieces:?}");
    assert!(pieces.iter().all(|p| !p.is_empty()));
    assert_eq!(pieces.concat(), g.text);
    assert!(g.prompt_tokens > 10);
    assert!(g.first_token_ms > 0.0);
    assert!(g.decode_tokens_per_s > 0.0);
}

#[test]
fn max_tokens_ends_with_length() {
    let m = model();
    let (text, finish, tokens) = ask(
        &m,
        "Tell me a long story about a dragon.",
        &GenerateOptions::greedy(5),
    );
    assert_eq!(finish, Finish::Length);
    assert_eq!(tokens, 5);
    assert!(!text.is_empty());
}

#[test]
fn a_stop_sequence_ends_the_answer_and_is_not_emitted() {
    let m = model();
    let question = FRANCE;
    let (full, _, _) = ask(&m, question, &GenerateOptions::greedy(48));
    // A word from the middle of the greedy answer; the same answer must stop right before it.
    let words: Vec<&str> = full.split_whitespace().collect();
    assert!(words.len() >= 3, "answer: {full:?}");
    let stop = words[words.len() / 2].to_owned();
    let cut = full.find(&stop).expect("the word is in the answer");

    let mut streamed = String::new();
    let g = m
        .chat(
            &[ChatMessage::user(question)],
            &GenerateOptions {
                stop: vec![stop.clone()],
                ..GenerateOptions::greedy(48)
            },
            &AtomicBool::new(false),
            |p| {
                streamed.push_str(p);
                ControlFlow::Continue(())
            },
        )
        .expect("generates");
    assert_eq!(g.finish, Finish::StopSequence, "{g:?}");
    assert_eq!(g.text, full[..cut], "stop {stop:?} in {full:?}");
    assert_eq!(streamed, g.text);
    assert!(!streamed.contains(&stop));
}

#[test]
fn cancelling_from_another_thread_ends_the_generation() {
    let m = model();
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            if rx.recv().is_ok() {
                cancel.store(true, Ordering::SeqCst);
            }
        })
    };
    let mut seen = 0;
    let g = m
        .chat(
            &[ChatMessage::user("Tell me a long story about a dragon.")],
            &GenerateOptions::greedy(300),
            &cancel,
            |_| {
                seen += 1;
                if seen == 3 {
                    let _ = tx.send(());
                }
                ControlFlow::Continue(())
            },
        )
        .expect("generates");
    canceller.join().expect("canceller ends");
    assert_eq!(g.finish, Finish::Cancelled, "{g:?}");
    assert!(
        g.completion_tokens >= 3 && g.completion_tokens < 300,
        "{} tokens",
        g.completion_tokens
    );
}

#[test]
fn a_prompt_larger_than_the_context_is_refused() {
    let m = small_model();
    assert_eq!(m.n_ctx(), 256);
    let long = "Tell me about the history of the bridge. ".repeat(40);
    let err = m
        .chat(
            &[ChatMessage::user(long.clone())],
            &GenerateOptions::greedy(32),
            &AtomicBool::new(false),
            |_| ControlFlow::Continue(()),
        )
        .expect_err("does not fit");
    assert!(matches!(err, LlamaError::ContextExceeded { .. }), "{err}");
    match &err {
        LlamaError::ContextExceeded {
            prompt_tokens,
            max_tokens,
            n_ctx,
        } => {
            assert!(*prompt_tokens > 256, "{prompt_tokens}");
            assert_eq!((*max_tokens, *n_ctx), (32, 256));
            let message = err.to_string();
            assert!(message.contains(&prompt_tokens.to_string()) && message.contains("256"));
        }
        other => panic!("{other:?}"),
    }

    // Dropping the oldest turns makes it fit, keeping the system turn and the question.
    let messages = vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user(long),
        ChatMessage::assistant("It is old."),
        ChatMessage::user("What is the capital of France?"),
    ];
    let fitted = m.fit_messages(&messages, 32).expect("fits");
    assert_eq!(fitted.first(), messages.first());
    assert_eq!(fitted.last(), messages.last());
    assert!(fitted.len() < messages.len());
    assert!(m.count_chat_tokens(&fitted).expect("counts") + 32 <= 256);
    let g = m
        .chat(
            &fitted,
            &GenerateOptions::greedy(32),
            &AtomicBool::new(false),
            |_| ControlFlow::Continue(()),
        )
        .expect("fits now");
    assert!(g.completion_tokens > 0);
}

#[test]
fn two_generations_run_at_once_on_their_own_contexts() {
    let m = model();
    let questions = [FRANCE, "What is the capital of Japan?"];
    let options = GenerateOptions::greedy(40);
    let alone: Vec<String> = questions.iter().map(|q| ask(&m, q, &options).0).collect();
    let together: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = questions
            .iter()
            .map(|q| {
                let m = m.clone();
                let options = options.clone();
                s.spawn(move || ask(&m, q, &options).0)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread ends"))
            .collect()
    });
    assert!(together[0].contains("Paris"), "{together:?}");
    assert!(together[1].contains("Tokyo"), "{together:?}");
    assert_eq!(alone, together);
}

#[test]
fn the_registry_model_streams_and_reports_errors_per_request() {
    let mut chat = ChatModel::new(model());
    let streamed = Arc::new(Mutex::new(String::new()));
    let sink = streamed.clone();
    let mut request = ChatRequest::new(vec![ChatMessage::user(FRANCE)], GenerateOptions::greedy(3));
    request.on_token = Some(Box::new(move |p| {
        if let Ok(mut s) = sink.lock() {
            s.push_str(p);
        }
        ControlFlow::Continue(())
    }));
    let bad = ChatRequest::new(vec![ChatMessage::user("Hi")], GenerateOptions::greedy(0));
    let results = chat.run_batch(vec![request, bad]);
    assert_eq!(results.len(), 2);
    let g = results[0].as_ref().expect("first succeeds");
    assert_eq!((g.finish, g.completion_tokens), (Finish::Length, 3));
    assert_eq!(*streamed.lock().expect("lock"), g.text);
    let err = results[1].as_ref().expect_err("max_tokens 0 is refused");
    assert!(
        matches!(
            err,
            RuntimeError::Rejected {
                fault: InputFault::InvalidOptions,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn summarises_short_and_long_text_within_the_word_limit() {
    let m = model();
    let never = AtomicBool::new(false);
    assert_eq!(summarise(&m, "  \n ", 30, &never).expect("empty"), "");

    let text = "Mars is the fourth planet from the Sun. It is called the Red Planet because iron \
                oxide on its surface gives it a reddish colour. Mars has two small moons, Phobos \
                and Deimos. Its thin atmosphere is mostly carbon dioxide. Several robotic rovers, \
                such as Curiosity and Perseverance, have explored its surface looking for signs \
                of ancient water and life.";
    let summary = summarise(&m, text, 30, &never).expect("summarises");
    let words = summary.split_whitespace().count();
    assert!(words > 3 && words <= 30, "{summary:?}");
    assert!(summary.contains("Mars"), "{summary:?}");

    // Too long for a 256-token window: cut into pieces, then the summaries summarised.
    let small = small_model();
    let long = text.repeat(4);
    assert!(small.count_tokens(&long).expect("counts") > 256);
    let summary = summarise(&small, &long, 20, &never).expect("summarises");
    let words = summary.split_whitespace().count();
    assert!(words > 3 && words <= 20, "{summary:?}");
    assert!(summary.contains("Mars"), "{summary:?}");
}

/// The same file with a prompt cache of `mb` MB (each budget is its own loaded copy).
fn cached_model(mb: usize) -> Arc<LlamaModel> {
    let options = LlamaOptions {
        prompt_cache_bytes: mb << 20,
        ..LlamaOptions::default()
    };
    LlamaModel::load(&model_path(), &options).expect("loads")
}

fn scoped(scope: &str, max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        cache_scope: Some(scope.to_owned()),
        ..GenerateOptions::greedy(max_tokens)
    }
}

fn chat(m: &LlamaModel, messages: &[ChatMessage], options: &GenerateOptions) -> Generation {
    m.chat(messages, options, &AtomicBool::new(false), |_| {
        ControlFlow::Continue(())
    })
    .expect("generates")
}

#[test]
fn a_prompt_beginning_like_an_earlier_one_of_the_same_scope_reuses_its_state() {
    let m = cached_model(16);
    let first = vec![
        ChatMessage::system(SMOLLM_SYSTEM),
        ChatMessage::user(FRANCE),
    ];
    let cold = chat(&m, &first, &scoped("ann", 24));
    assert_eq!(cold.cached_prompt_tokens, 0);
    assert!(m.prompt_cache_bytes() > 0, "the state was saved");

    // The same prompt: everything but the last token comes from the cache, and the greedy
    // answer is the one read from scratch.
    let again = chat(&m, &first, &scoped("ann", 24));
    assert_eq!(again.cached_prompt_tokens, again.prompt_tokens - 1);
    assert_eq!(again.text, cold.text);

    // The conversation one turn later: the whole first turn (prompt and answer) is reused
    // up to where the rendered answer and the generated tokens part.
    let mut next = first.clone();
    next.push(ChatMessage::assistant(cold.text.clone()));
    next.push(ChatMessage::user("And of Italy?"));
    let turn = chat(&m, &next, &scoped("ann", 24));
    assert!(
        turn.cached_prompt_tokens >= cold.prompt_tokens,
        "{} of {} cached, first prompt {}",
        turn.cached_prompt_tokens,
        turn.prompt_tokens,
        cold.prompt_tokens
    );
    let fresh = chat(&model(), &next, &GenerateOptions::greedy(24));
    assert_eq!(
        turn.text, fresh.text,
        "the reused state answers as a fresh one"
    );

    // Another scope never sees it, and no scope neither reuses nor saves.
    let other = chat(&m, &first, &scoped("bob", 24));
    assert_eq!(other.cached_prompt_tokens, 0);
    let before = m.prompt_cache_bytes();
    let unscoped = chat(
        &m,
        &[
            ChatMessage::system(SMOLLM_SYSTEM),
            ChatMessage::user("Name a colour."),
        ],
        &GenerateOptions::greedy(8),
    );
    assert_eq!(unscoped.cached_prompt_tokens, 0);
    assert_eq!(m.prompt_cache_bytes(), before);
}

#[test]
fn the_prompt_cache_stays_within_its_budget_and_can_be_off() {
    let off = model();
    let messages = [
        ChatMessage::system(SMOLLM_SYSTEM),
        ChatMessage::user(FRANCE),
    ];
    chat(&off, &messages, &scoped("ann", 8));
    let g = chat(&off, &messages, &scoped("ann", 8));
    assert_eq!(
        g.cached_prompt_tokens, 0,
        "a budget of 0 turns the cache off"
    );
    assert_eq!(off.prompt_cache_bytes(), 0);

    // One state of this prompt is about 2 MB: a 3 MB budget keeps one at a time.
    let m = cached_model(3);
    for scope in ["a", "b", "c"] {
        chat(&m, &messages, &scoped(scope, 8));
        assert!(
            m.prompt_cache_bytes() <= 3 << 20,
            "{}",
            m.prompt_cache_bytes()
        );
    }
    let newest = chat(&m, &messages, &scoped("c", 8));
    assert!(newest.cached_prompt_tokens > 0, "the newest state is kept");
    let oldest = chat(&m, &messages, &scoped("a", 8));
    assert_eq!(oldest.cached_prompt_tokens, 0, "the oldest went first");
}

/// With the repetition controls off, greedy decoding of a repetitive request loops; the loop
/// guard cuts it where the repetition began, and nothing of the repeated run is streamed.
#[test]
fn a_loop_is_cut_before_it_is_streamed() {
    let m = model();
    let mut streamed = String::new();
    let g = m
        .chat(
            &[ChatMessage::user(
                "Write the word 'cat' fifty times, separated by spaces.",
            )],
            &GenerateOptions {
                repeat_penalty: 1.0,
                dry_multiplier: 0.0,
                ..GenerateOptions::greedy(200)
            },
            &AtomicBool::new(false),
            |p| {
                streamed.push_str(p);
                ControlFlow::Continue(())
            },
        )
        .expect("generates");
    assert_eq!(g.finish, Finish::Loop, "{g:?}");
    assert_eq!(streamed, g.text);
    let cats = g.text.to_lowercase().matches("cat").count();
    assert!(
        (1..16).contains(&cats), // a loop is a repeated run of 16 tokens
        "the repeated run is never shown: {:?}",
        g.text
    );
}

#[test]
fn repetition_options_out_of_range_are_refused() {
    let m = model();
    for options in [
        GenerateOptions {
            repeat_penalty: 0.0,
            ..GenerateOptions::greedy(4)
        },
        GenerateOptions {
            frequency_penalty: 3.0,
            ..GenerateOptions::greedy(4)
        },
        GenerateOptions {
            dry_multiplier: f32::NAN,
            ..GenerateOptions::greedy(4)
        },
    ] {
        let err = m
            .chat(
                &[ChatMessage::user("Hi")],
                &options,
                &AtomicBool::new(false),
                |_| ControlFlow::Continue(()),
            )
            .expect_err("refused");
        assert!(matches!(err, LlamaError::InvalidOptions(_)), "{err}");
    }
}
