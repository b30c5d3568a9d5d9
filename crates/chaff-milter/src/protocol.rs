//! The milter wire protocol (version 6, as Postfix and libmilter speak it), without I/O.
//!
//! Every packet is a 4-byte big-endian length, then that many bytes: one command byte and its
//! data. [`Decoder`] turns a byte stream into [`Command`]s (it never panics and never allocates
//! more than its size limit, whatever it is fed); [`Reply::encode`] writes the answers.
//! The constants are libmilter's (`mfapi.h`, `mfdef.h`).

use std::net::IpAddr;

use crate::{Error, Result};

/// Protocol version this crate speaks.
pub const VERSION: u32 = 6;

/// The largest packet accepted by default (1 MiB). Postfix sends body chunks of at most 64 KiB
/// and headers of at most `header_size_limit` (100 KiB by default).
pub const DEFAULT_MAX_PACKET: usize = 1 << 20;

/// Actions (`SMFIF_*`) a milter may ask for in option negotiation.
pub mod action {
    /// Add headers.
    pub const ADD_HEADERS: u32 = 0x01;
    /// Replace the body.
    pub const CHANGE_BODY: u32 = 0x02;
    /// Add recipients.
    pub const ADD_RCPT: u32 = 0x04;
    /// Delete recipients.
    pub const DELETE_RCPT: u32 = 0x08;
    /// Change or delete headers.
    pub const CHANGE_HEADERS: u32 = 0x10;
    /// Put the message in the hold queue.
    pub const QUARANTINE: u32 = 0x20;
    /// Change the envelope sender.
    pub const CHANGE_FROM: u32 = 0x40;
    /// Add recipients with ESMTP arguments.
    pub const ADD_RCPT_PAR: u32 = 0x80;
    /// Ask for a list of macros per stage.
    pub const SET_SYMLIST: u32 = 0x100;
}

/// Protocol flags (`SMFIP_*`): stages the MTA need not send, or need not wait a reply for.
pub mod flag {
    /// No connect information.
    pub const NO_CONNECT: u32 = 0x01;
    /// No HELO.
    pub const NO_HELO: u32 = 0x02;
    /// No MAIL FROM.
    pub const NO_MAIL: u32 = 0x04;
    /// No RCPT TO.
    pub const NO_RCPT: u32 = 0x08;
    /// No body.
    pub const NO_BODY: u32 = 0x10;
    /// No headers.
    pub const NO_HEADERS: u32 = 0x20;
    /// No end of headers.
    pub const NO_EOH: u32 = 0x40;
    /// No reply to headers.
    pub const NR_HEADER: u32 = 0x80;
    /// No unknown SMTP commands.
    pub const NO_UNKNOWN: u32 = 0x100;
    /// No DATA.
    pub const NO_DATA: u32 = 0x200;
    /// The MTA understands `SMFIR_SKIP`.
    pub const SKIP: u32 = 0x400;
    /// Rejected recipients are sent too.
    pub const RCPT_REJ: u32 = 0x800;
    /// No reply to connect.
    pub const NR_CONNECT: u32 = 0x1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x1_0000;
    /// No reply to unknown commands.
    pub const NR_UNKNOWN: u32 = 0x2_0000;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 0x4_0000;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 0x8_0000;
    /// Header values keep their leading space.
    pub const HEADER_LEADING_SPACE: u32 = 0x10_0000;
}

/// Macro stages for [`Reply::Negotiate`]'s macro requests (`SMFIM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    /// Connect.
    Connect = 0,
    /// HELO.
    Helo = 1,
    /// MAIL FROM.
    Mail = 2,
    /// RCPT TO.
    Rcpt = 3,
    /// DATA.
    Data = 4,
    /// End of message.
    Eom = 5,
    /// End of headers.
    Eoh = 6,
}

/// How the SMTP client is connected, from the connect command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAddress {
    /// IPv4 or IPv6 address and port.
    Inet(IpAddr, u16),
    /// A unix socket path.
    Unix(String),
    /// Unknown (`U`), or an address that does not parse.
    Unknown,
}

