//! Reading `multipart/form-data` bodies with `multer`, whose parser looks for the whole
//! boundary at once: a large file part is scanned at memory speed whatever its bytes. (The
//! parser it replaced stopped at every carriage return in a file's bytes.)

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, HeaderValue};
use actix_web::HttpRequest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Chunks of the request body read ahead of the parser.
const READ_AHEAD: usize = 8;
/// Most bytes the parser may hold that are no part's data: what it has read ahead, the
/// preamble, boundaries and part headers. Past it the body is refused instead of buffered (a
/// part header that never ends would otherwise be held in memory whole).
const MAX_HELD: u64 = 8 << 20;

/// What the parser has taken from the body, and what of it went out as part data.
#[derive(Default)]
struct Counts {
    taken: AtomicU64,
    given: AtomicU64,
}

impl Counts {
    fn held(&self) -> u64 {
        let given = self.given.load(Ordering::Relaxed);
        self.taken.load(Ordering::Relaxed).saturating_sub(given)
    }

    /// Refuses a parser that waits for more while holding too much that is no part's data.
    fn check<T>(&self, polled: Poll<T>) -> Poll<Result<T, FormError>> {
        match polled {
            Poll::Pending if self.held() > MAX_HELD => Poll::Ready(Err(FormError::Invalid(
                format!("more than {MAX_HELD} bytes of the body are outside any part's data"),
            ))),
            Poll::Pending => Poll::Pending,
            Poll::Ready(v) => Poll::Ready(Ok(v)),
        }
    }
}

/// Why a form could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The body stopped before the form's end, or the connection failed.
    #[error("the body ended early or could not be read: {0}")]
    Incomplete(String),
    /// Not `multipart/form-data` with a boundary, or a part's headers are malformed.
    #[error("the body is not valid multipart/form-data: {0}")]
    Invalid(String),
}

impl From<multer::Error> for FormError {
    fn from(e: multer::Error) -> Self {
        use multer::Error as M;
        match e {
            M::IncompleteFieldData { .. } | M::IncompleteHeaders | M::IncompleteStream => {
                FormError::Incomplete(e.to_string())
            }
            M::StreamReadFailed(_) => FormError::Incomplete(e.to_string()),
            other => FormError::Invalid(other.to_string()),
        }
    }
}

/// Why a short field could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("the field is longer than {limit} bytes")]
    TooLong { limit: usize },
}

/// A form being read, part by part, from a request's body.
pub struct Form {
    parts: multer::Multipart<'static>,
    counts: Arc<Counts>,
}

