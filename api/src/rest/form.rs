//! The `multipart/form-data` body of `POST /api/v1/audio`, read with bounds: metadata fields
//! first, then exactly one `file` part, whose bytes are streamed on (never held whole).
//!
//! What a form may hold: at most one each of `title`, `description`, `filename`,
//! `download_limit` and `expires_in`, then one `file` part, so at most six parts. An unknown, unnamed or
//! repeated part, a part after the file, a part name over [`MAX_PART_NAME`] characters, and
//! fields over [`MAX_FIELD_BYTES`] together are refused with a problem naming what was wrong,
//! as soon as they are read: a body of a million tiny fields is refused at its second one.
//! Until the file's bytes start, and again after they end, at most [`MAX_FRAMING_BYTES`] of
//! the body are read (a part header that never ends holds no more memory than that).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use voicebin_commands::ByteStream;

use crate::error::{ApiError, Code};
use crate::usecases::clips::RawMeta;

/// The name of the part holding the audio.
pub const FILE: &str = "file";
/// The names of the metadata fields, each allowed once, before the file.
pub const FIELDS: [&str; 5] = [
    "title",
    "description",
    "filename",
    "download_limit",
    "expires_in",
];
/// Longest part name, in characters (the longest allowed name has 14).
pub const MAX_PART_NAME: usize = 64;
/// Most bytes of all metadata field values together. Every value the field rules allow fits
/// (at most 400 + 10000 + 1020 + 64 + 64 characters of at most 4 bytes).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most bytes of the body read while no file bytes are streaming: the preamble, the part
/// headers and the fields before the file, then again what follows it. Generous beside what
/// a valid form needs (well under 64 KiB), since one read may also hold file bytes.
pub const MAX_FRAMING_BYTES: u64 = 1024 * 1024;