/// One packet from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation.
    Negotiate {
        /// The MTA's protocol version.
        version: u32,
        /// Actions the MTA offers (`action::*`).
        actions: u32,
        /// Protocol flags the MTA offers (`flag::*`).
        flags: u32,
    },
    /// `D`: macros for the command that follows.
    Macros {
        /// The command byte they belong to.
        stage: u8,
        /// Name and value pairs, names as sent (`{auth_authen}`, `i`).
        pairs: Vec<(String, String)>,
    },
    /// `C`: an SMTP client connected.
    Connect {
        /// The client's host name (`unknown` or `[1.2.3.4]` when not looked up).
        hostname: String,
        /// Its address.
        address: ClientAddress,
    },
    /// `H`: HELO / EHLO.
    Helo(String),
    /// `M`: MAIL FROM; the first argument is the address, the others ESMTP parameters.
    Mail(Vec<String>),
    /// `R`: RCPT TO; the first argument is the address.
    Rcpt(Vec<String>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// The field name.
        name: String,
        /// Its raw value (may contain folding line breaks; bytes as sent).
        value: Vec<u8>,
    },
    /// `N`: end of headers.
    EndOfHeaders,
    /// `B`: a body chunk.
    Body(Vec<u8>),
    /// `E`: end of message (may carry a last body chunk).
    EndOfMessage(Vec<u8>),
    /// `A`: abort the current message.
    Abort,
    /// `Q`: quit, close the connection.
    Quit,
    /// `K`: quit this session, but keep the connection for a new one.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not know.
    Unknown(Vec<u8>),
}

impl Command {
    /// The command's name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Negotiate { .. } => "negotiate",
            Command::Macros { .. } => "macros",
            Command::Connect { .. } => "connect",
            Command::Helo(_) => "helo",
            Command::Mail(_) => "mail",
            Command::Rcpt(_) => "rcpt",
            Command::Data => "data",
            Command::Header { .. } => "header",
            Command::EndOfHeaders => "eoh",
            Command::Body(_) => "body",
            Command::EndOfMessage(_) => "eom",
            Command::Abort => "abort",
            Command::Quit => "quit",
            Command::QuitNewConnection => "quit-nc",
            Command::Unknown(_) => "unknown",
        }
    }

    /// Parses one packet's payload (command byte and data, without the length).
    pub fn parse(packet: &[u8]) -> Result<Command> {
        let Some((&code, data)) = packet.split_first() else {
            return Err(Error::Protocol("empty packet".into()));
        };
        let bad =
            |what: &str| Error::Protocol(format!("command '{}': {what}", code.escape_ascii()));
        Ok(match code {
            b'O' => {
                if data.len() < 12 {
                    return Err(bad("shorter than 12 bytes"));
                }
                Command::Negotiate {
                    version: be32(&data[0..4]),
                    actions: be32(&data[4..8]),
                    flags: be32(&data[8..12]),
                }
            }
            b'D' => {
                let Some((&stage, rest)) = data.split_first() else {
                    return Err(bad("no stage"));
                };
                let strings = cstrings(rest);
                let pairs = strings
                    .chunks(2)
                    .filter(|p| p.len() == 2)
                    .map(|p| (text(p[0]), text(p[1])))
                    .collect();
                Command::Macros { stage, pairs }
            }
            b'C' => {
                let (hostname, rest) = cstring(data).ok_or_else(|| bad("no host name"))?;
                let hostname = text(hostname);
                let address = match rest.split_first() {
                    Some((b'4' | b'6', rest)) if rest.len() >= 2 => {
                        let port = u16::from_be_bytes([rest[0], rest[1]]);
                        let addr = cstring(&rest[2..])
                            .map(|(a, _)| text(a))
                            .unwrap_or_default();
                        // IPv6 arrives as "IPv6:::1" from some MTAs.
                        let addr = addr.strip_prefix("IPv6:").unwrap_or(&addr);
                        match addr.parse() {
                            Ok(ip) => ClientAddress::Inet(ip, port),
                            Err(_) => ClientAddress::Unknown,
                        }
                    }
                    Some((b'L', rest)) if rest.len() >= 2 => ClientAddress::Unix(
                        cstring(&rest[2..])
                            .map(|(a, _)| text(a))
                            .unwrap_or_default(),
                    ),
                    _ => ClientAddress::Unknown,
                };
                Command::Connect { hostname, address }
            }
            b'H' => Command::Helo(cstring(data).map(|(h, _)| text(h)).unwrap_or_default()),
            b'M' => Command::Mail(cstrings(data).into_iter().map(text).collect()),
            b'R' => {
                let args: Vec<String> = cstrings(data).into_iter().map(text).collect();
                if args.is_empty() {
                    return Err(bad("no recipient"));
                }
                Command::Rcpt(args)
            }
            b'T' => Command::Data,
            b'L' => {
                let (name, rest) = cstring(data).ok_or_else(|| bad("no header name"))?;
                let value = cstring(rest).map(|(v, _)| v).unwrap_or(rest);
                Command::Header {
                    name: text(name),
                    value: value.to_vec(),
                }
            }
            b'N' => Command::EndOfHeaders,
            b'B' => Command::Body(data.to_vec()),
            b'E' => Command::EndOfMessage(data.to_vec()),
            b'A' => Command::Abort,
            b'Q' => Command::Quit,
            b'K' => Command::QuitNewConnection,
            b'U' => Command::Unknown(cstring(data).map(|(c, _)| c).unwrap_or(data).to_vec()),
            _ => return Err(bad("unknown command")),
        })
    }
}