impl Form {
    /// The form of `req`, read from `payload`; `Invalid` when the request names no
    /// `multipart/form-data` boundary.
    pub fn new<S>(req: &HttpRequest, payload: S) -> Result<Self, FormError>
    where
        S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
    {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .ok_or_else(|| FormError::Invalid("the request has no Content-Type".into()))?
            .to_str()
            .map_err(|_| FormError::Invalid("the Content-Type is not ASCII".into()))?;
        let boundary = multer::parse_boundary(content_type)?;
        // The parser takes a stream it may move between threads, and actix's payload stays on
        // its own: a task of this thread hands the chunks over.
        let (tx, mut rx) = mpsc::channel(READ_AHEAD);
        actix_web::rt::spawn(forward(payload, tx));
        let counts = Arc::new(Counts::default());
        let seen = counts.clone();
        let chunks = futures_util::stream::poll_fn(move |cx| {
            let next = rx.poll_recv(cx);
            if let Poll::Ready(Some(Ok(chunk))) = &next {
                seen.taken.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            next
        });
        Ok(Form {
            parts: multer::Multipart::new(chunks, boundary),
            counts,
        })
    }

    /// The next part, once the previous one was read or dropped.
    pub async fn next_field(&mut self) -> Result<Option<FormField>, FormError> {
        let (parts, counts) = (&mut self.parts, &self.counts);
        let next = futures_util::future::poll_fn(|cx| counts.check(parts.poll_next_field(cx)));
        let Some(field) = next.await?? else {
            return Ok(None);
        };
        let disposition = field
            .headers()
            .get("content-disposition")
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
            .and_then(|v| ContentDisposition::from_raw(&v).ok())
            .filter(ContentDisposition::is_form_data)
            .ok_or_else(|| {
                FormError::Invalid("a part has no `Content-Disposition: form-data`".into())
            })?;
        let name = disposition
            .get_name()
            .ok_or_else(|| FormError::Invalid("a part has no name".into()))?
            .to_owned();
        // RFC 6266: the extended `filename*` wins over the plain one.
        let filename = disposition
            .parameters
            .iter()
            .find_map(|p| match p {
                DispositionParam::FilenameExt(v) => {
                    Some(String::from_utf8_lossy(&v.value).into_owned())
                }
                _ => None,
            })
            .or_else(|| disposition.get_filename().map(str::to_owned));
        Ok(Some(FormField {
            inner: field,
            name,
            filename,
            counts: self.counts.clone(),
        }))
    }
}

/// Hands the body's chunks to the parser until it has them all or stops listening.
async fn forward<S>(mut payload: S, tx: mpsc::Sender<Result<Bytes, PayloadError>>)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    while let Some(chunk) = payload.next().await {
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
}

/// One part of a form: its name, the client's file name, and its bytes as a stream.
pub struct FormField {
    inner: multer::Field<'static>,
    name: String,
    filename: Option<String>,
    counts: Arc<Counts>,
}

impl FormField {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client's file name (`filename*` if sent, else `filename`), not yet made safe.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The whole part, refused past `limit` bytes.
    pub async fn read_to_limit(&mut self, limit: usize) -> Result<Vec<u8>, FieldError> {
        let mut buf = Vec::new();
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            if buf.len() + chunk.len() > limit {
                return Err(FieldError::TooLong { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }
}

impl Stream for FormField {
    type Item = Result<Bytes, FormError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            let n = chunk.len() as u64;
            self.counts.given.fetch_add(n, Ordering::Relaxed);
        }
        match self.counts.check(next) {
            Poll::Ready(Ok(item)) => Poll::Ready(item.map(|r| r.map_err(FormError::from))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn form(body: &'static [u8], boundary: &str) -> Form {
        let (req, mut payload) = TestRequest::default()
            .insert_header((
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            ))
            .set_payload(Bytes::from_static(body))
            .to_http_parts();
        Form::new(&req, actix_web::dev::Payload::take(&mut payload)).unwrap()
    }

    #[actix_web::test]
    async fn parts_carriage_returns_and_file_names_are_read() {
        // The file's bytes come close to the delimiter (CRLF, `--`, the boundary) without
        // being it; RFC 2046 keeps the delimiter itself out of any part.
        let mut f = form(
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"; \
              filename*=UTF-8''na%C3%AFve.bin\r\n\r\n\r\r\n-\r\n--X\r\n--Xy\r\n-XyZ\r--XyZ\n--XyZ\r\n\
              --XyZ--\r\nepilogue",
            "XyZ",
        );
        let mut title = f.next_field().await.unwrap().unwrap();
        assert_eq!((title.name(), title.filename()), ("title", None));
        assert_eq!(title.read_to_limit(10).await.unwrap(), b"hi");
        drop(title);
        let mut file = f.next_field().await.unwrap().unwrap();
        assert_eq!((file.name(), file.filename()), ("file", Some("naïve.bin")));
        assert_eq!(
            file.read_to_limit(100).await.unwrap(),
            b"\r\r\n-\r\n--X\r\n--Xy\r\n-XyZ\r--XyZ\n--XyZ"
        );
        drop(file);
        assert!(f.next_field().await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn a_body_in_tiny_chunks_reads_the_same() {
        // Every delimiter, and every near miss, split across chunks in every place.
        let body: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\
              a\r\n--Xy\r\n\r\n-XyZ\rb\r\n--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n\
              ok\r\n--XyZ--\r\n";
        for size in [1, 2, 3, 5, 7] {
            let (req, _) = TestRequest::default()
                .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ"))
                .to_http_parts();
            let chunks: Vec<Result<Bytes, PayloadError>> = body
                .chunks(size)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let mut f = Form::new(&req, futures_util::stream::iter(chunks)).unwrap();
            let mut file = f.next_field().await.unwrap().unwrap();
            assert_eq!(
                file.read_to_limit(100).await.unwrap(),
                b"a\r\n--Xy\r\n\r\n-XyZ\rb",
                "{size}"
            );
            drop(file);
            let mut t = f.next_field().await.unwrap().unwrap();
            assert_eq!(t.name(), "t");
            assert_eq!(t.read_to_limit(10).await.unwrap(), b"ok");
            drop(t);
            assert!(f.next_field().await.unwrap().is_none(), "{size}");
        }
    }

    #[actix_web::test]
    async fn a_cut_body_is_incomplete_and_bad_headers_are_invalid() {
        let mut f = form(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nAAAA",
            "XyZ",
        );
        let mut file = f.next_field().await.unwrap().unwrap();
        let err = file.read_to_limit(100).await.unwrap_err();
        assert!(
            matches!(err, FieldError::Form(FormError::Incomplete(_))),
            "{err}"
        );

        let mut f = form(
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n",
            "XyZ",
        );
        let err = f.next_field().await.err().unwrap();
        assert!(matches!(err, FormError::Invalid(_)), "{err}");

        let mut f = form(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n0123456789\r\n--XyZ--\r\n",
            "XyZ",
        );
        let mut t = f.next_field().await.unwrap().unwrap();
        let err = t.read_to_limit(4).await.unwrap_err();
        assert!(matches!(err, FieldError::TooLong { limit: 4 }), "{err}");
    }

    #[actix_web::test]
    async fn a_part_header_that_never_ends_is_refused_not_held() {
        // A client that sends a part header and then endless bytes of it.
        let (req, _) = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ"))
            .to_http_parts();
        let head = Bytes::from_static(b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; x=\"");
        let endless =
            futures_util::stream::iter([Ok(head)]).chain(futures_util::stream::repeat_with(|| {
                Ok(Bytes::from(vec![b'a'; 64 << 10]))
            }));
        let mut f = Form::new(&req, Box::pin(endless)).unwrap();
        let err = f.next_field().await.err().unwrap();
        assert!(matches!(err, FormError::Invalid(_)), "{err}");

        // A large part's data is not held: it goes out as it comes.
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".to_vec();
        body.resize(body.len() + 3 * MAX_HELD as usize, b'\r');
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let mut f = form(body.leak(), "XyZ");
        let mut file = f.next_field().await.unwrap().unwrap();
        let data = file.read_to_limit(usize::MAX).await.unwrap();
        assert_eq!(data.len(), 3 * MAX_HELD as usize);
    }

    #[actix_web::test]
    async fn a_request_without_a_boundary_is_invalid() {
        let (req, mut payload) = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "multipart/form-data"))
            .to_http_parts();
        let err = Form::new(&req, actix_web::dev::Payload::take(&mut payload))
            .err()
            .unwrap();
        assert!(matches!(err, FormError::Invalid(_)), "{err}");
    }
}

#[cfg(test)]
mod properties {
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    use super::*;

    const BOUNDARY: &str = "XyZzY";

    /// Reads `body` in chunks of `chunk` bytes: each part's name and bytes, in order.
    fn read_all(body: Vec<u8>, chunk: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
        actix_rt::System::new().block_on(async move {
            let (req, _) = TestRequest::default()
                .insert_header((
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                ))
                .to_http_parts();
            let chunks: Vec<Result<Bytes, PayloadError>> = body
                .chunks(chunk)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let mut form =
                Form::new(&req, futures_util::stream::iter(chunks)).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            while let Some(mut field) = form.next_field().await.map_err(|e| e.to_string())? {
                let data = field
                    .read_to_limit(usize::MAX)
                    .await
                    .map_err(|e| e.to_string())?;
                out.push((field.name().to_owned(), data));
            }
            Ok(out)
        })
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Bytes biased towards what delimiters are made of.
    fn data() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                Just(b'\r'),
                Just(b'\n'),
                Just(b'-'),
                Just(b'X'),
                Just(b'y'),
                Just(b'Z')
            ],
            0..200,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any parts, in chunks of any size, read back as they were sent.
        #[test]
        fn any_parts_in_any_chunks_read_back_as_sent(
            parts in proptest::collection::vec(("[a-z]{1,8}", data()), 1..4),
            chunk in 1usize..64,
        ) {
            // RFC 2046: a part's bytes never hold the delimiter (counting the CRLF before them).
            let delimiter = format!("\r\n--{BOUNDARY}");
            prop_assume!(parts
                .iter()
                .all(|(_, d)| !contains(&[b"\r\n".as_slice(), d].concat(), delimiter.as_bytes())));
            let mut body = Vec::new();
            for (name, data) in &parts {
                body.extend_from_slice(
                    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                        .as_bytes(),
                );
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
            prop_assert_eq!(read_all(body, chunk), Ok(parts));
        }

        /// Any bytes at all: parts, or a clear refusal; never a panic or a hang.
        #[test]
        fn any_body_is_read_or_refused(body in data(), chunk in 1usize..64) {
            let _ = read_all(body, chunk);
        }
    }
}
