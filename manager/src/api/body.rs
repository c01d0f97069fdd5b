//! Response bodies (whole, or streamed from a channel) and docker's errors.

use crate::container::ContainerError;
use crate::image::store::StoreError;
use bytes::Bytes;
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use std::pin::Pin;
use std::task::{Context, Poll};

pub enum Body {
    Full(Option<Bytes>),
    /// Chunks as they come; the stream ends when every sender is dropped.
    Chan(tokio::sync::mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(Some(b)) => hyper::body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => hyper::body::SizeHint::with_exact(0),
            Body::Chan(_) => hyper::body::SizeHint::default(),
        }
    }
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = status;
    r
}

pub fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    let mut r = Response::new(Body::Full(Some(Bytes::from(b))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", "application/json".parse().expect("header"));
    r
}

pub fn text(status: StatusCode, t: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::Full(Some(Bytes::from_static(t.as_bytes()))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "Content-Type",
        "text/plain; charset=utf-8".parse().expect("header"),
    );
    r
}

/// A streamed response: the sender to write its chunks with.
pub fn stream(
    status: StatusCode,
    content_type: &str,
) -> (Response<Body>, tokio::sync::mpsc::Sender<Bytes>) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut r = Response::new(Body::Chan(rx));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Content-Type", content_type.parse().expect("header"));
    (r, tx)
}

/// docker's error body `{"message": ...}` with its status code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, m)
    }
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, m)
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
    pub fn response(&self) -> Response<Body> {
        json(self.status, &serde_json::json!({ "message": self.message }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::NotFound(n) => ApiError::not_found(format!("No such image: {n}")),
            StoreError::InUse { .. } | StoreError::SeveralNames(_) => {
                ApiError::conflict(e.to_string())
            }
            StoreError::Ambiguous(_) | StoreError::Reference(_) => ApiError::bad(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        use ContainerError as E;
        match e {
            E::NotFound(n) => ApiError::not_found(format!("No such container: {n}")),
            E::Image(i) => i.into(),
            E::NameInUse(..) | E::Running(_) | E::NotRunning(_) | E::AlreadyRunning(_) => {
                ApiError::conflict(e.to_string())
            }
            E::Ambiguous(_) | E::BadName(_) | E::BadFlag { .. } | E::Config(_) => {
                ApiError::bad(e.to_string())
            }
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<crate::network::NetError> for ApiError {
    fn from(e: crate::network::NetError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<crate::volume::VolumeError> for ApiError {
    fn from(e: crate::volume::VolumeError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}
