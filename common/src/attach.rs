//! The attach socket's wire format, between berth-shim (DIR/attach) and its
//! clients (`berth run`/`start -a`/`exec`, `berth-shim attach`). Both
//! directions carry frames:
//!
//! ```text
//! +--------+-------------------+----------------+
//! | kind u8| length u32 (BE)   | payload        |
//! +--------+-------------------+----------------+
//! client -> shim                       shim -> client
//!   0 stdin data                         1 stdout data
//!   1 resize: rows u16, cols u16 (BE)    2 stderr data
//!   2 close stdin                        3 exit: the JSON of DIR/exit
//!   3 signal: signo u32 (BE)                (crate::exit::ExitRecord)
//! ```
//!
//! An empty stdin frame is ignored by the shim: clients send one to learn
//! when their connection has been taken in.

// client -> shim
pub const TO_STDIN: u8 = 0;
pub const RESIZE: u8 = 1;
pub const CLOSE_STDIN: u8 = 2;
pub const SIGNAL: u8 = 3;

// shim -> client
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;

pub const HEADER: usize = 5;
/// The largest frame a reader accepts; larger is garbage, not a client of ours.
pub const MAX_FRAME: usize = 1 << 20;

pub fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn resize(out: &mut Vec<u8>, rows: u16, cols: u16) {
    let mut p = [0u8; 4];
    p[..2].copy_from_slice(&rows.to_be_bytes());
    p[2..].copy_from_slice(&cols.to_be_bytes());
    frame(out, RESIZE, &p);
}

pub fn signal(out: &mut Vec<u8>, signo: i32) {
    frame(out, SIGNAL, &(signo as u32).to_be_bytes());
}

/// The frame at the front of `buf`, if it is complete: its kind, its
/// payload, and the bytes it takes. No size check: see [`take_frames`].
pub fn next_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < HEADER {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let p = buf.get(HEADER..HEADER + len)?;
    Some((buf[0], p, HEADER + len))
}

/// Takes the complete frames off the front of `buf`. `Err` on a frame larger
/// than [`MAX_FRAME`].
pub fn take_frames(buf: &mut Vec<u8>) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut frames = Vec::new();
    let mut at = 0;
    while buf.len() - at >= HEADER {
        let len = u32::from_be_bytes(buf[at + 1..at + 5].try_into().unwrap()) as usize;
        if len > MAX_FRAME {
            return Err(format!("frame of {len} bytes is too large"));
        }
        let Some((kind, p, n)) = next_frame(&buf[at..]) else {
            break;
        };
        frames.push((kind, p.to_vec()));
        at += n;
    }
    buf.drain(..at);
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip_and_split() {
        let mut b = Vec::new();
        frame(&mut b, STDOUT, b"hello");
        resize(&mut b, 24, 80);
        signal(&mut b, 15);
        let mut part = b[..7].to_vec();
        assert!(take_frames(&mut part).unwrap().is_empty());
        assert_eq!(part.len(), 7);
        let f = take_frames(&mut b).unwrap();
        assert_eq!(f[0], (STDOUT, b"hello".to_vec()));
        assert_eq!(f[1], (RESIZE, vec![0, 24, 0, 80]));
        assert_eq!(f[2], (SIGNAL, vec![0, 0, 0, 15]));
        assert!(b.is_empty());
        let mut big = vec![STDOUT, 0xff, 0xff, 0xff, 0xff];
        assert!(take_frames(&mut big).is_err());
        assert!(next_frame(&big).is_none());
    }
}
