//! Typed `multipart/form-data` forms: a form type declares its parts (text parts with their
//! size limits, file parts, and how many times each may come) and [`read_form`] fills it from
//! the body as it arrives. An undeclared part, a part repeated past its count, or a text part
//! past its limit is refused the moment it is seen, before the rest of the body is read; a file
//! part streams to the form's own hook, which cuts it off at the first byte past its limit. So
//! a form's whole cost is bounded by its declaration: at most the sum of its parts' counts,
//! each of bounded size (files aside, which their hooks bound).

use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use bytes::Bytes;
use futures_util::Stream;

use super::form::{FieldError, Form, FormError, FormField};
use crate::error::{ApiError, ErrorCode};

/// What a declared part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// UTF-8 text of at most `limit` bytes, read whole before the form sees it.
    Text { limit: usize },
    /// A file, streamed to [`MultipartForm::file`].
    File,
}

/// One part a form accepts, at most `max` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub kind: PartKind,
    pub max: usize,
}

impl Part {
    /// A text part of at most `limit` bytes, sent once.
    pub const fn text(name: &'static str, limit: usize) -> Self {
        Part {
            name,
            kind: PartKind::Text { limit },
            max: 1,
        }
    }

    /// A file part, sent once.
    pub const fn file(name: &'static str) -> Self {
        Part {
            name,
            kind: PartKind::File,
            max: 1,
        }
    }

    /// The same part, accepted up to `max` times.
    pub const fn repeated(self, max: usize) -> Self {
        Part { max, ..self }
    }
}