/// Why a form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// multer could not parse the body (or the client stopped sending it).
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    /// The body ended without a `file` part.
    #[error("the multipart body has no `file` part")]
    NoFile,
    /// A second `file` part followed the first.
    #[error("the multipart body has a second `file` part; send exactly one")]
    SecondFile,
    /// A field followed the `file` part.
    #[error("the multipart body has a `{0}` part after the `file` part; send the fields before the file")]
    AfterFile(String),
    /// A field was sent twice.
    #[error("the multipart body has a second `{0}` part; send each field once")]
    Duplicate(&'static str),
    /// A part has a name the form does not have.
    #[error(
        "the multipart body has an unknown part `{0}`; the parts are `title`, `description`, \
         `filename`, `download_limit`, `expires_in` and `file`"
    )]
    Unknown(String),
    /// A part has no name.
    #[error("a part of the multipart body has no name")]
    Unnamed,
    /// A part's name is too long to be one of the form's.
    #[error("a part name of the multipart body is longer than {MAX_PART_NAME} characters")]
    LongName,
    /// A field's value is not UTF-8 text.
    #[error("form field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    /// The fields are too long together.
    #[error("the form fields are longer than {MAX_FIELD_BYTES} bytes together")]
    FieldsTooLarge,
    /// The framing around the file (preamble, part headers, what follows it) is too long.
    #[error(
        "the multipart body holds more than {MAX_FRAMING_BYTES} bytes before or after the \
         file's bytes"
    )]
    FramingTooLarge,
}

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        let code = match e {
            FormError::FieldsTooLarge | FormError::FramingTooLarge => Code::TooLarge,
            _ => Code::BadRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A form whose fields were read and whose file is about to stream.
pub struct Form {
    /// The metadata fields, as sent.
    pub fields: RawMeta,
    /// The `filename` of the file part's `Content-Disposition`, if any.
    pub file_name: Option<String>,
    /// The file's bytes. It ends with an error if a part follows the file; [`Form::late`]
    /// then says which.
    pub file: ByteStream,
    /// Set when the file stream ended because of something after the file.
    pub late: LateError,
}

/// A refusal found after the file's bytes were handed on (the consumer of the stream only sees
/// an I/O error).
#[derive(Clone, Default)]
pub struct LateError(Arc<Mutex<Option<FormError>>>);

impl LateError {
    fn set(&self, e: FormError) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    /// The refusal, if there was one.
    pub fn take(&self) -> Option<FormError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// How much of the body was read while no file bytes streamed, shared by the reader and the
/// body stream it reads.
#[derive(Default)]
struct Framing {
    streaming_file: AtomicBool,
    read: AtomicU64,
}

/// A body stream that fails once more than [`MAX_FRAMING_BYTES`] are read outside the file.
struct Bounded {
    body: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    framing: Arc<Framing>,
}

/// An error of the stream multer reads: the body's, or the framing bound.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Body(std::io::Error),
    #[error("framing bound")]
    Framing,
}

impl Stream for Bounded {
    type Item = Result<Bytes, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let chunk = match self.body.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(ReadError::Body(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if !self.framing.streaming_file.load(Ordering::Acquire) {
            let read = self
                .framing
                .read
                .fetch_add(chunk.len() as u64, Ordering::AcqRel)
                + chunk.len() as u64;
            if read > MAX_FRAMING_BYTES {
                return Poll::Ready(Some(Err(ReadError::Framing)));
            }
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

fn refusal(e: multer::Error) -> FormError {
    match &e {
        multer::Error::StreamReadFailed(cause) => match cause.downcast_ref::<ReadError>() {
            Some(ReadError::Framing) => FormError::FramingTooLarge,
            _ => FormError::Malformed(format!("could not read the body: {cause}")),
        },
        _ => FormError::Malformed(e.to_string()),
    }
}

/// A part's name, checked.
fn part_name(field: &multer::Field<'_>) -> Result<String, FormError> {
    let name = field.name().ok_or(FormError::Unnamed)?;
    if name.chars().count() > MAX_PART_NAME {
        return Err(FormError::LongName);
    }
    Ok(name.to_owned())
}

/// Reads the fields of a multipart `body` up to its `file` part, within the bounds above.
pub async fn read(body: poem::Body, content_type: &str) -> Result<Form, FormError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| FormError::Malformed(format!("bad multipart content type: {e}")))?;
    let framing = Arc::new(Framing::default());
    let bounded = Bounded {
        body: Box::pin(body.into_bytes_stream()),
        framing: framing.clone(),
    };
    let mut multipart = multer::Multipart::new(bounded, boundary);
    let mut fields = RawMeta::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut field_bytes = 0usize;
    loop {
        let mut field = multipart
            .next_field()
            .await
            .map_err(refusal)?
            .ok_or(FormError::NoFile)?;
        let name = part_name(&field)?;
        if name == FILE {
            framing.streaming_file.store(true, Ordering::Release);
            let file_name = field.file_name().map(str::to_owned);
            let late = LateError::default();
            let file = file_stream(field, multipart, framing, late.clone());
            return Ok(Form {
                fields,
                file_name,
                file,
                late,
            });
        }
        let name = FIELDS
            .into_iter()
            .find(|known| *known == name)
            .ok_or(FormError::Unknown(name))?;
        if seen.contains(&name) {
            return Err(FormError::Duplicate(name));
        }
        seen.push(name);
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(refusal)? {
            field_bytes += chunk.len();
            if field_bytes > MAX_FIELD_BYTES {
                return Err(FormError::FieldsTooLarge);
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| FormError::NotUtf8(name))?;
        let slot = match name {
            "title" => &mut fields.title,
            "description" => &mut fields.description,
            "filename" => &mut fields.filename,
            "expires_in" => &mut fields.expires_in,
            _ => &mut fields.download_limit,
        };
        *slot = Some(value);
    }
}

/// The file part being streamed and the form it is in; `None` once finished or failed.
type Tail = Option<(multer::Field<'static>, multer::Multipart<'static>)>;

/// The bytes of the `file` part; once they end, the rest of the body must be the closing
/// boundary, or the stream fails (and `late` says why).
fn file_stream(
    field: multer::Field<'static>,
    multipart: multer::Multipart<'static>,
    framing: Arc<Framing>,
    late: LateError,
) -> ByteStream {
    let fail = move |late: &LateError, e: FormError| {
        late.set(e.clone());
        Some((Err(std::io::Error::other(e)), None))
    };
    Box::pin(
        futures::stream::unfold(Some((field, multipart)), move |tail: Tail| {
            let framing = framing.clone();
            let late = late.clone();
            async move {
                let (mut field, mut multipart) = tail?;
                match field.chunk().await {
                    Ok(Some(chunk)) => return Some((Ok(chunk), Some((field, multipart)))),
                    Ok(None) => {}
                    Err(e) => return fail(&late, refusal(e)),
                }
                // multer hands out one part at a time: the file part must be dropped first.
                drop(field);
                framing.read.store(0, Ordering::Release);
                framing.streaming_file.store(false, Ordering::Release);
                match multipart.next_field().await {
                    Ok(None) => None,
                    Ok(Some(next)) => match part_name(&next) {
                        Ok(name) if name == FILE => fail(&late, FormError::SecondFile),
                        Ok(name) => fail(&late, FormError::AfterFile(name)),
                        Err(e) => fail(&late, e),
                    },
                    Err(e) => fail(&late, refusal(e)),
                }
            }
        })
        // Readers may poll once more after the end.
        .fuse(),
    )
}