/// One answer to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `O`: our side of option negotiation, with macro requests per stage.
    Negotiate {
        /// Version we speak.
        version: u32,
        /// Actions we may use.
        actions: u32,
        /// Protocol flags we want.
        flags: u32,
        /// Macros to send per stage (space separated names).
        macros: Vec<(Stage, String)>,
    },
    /// `c`: go on.
    Continue,
    /// `a`: accept the message; no more callbacks for it.
    Accept,
    /// `r`: reject (5xx) with the MTA's default text.
    Reject,
    /// `t`: temporary failure (4xx) with the MTA's default text.
    Tempfail,
    /// `d`: accept and silently drop the message.
    Discard,
    /// `y`: reject or tempfail with this SMTP reply (`550 5.7.1 text`).
    ReplyCode(String),
    /// `h`: append a header field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value (may be folded with CRLF + tab).
        value: String,
    },
    /// `i`: insert a header field at `index` (0 = first).
    InsertHeader {
        /// Position.
        index: u32,
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `m`: change the `index`-th (1-based) field called `name`; an empty value deletes it.
    ChangeHeader {
        /// 1-based occurrence among the fields of that name.
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty deletes the field.
        value: String,
    },
    /// `-`: remove an envelope recipient.
    DeleteRecipient(String),
    /// `q`: put the message on hold with a reason.
    Quarantine(String),
    /// `p`: still working, reset the MTA's timeout.
    Progress,
}

impl Reply {
    /// Appends the packet (length, code, data) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Reply::Negotiate {
                version,
                actions,
                flags,
                macros,
            } => {
                out.push(b'O');
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&actions.to_be_bytes());
                out.extend_from_slice(&flags.to_be_bytes());
                for (stage, names) in macros {
                    out.extend_from_slice(&(*stage as u32).to_be_bytes());
                    push_cstr(out, names);
                }
            }
            Reply::Continue => out.push(b'c'),
            Reply::Accept => out.push(b'a'),
            Reply::Reject => out.push(b'r'),
            Reply::Tempfail => out.push(b't'),
            Reply::Discard => out.push(b'd'),
            Reply::Progress => out.push(b'p'),
            Reply::ReplyCode(text) => {
                out.push(b'y');
                push_cstr(out, text);
            }
            Reply::AddHeader { name, value } => {
                out.push(b'h');
                push_cstr(out, name);
                push_cstr(out, value);
            }
            Reply::InsertHeader { index, name, value } => {
                out.push(b'i');
                out.extend_from_slice(&index.to_be_bytes());
                push_cstr(out, name);
                push_cstr(out, value);
            }
            Reply::ChangeHeader { index, name, value } => {
                out.push(b'm');
                out.extend_from_slice(&index.to_be_bytes());
                push_cstr(out, name);
                push_cstr(out, value);
            }
            Reply::DeleteRecipient(rcpt) => {
                out.push(b'-');
                push_cstr(out, rcpt);
            }
            Reply::Quarantine(reason) => {
                out.push(b'q');
                push_cstr(out, reason);
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Whether this reply ends the MTA's wait for the current command (modifications like
    /// [`Reply::AddHeader`] precede one at end of message).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Reply::AddHeader { .. }
                | Reply::InsertHeader { .. }
                | Reply::ChangeHeader { .. }
                | Reply::DeleteRecipient(_)
                | Reply::Quarantine(_)
                | Reply::Progress
        )
    }
}

