//! The CRI streaming server's side of Exec and Attach: the URL that the
//! runtime hands back is served by containerd's copy of the kubelet's
//! streaming server, which speaks SPDY and WebSocket. This is the WebSocket
//! client of `kubectl exec` (`v4.channel.k8s.io`): every binary message
//! starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 the error channel
//! that carries the final metav1.Status, 4 resize).

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Error as WsError, Message};

pub const PROTOCOL: &str = "v4.channel.k8s.io";

#[derive(Default, Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// The metav1.Status of the error channel, if the server sent one.
    pub status: Option<serde_json::Value>,
}

impl Outcome {
    /// The exit code the status carries: 0 on Success, the `ExitCode`
    /// cause of a NonZeroExitCode failure.
    pub fn exit_code(&self) -> Result<i32> {
        let st = self
            .status
            .as_ref()
            .ok_or_else(|| anyhow!("no status on the error channel"))?;
        if st["status"] == "Success" {
            return Ok(0);
        }
        if st["reason"] == "NonZeroExitCode" {
            if let Some(causes) = st["details"]["causes"].as_array() {
                for c in causes {
                    if c["reason"] == "ExitCode" {
                        return c["message"]
                            .as_str()
                            .and_then(|m| m.parse().ok())
                            .ok_or_else(|| anyhow!("bad exit code in {st}"));
                    }
                }
            }
        }
        bail!("status is a failure: {st}")
    }
}

/// Connects to a streaming URL, sends `stdin` (if any) on channel 0, and reads
/// until the server closes the stream, or until stdout holds `until` (then
/// closes it from our side, as a detaching client does).
pub fn stream(
    url: &str,
    stdin: Option<&[u8]>,
    until: Option<&str>,
    limit: Duration,
) -> Result<Outcome> {
    let ws_url = url
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .ok_or_else(|| anyhow!("not an http:// streaming URL: {url}"))?;
    let hostport = ws_url["ws://".len()..]
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let tcp = TcpStream::connect(&hostport)
        .with_context(|| format!("connecting to the streaming server at {hostport}"))?;
    tcp.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut req = ws_url.as_str().into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", PROTOCOL.parse()?);
    let (mut ws, resp) = tungstenite::client(req, tcp)
        .map_err(|e| anyhow!("websocket handshake with {url}: {e}"))?;
    let proto = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if proto != PROTOCOL {
        bail!("the streaming server chose protocol {proto:?}, not {PROTOCOL}");
    }
    if let Some(data) = stdin {
        let mut msg = vec![0u8];
        msg.extend_from_slice(data);
        ws.send(Message::binary(msg))?;
    }
    let mut out = Outcome::default();
    let t0 = Instant::now();
    loop {
        if t0.elapsed() > limit {
            bail!(
                "stream not done after {} s; so far {out:?}",
                limit.as_secs()
            );
        }
        match ws.read() {
            Ok(Message::Binary(b)) if !b.is_empty() => {
                let data = String::from_utf8_lossy(&b[1..]);
                match b[0] {
                    1 => out.stdout.push_str(&data),
                    2 => out.stderr.push_str(&data),
                    3 if !data.is_empty() => {
                        out.status = Some(
                            serde_json::from_str(&data)
                                .with_context(|| format!("status {data:?}"))?,
                        );
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(_)) => {}
            Ok(_) => {}
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
            Err(WsError::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // The server drops the TCP connection after the status, without a close frame.
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                break
            }
            Err(WsError::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => break,
            // The server's close frame came first and a last frame raced it
            // (seen once in ~10 runs of a tty exec): the stream is over, and
            // the caller's checks on the output and status still stand.
            Err(WsError::Protocol(tungstenite::error::ProtocolError::ReceivedAfterClosing)) => {
                break
            }
            Err(e) => return Err(e).context("reading the stream"),
        }
        if let Some(want) = until {
            if out.stdout.contains(want) {
                let _ = ws.close(None);
                // Let the close handshake finish, briefly.
                let t1 = Instant::now();
                while t1.elapsed() < Duration::from_secs(2) {
                    match ws.read() {
                        Err(WsError::Io(e))
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => break,
                        Ok(_) => {}
                    }
                }
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(status: &str) -> Outcome {
        Outcome {
            status: Some(serde_json::from_str(status).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn exit_codes_from_the_error_channel() {
        assert_eq!(
            with(r#"{"metadata":{},"status":"Success"}"#)
                .exit_code()
                .unwrap(),
            0
        );
        let failed = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 5], exit code 5","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"5"}]}}"#;
        assert_eq!(with(failed).exit_code().unwrap(), 5);
        assert!(
            with(r#"{"metadata":{},"status":"Failure","message":"boom"}"#)
                .exit_code()
                .is_err()
        );
        assert!(Outcome::default().exit_code().is_err());
    }
}
