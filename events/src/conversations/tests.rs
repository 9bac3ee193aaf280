use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::aggregate::Aggregate;
use crate::ids::{AnswerId, MessageId, UserId};

fn apply(c: &mut Conversation, events: Vec<ConversationEvent>) {
    for e in &events {
        c.evolve(e);
    }
}

fn started() -> Conversation {
    let mut c = Conversation::default();
    let e = c
        .decide(ConversationCommand::Start {
            owner: UserId(Uuid::nil()),
            title: "  Trip\u{0007} notes ".into(),
            provider: "local".into(),
        })
        .unwrap();
    apply(&mut c, e);
    c
}

fn post(c: &Conversation, answer_id: Uuid) -> Result<Vec<ConversationEvent>, ConversationError> {
    c.decide(ConversationCommand::Post {
        message_id: MessageId(Uuid::new_v4()),
        text: "hello".into(),
        attachments: vec![],
        answer_id: AnswerId(answer_id),
        provider: "local".into(),
        model: "m".into(),
        node: "n".into(),
    })
}

#[test]
fn an_answer_streams_completes_and_joins_the_turns() {
    let mut c = started();
    assert_eq!(c.title, "Trip  notes");
    let a = Uuid::new_v4();
    let e = post(&c, a).unwrap();
    apply(&mut c, e);
    assert!(matches!(
        post(&c, Uuid::new_v4()),
        Err(ConversationError::AnswerInProgress)
    ));
    for piece in ["Hel", "lo!"] {
        let e = c
            .decide(ConversationCommand::Stream {
                answer_id: AnswerId(a),
                delta: piece.into(),
            })
            .unwrap();
        apply(&mut c, e);
    }
    assert_eq!(c.answering.as_ref().unwrap().seq, 2);
    let e = c
        .decide(ConversationCommand::Complete {
            answer_id: AnswerId(a),
            finish_reason: "stop".into(),
            model: "m".into(),
            tokens_in: 3,
            tokens_out: 2,
            timings: AnswerTimings::default(),
            context: vec![],
        })
        .unwrap();
    match &e[0] {
        ConversationEvent::AnswerCompleted { text, .. } => assert_eq!(text, "Hello!"),
        other => panic!("{other:?}"),
    }
    apply(&mut c, e);
    assert!(c.answering.is_none());
    assert_eq!(c.turns.len(), 2);
    assert_eq!(c.turns[1].text, "Hello!");
    assert!(post(&c, Uuid::new_v4()).is_ok());
}

#[test]
fn a_cancelled_answer_keeps_its_text_and_refuses_more_pieces() {
    let mut c = started();
    let a = Uuid::new_v4();
    let e = post(&c, a).unwrap();
    apply(&mut c, e);
    let e = c
        .decide(ConversationCommand::Stream {
            answer_id: AnswerId(a),
            delta: "Part".into(),
        })
        .unwrap();
    apply(&mut c, e);
    let e = c
        .decide(ConversationCommand::Cancel {
            answer_id: AnswerId(a),
            by: None,
        })
        .unwrap();
    apply(&mut c, e);
    assert_eq!(c.turns.last().unwrap().text, "Part");
    for cmd in [
        ConversationCommand::Stream {
            answer_id: AnswerId(a),
            delta: "x".into(),
        },
        ConversationCommand::Cancel {
            answer_id: AnswerId(a),
            by: None,
        },
    ] {
        assert!(matches!(
            c.decide(cmd),
            Err(ConversationError::AnswerNotActive)
        ));
    }
}

#[test]
fn bad_commands_are_refused() {
    let c = Conversation::default();
    assert!(matches!(
        c.decide(ConversationCommand::Rename { title: "x".into() }),
        Err(ConversationError::NotFound)
    ));
    let mut c = started();
    assert!(matches!(
        c.decide(ConversationCommand::Rename {
            title: " \n ".into()
        }),
        Err(ConversationError::Invalid(_))
    ));
    assert!(matches!(
        c.decide(ConversationCommand::Post {
            message_id: MessageId(Uuid::new_v4()),
            text: " ".into(),
            attachments: vec![],
            answer_id: AnswerId(Uuid::new_v4()),
            provider: "local".into(),
            model: "m".into(),
            node: "n".into(),
        }),
        Err(ConversationError::Invalid(_))
    ));
    let e = c
        .decide(ConversationCommand::Delete { at: Utc::now() })
        .unwrap();
    apply(&mut c, e);
    assert!(matches!(
        post(&c, Uuid::new_v4()),
        Err(ConversationError::NotFound)
    ));
}