/// Splits a byte stream into packets: feed bytes with [`Decoder::extend`], take packets with
/// [`Decoder::next_packet`]. Bounded: a length above the limit is an error before anything is
/// buffered for it.
///
/// ```
/// use chaff_milter::protocol::{Command, Decoder};
/// let mut d = Decoder::new(1024);
/// d.extend(&[0, 0, 0, 1, b'T', 0, 0]);
/// assert_eq!(d.next_command().unwrap(), Some(Command::Data));
/// assert_eq!(d.next_command().unwrap(), None); // 2 bytes of the next length so far
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_packet: usize,
}

impl Decoder {
    /// A decoder refusing packets longer than `max_packet` bytes (command byte included).
    pub fn new(max_packet: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max_packet,
        }
    }

    /// Appends bytes read from the connection.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as packets.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete packet's payload, `None` if more bytes are needed. An error (zero or
    /// oversized length) is final: the stream cannot be resynchronised.
    pub fn next_packet(&mut self) -> Result<Option<&[u8]>> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            self.compact();
            return Ok(None);
        }
        let len = be32(&avail[..4]) as usize;
        if len == 0 {
            return Err(Error::Protocol("zero-length packet".into()));
        }
        if len > self.max_packet {
            return Err(Error::PacketTooLarge {
                len,
                max: self.max_packet,
            });
        }
        if avail.len() < 4 + len {
            self.compact();
            return Ok(None);
        }
        let at = self.start + 4;
        self.start = at + len;
        Ok(Some(&self.buf[at..at + len]))
    }

    /// [`Decoder::next_packet`] parsed into a [`Command`].
    pub fn next_command(&mut self) -> Result<Option<Command>> {
        match self.next_packet()? {
            Some(p) => Command::parse(p).map(Some),
            None => Ok(None),
        }
    }

    /// Drops consumed bytes once they are the larger part of the buffer, so a long session
    /// keeps the buffer at about one packet.
    fn compact(&mut self) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The NUL-terminated string at the start of `data` and what follows it.
fn cstring(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = data.iter().position(|&b| b == 0)?;
    Some((&data[..end], &data[end + 1..]))
}