/// Why a form was refused before any of its own checks: each form's error type maps these to
/// its codes.
#[derive(Debug, thiserror::Error)]
pub enum FormRejection {
    /// The body is cut short or is not valid multipart.
    #[error(transparent)]
    Form(#[from] FormError),
    /// A text part is longer than its declared limit.
    #[error("the {field} field is longer than {limit} bytes")]
    TooLong { field: &'static str, limit: usize },
    /// A text part is not UTF-8.
    #[error("the {field} field is not UTF-8")]
    NotUtf8 { field: &'static str },
    /// A part the form does not declare (its name as sent).
    #[error("unknown form field {field:?}; expected {expected}")]
    Unknown { field: String, expected: String },
    /// A part sent more times than declared.
    #[error("the {field} field may be sent at most {max} times")]
    Repeated {
        field: &'static str,
        kind: PartKind,
        max: usize,
    },
}

/// A form read from a `multipart/form-data` body by [`read_form`].
///
/// The form value carries what its hooks need (the service a file goes to, the caller's
/// budget), so one type both declares the parts and collects them.
// Handlers run on actix's single-threaded workers: the hooks' futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait MultipartForm {
    /// The handler's error; form-level rejections become one of its values.
    type Error: From<FormRejection>;

    /// The parts this form accepts.
    const PARTS: &'static [Part];

    /// A text part's value (called in the order the parts arrive).
    fn text(&mut self, name: &'static str, value: String) -> Result<(), Self::Error>;

    /// A file part: the form reads it (to its limit) or refuses it.
    async fn file(&mut self, name: &'static str, part: &mut FormField) -> Result<(), Self::Error>;
}

/// Reads the body of `req` into `form`, part by part, enforcing the declared parts and limits.
pub async fn read_form<F, S>(req: &HttpRequest, payload: S, mut form: F) -> Result<F, F::Error>
where
    F: MultipartForm,
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    let mut parts = Form::new(req, payload).map_err(FormRejection::from)?;
    let mut seen = vec![0usize; F::PARTS.len()];
    while let Some(mut field) = parts.next_field().await.map_err(FormRejection::from)? {
        let Some(i) = F::PARTS.iter().position(|p| p.name == field.name()) else {
            return Err(FormRejection::Unknown {
                field: field.name().to_owned(),
                expected: F::PARTS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        };
        let part = &F::PARTS[i];
        seen[i] += 1;
        if seen[i] > part.max {
            return Err(FormRejection::Repeated {
                field: part.name,
                kind: part.kind,
                max: part.max,
            }
            .into());
        }
        match part.kind {
            PartKind::Text { limit } => {
                let value = read_text(&mut field, part.name, limit).await?;
                form.text(part.name, value)?;
            }
            PartKind::File => form.file(part.name, &mut field).await?,
        }
    }
    Ok(form)
}

/// A text part whole, refused past `limit` bytes or when it is not UTF-8.
async fn read_text(
    field: &mut FormField,
    name: &'static str,
    limit: usize,
) -> Result<String, FormRejection> {
    let bytes = field.read_to_limit(limit).await.map_err(|e| match e {
        FieldError::Form(e) => FormRejection::Form(e),
        FieldError::TooLong { limit } => FormRejection::TooLong { field: name, limit },
    })?;
    String::from_utf8(bytes).map_err(|_| FormRejection::NotUtf8 { field: name })
}

/// The codes of `/api` forms: a body that stopped early is `incomplete_body`, one that is not
/// valid multipart `invalid_multipart`; a text part too long is `field_too_large`, one not
/// UTF-8 `invalid_field`, an undeclared one `unknown_field`; a file part repeated past its
/// count is `too_many_files`, a text part `too_many_parts`.
impl From<FormRejection> for ApiError {
    fn from(e: FormRejection) -> Self {
        let message = e.to_string();
        match e {
            FormRejection::Form(FormError::Incomplete(_)) => {
                ApiError::bad_request(ErrorCode::IncompleteBody, message)
            }
            FormRejection::Form(FormError::Invalid(_)) => {
                ApiError::bad_request(ErrorCode::InvalidMultipart, message)
            }
            FormRejection::TooLong { field, .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::FieldTooLarge,
                message,
            )
            .with_field(field),
            FormRejection::NotUtf8 { field } => {
                ApiError::bad_request(ErrorCode::InvalidField, message).with_field(field)
            }
            FormRejection::Unknown { field, expected } => {
                let field = crate::content::filename::ascii_fallback(&field);
                ApiError::bad_request(
                    ErrorCode::UnknownField,
                    format!("unknown form field {field:?}; expected {expected}"),
                )
                .with_field(field)
            }
            FormRejection::Repeated { field, kind, .. } => {
                let code = match kind {
                    PartKind::File => ErrorCode::TooManyFiles,
                    PartKind::Text { .. } => ErrorCode::TooManyParts,
                };
                ApiError::bad_request(code, message).with_field(field)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;
    use actix_web::test::TestRequest;

    /// A title of at most 8 bytes, tags up to twice, and files (up to twice) read whole.
    #[derive(Default)]
    struct Note {
        title: Option<String>,
        tags: Vec<String>,
        files: Vec<(Option<String>, Vec<u8>)>,
    }

    impl MultipartForm for Note {
        type Error = FormRejection;
        const PARTS: &'static [Part] = &[
            Part::text("title", 8),
            Part::text("tags", 64).repeated(2),
            Part::file("file").repeated(2),
        ];

        fn text(&mut self, name: &'static str, value: String) -> Result<(), FormRejection> {
            match name {
                "title" => self.title = Some(value),
                _ => self.tags.push(value),
            }
            Ok(())
        }

        async fn file(
            &mut self,
            _: &'static str,
            part: &mut FormField,
        ) -> Result<(), FormRejection> {
            let name = part.filename().map(str::to_owned);
            let bytes = part.read_to_limit(1024).await.map_err(|e| match e {
                FieldError::Form(e) => FormRejection::Form(e),
                FieldError::TooLong { limit } => FormRejection::TooLong {
                    field: "file",
                    limit,
                },
            })?;
            self.files.push((name, bytes));
            Ok(())
        }
    }

    async fn read(body: &'static [u8]) -> Result<Note, FormRejection> {
        let (req, mut payload) = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ"))
            .set_payload(Bytes::from_static(body))
            .to_http_parts();
        read_form(
            &req,
            actix_web::dev::Payload::take(&mut payload),
            Note::default(),
        )
        .await
    }

    #[actix_web::test]
    async fn declared_parts_fill_the_form_in_order() {
        let note = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\na,b\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\n\r\n\
              bytes\r\n--XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nc\r\n--XyZ--\r\n",
        )
        .await
        .unwrap();
        assert_eq!(note.title.as_deref(), Some("Hello"));
        assert_eq!(note.tags, ["a,b", "c"]);
        assert_eq!(note.files, [(Some("x.txt".to_owned()), b"bytes".to_vec())]);
    }

    #[actix_web::test]
    async fn a_part_past_its_count_is_refused_before_the_rest_is_read() {
        // A third `tags` part, then a body cut short: the refusal must not need the rest.
        let err = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\na\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nb\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nc\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nAAAA",
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(
                err,
                FormRejection::Repeated {
                    field: "tags",
                    max: 2,
                    ..
                }
            ),
            "{err}"
        );
        let api = ApiError::from(err);
        assert_eq!(
            (api.code, api.field.as_deref()),
            (ErrorCode::TooManyParts, Some("tags"))
        );
        // A title sent twice, and a third file.
        let err = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\na\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nb\r\n--XyZ--\r\n",
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(
                err,
                FormRejection::Repeated {
                    field: "title",
                    max: 1,
                    ..
                }
            ),
            "{err}"
        );
        let three_files = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\na\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nb\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nc\r\n--XyZ--\r\n";
        let api = ApiError::from(read(three_files).await.err().unwrap());
        assert_eq!(
            (api.code, api.field.as_deref()),
            (ErrorCode::TooManyFiles, Some("file"))
        );
    }

    #[actix_web::test]
    async fn an_undeclared_part_is_refused_before_the_rest_is_read() {
        // The body is cut short after the unknown part: refusing it must not need the rest.
        let err = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"colour\"\r\n\r\nred\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nAAAA",
        )
        .await
        .err()
        .unwrap();
        match err {
            FormRejection::Unknown { field, expected } => {
                assert_eq!(
                    (field.as_str(), expected.as_str()),
                    ("colour", "title, tags, file")
                );
            }
            other => panic!("{other}"),
        }
    }

    #[actix_web::test]
    async fn a_text_part_past_its_limit_or_not_utf8_is_refused() {
        let err = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n123456789\r\n--XyZ--\r\n",
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(
                err,
                FormRejection::TooLong {
                    field: "title",
                    limit: 8
                }
            ),
            "{err}"
        );
        let err = read(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n",
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(err, FormRejection::NotUtf8 { field: "title" }),
            "{err}"
        );
    }

    #[actix_web::test]
    async fn a_cut_body_is_incomplete() {
        let err = read(b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHel")
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, FormRejection::Form(FormError::Incomplete(_))),
            "{err}"
        );
        let api = ApiError::from(err);
        assert_eq!(api.code, ErrorCode::IncompleteBody);
    }
}