/// All NUL-terminated strings in `data` (an unterminated tail counts as one).
fn cstrings(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        match cstring(data) {
            Some((s, rest)) => {
                out.push(s);
                data = rest;
            }
            None => {
                out.push(data);
                break;
            }
        }
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Strings we send must not contain NUL: it would end them early on the MTA's side.
fn push_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, data: &[u8]) -> Vec<u8> {
        let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(code);
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn parses_every_command() {
        let mut d = Decoder::new(DEFAULT_MAX_PACKET);
        let mut o = Vec::new();
        for v in [6u32, 0x1ff, 0x1f_ffff] {
            o.extend_from_slice(&v.to_be_bytes());
        }
        d.extend(&packet(b'O', &o));
        d.extend(&packet(b'D', b"C{client_addr}\x00192.0.2.1\x00j\x00mx\x00"));
        d.extend(&packet(b'C', b"host.example\x004\x00\x19192.0.2.1\0"));
        d.extend(&packet(b'C', b"v6\x006\x00\x19IPv6:2001:db8::1\0"));
        d.extend(&packet(b'C', b"local\0L\0\0/run/x.sock\0"));
        d.extend(&packet(b'C', b"u\0U"));
        d.extend(&packet(b'H', b"client.example\0"));
        d.extend(&packet(b'M', b"<a@x>\0SIZE=10\0"));
        d.extend(&packet(b'R', b"<b@y>\0"));
        d.extend(&packet(b'T', b""));
        d.extend(&packet(b'L', b"Subject\0 hi\0"));
        d.extend(&packet(b'N', b""));
        d.extend(&packet(b'B', b"body\r\n"));
        d.extend(&packet(b'E', b""));
        d.extend(&packet(b'A', b""));
        d.extend(&packet(b'U', b"XYZZY\0"));
        d.extend(&packet(b'K', b""));
        d.extend(&packet(b'Q', b""));
        let mut got = Vec::new();
        while let Some(c) = d.next_command().unwrap() {
            got.push(c);
        }
        assert_eq!(
            got,
            vec![
                Command::Negotiate {
                    version: 6,
                    actions: 0x1ff,
                    flags: 0x1f_ffff
                },
                Command::Macros {
                    stage: b'C',
                    pairs: vec![
                        ("{client_addr}".into(), "192.0.2.1".into()),
                        ("j".into(), "mx".into())
                    ]
                },
                Command::Connect {
                    hostname: "host.example".into(),
                    address: ClientAddress::Inet("192.0.2.1".parse().unwrap(), 25)
                },
                Command::Connect {
                    hostname: "v6".into(),
                    address: ClientAddress::Inet("2001:db8::1".parse().unwrap(), 25)
                },
                Command::Connect {
                    hostname: "local".into(),
                    address: ClientAddress::Unix("/run/x.sock".into())
                },
                Command::Connect {
                    hostname: "u".into(),
                    address: ClientAddress::Unknown
                },
                Command::Helo("client.example".into()),
                Command::Mail(vec!["<a@x>".into(), "SIZE=10".into()]),
                Command::Rcpt(vec!["<b@y>".into()]),
                Command::Data,
                Command::Header {
                    name: "Subject".into(),
                    value: b" hi".to_vec()
                },
                Command::EndOfHeaders,
                Command::Body(b"body\r\n".to_vec()),
                Command::EndOfMessage(Vec::new()),
                Command::Abort,
                Command::Unknown(b"XYZZY".to_vec()),
                Command::QuitNewConnection,
                Command::Quit,
            ]
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn packets_split_at_every_byte_decode_the_same() {
        let stream = [packet(b'H', b"helo.example\0"), packet(b'B', &[7u8; 300])].concat();
        let mut d = Decoder::new(1024);
        let mut got = Vec::new();
        for b in &stream {
            d.extend(std::slice::from_ref(b));
            while let Some(c) = d.next_command().unwrap() {
                got.push(c);
            }
        }
        assert_eq!(
            got,
            vec![
                Command::Helo("helo.example".into()),
                Command::Body(vec![7; 300])
            ]
        );
    }

    #[test]
    fn bad_packets_are_errors() {
        let mut d = Decoder::new(100);
        d.extend(&[0, 0, 0, 101]);
        assert!(matches!(
            d.next_packet(),
            Err(Error::PacketTooLarge { len: 101, max: 100 })
        ));
        let mut d = Decoder::new(100);
        d.extend(&[0, 0, 0, 0]);
        assert!(d.next_packet().is_err());
        for p in [
            packet(b'O', &[0; 11]),
            packet(b'Z', b""),
            packet(b'R', b""),
            packet(b'L', b"no-nul"),
            packet(b'D', b""),
            packet(b'C', b"no-nul"),
        ] {
            let mut d = Decoder::new(100);
            d.extend(&p);
            assert!(d.next_command().is_err(), "{p:?}");
        }
        // A truncated packet is no error: it waits for more bytes.
        let mut d = Decoder::new(100);
        d.extend(&packet(b'H', b"abc\0")[..6]);
        assert_eq!(d.next_command().unwrap(), None);
    }

    #[test]
    fn replies_encode_as_libmilter_expects() {
        let mut out = Vec::new();
        Reply::Continue.encode(&mut out);
        Reply::ReplyCode("550 5.7.1 no".into()).encode(&mut out);
        Reply::ChangeHeader {
            index: 1,
            name: "X-Spam-Flag".into(),
            value: String::new(),
        }
        .encode(&mut out);
        let mut expect = vec![0, 0, 0, 1, b'c', 0, 0, 0, 14, b'y'];
        expect.extend_from_slice(b"550 5.7.1 no\0");
        expect.extend_from_slice(&[0, 0, 0, 18, b'm', 0, 0, 0, 1]);
        expect.extend_from_slice(b"X-Spam-Flag\0\0");
        assert_eq!(out, expect);
        let mut neg = Vec::new();
        Reply::Negotiate {
            version: 6,
            actions: 1,
            flags: 2,
            macros: vec![(Stage::Mail, "{auth_authen}".into())],
        }
        .encode(&mut neg);
        assert_eq!(&neg[..5], &[0, 0, 0, 31, b'O']);
        assert_eq!(&neg[17..21], &[0, 0, 0, 2]);
        assert_eq!(&neg[21..], b"{auth_authen}\0");
    }
}
