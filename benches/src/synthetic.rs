//! Synthetic mail written from a seed, for the message-size sweep and for machines without the
//! corpora.
//!
//! Each message looks like what an MTA hands a filter: a `Received` chain and the usual sender
//! headers, then a `multipart/alternative` body with a `text/plain` part (8bit UTF-8) and its
//! `text/html` twin (quoted-printable, links, bold text; spam adds a tracking pixel and hidden
//! text). Lines end in CRLF. Words are drawn with a skewed frequency from a common vocabulary
//! plus a ham or spam one, with numbers, made-up words and a few accented words mixed in, so no
//! two messages share their text and a model trained on them separates the two flavours.

use chaff_core::Trainer;
use chaff_core::engine::message_tokens;
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;

use crate::rng::Rng;

/// Which vocabulary, senders and markup a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Personal and list mail about work.
    Ham,
    /// Offers, prizes and account scares.
    Spam,
}

/// The message sizes of the sweep: label and target length in bytes.
pub const SIZES: [(&str, usize); 4] = [
    ("1KB", 1 << 10),
    ("10KB", 10 << 10),
    ("100KB", 100 << 10),
    ("1MB", 1 << 20),
];

/// Messages per timed batch for a target size: enough distinct messages that one is not timed
/// over and over from a warm cache, few enough that a batch stays around a megabyte at most.
pub fn batch_len(target_len: usize) -> usize {
    match target_len {
        0..=2048 => 64,
        2049..=20_480 => 16,
        20_481..=204_800 => 4,
        _ => 2,
    }
}

/// `count` distinct messages of about `target_len` bytes, ham and spam alternating.
pub fn batch(target_len: usize, count: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let flavor = if i % 2 == 0 {
                Flavor::Ham
            } else {
                Flavor::Spam
            };
            message(
                target_len,
                flavor,
                seed ^ ((target_len as u64) << 20) ^ i as u64,
            )
        })
        .collect()
}

/// A trainer that has learnt `n` synthetic messages of 1 to 8 KB, ham and spam alternating.
pub fn trained(n: usize, features: FeatureConfig) -> Trainer {
    let mut rng = Rng::new(crate::SEED);
    let mut t = Trainer::new(features);
    let limits = ParseLimits::default();
    let mut tokens = Vec::new();
    for i in 0..n {
        let flavor = if i % 2 == 0 {
            Flavor::Ham
        } else {
            Flavor::Spam
        };
        let raw = message(rng.range(1 << 10, 8 << 10), flavor, rng.next_u64());
        message_tokens(&raw, &limits, &features, &mut tokens);
        t.train(&tokens, flavor == Flavor::Spam);
    }
    t
}

/// One message of about `target_len` bytes: at most that, within a sentence of it, except that
/// a message always has one sentence. Below 4 KB the header block and the HTML shell are lean
/// (one `Received`, no mailer headers, no style block), as small real messages are; above, they
/// take about 1.2 KB.
pub fn message(target_len: usize, flavor: Flavor, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let lean = target_len < 4 << 10;
    let v = Vocabulary::new(flavor);
    let sender = Sender::new(&mut rng, flavor);
    let rcpt_name = rng.pick(FIRST_NAMES).to_string();
    let rcpt = format!("{}@example.org", rcpt_name.to_ascii_lowercase());
    let subject = subject(&mut rng, &v);
    let boundary = format!("=_chaff_{:016x}", rng.next_u64());

    let mut head = String::new();
    let date = date(&mut rng);
    let relay_ip = format!(
        "{}.{}.{}.{}",
        rng.range(11, 223),
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    );
    head += &format!("Return-Path: <{}>\r\n", sender.address);
    head += &format!(
        "Received: from {relay} ({relay} [{relay_ip}])\r\n\tby mx.example.org (Postfix) with ESMTPS id {:010X}\r\n\tfor <{rcpt}>; {date}\r\n",
        rng.next_u64() >> 24,
        relay = sender.relay,
    );
    if !lean {
        head += &format!(
            "Received: from [10.{}.{}.{}] by {} with HTTP; {date}\r\n",
            rng.below(256),
            rng.below(256),
            rng.range(1, 254),
            sender.relay
        );
    }
    head += &format!("From: {} <{}>\r\n", sender.name, sender.address);
    head += &format!("To: {rcpt}\r\n");
    head += &format!("Subject: {}\r\n", encode_header(&subject));
    head += &format!("Date: {date}\r\n");
    head += &format!(
        "Message-ID: <{:016x}.{:08x}@{}>\r\n",
        rng.next_u64(),
        rng.next_u64() >> 32,
        sender.domain
    );
    head += "MIME-Version: 1.0\r\n";
    if !lean {
        match flavor {
            Flavor::Ham => {
                head += *rng.pick(&[
                    "X-Mailer: Evolution 1.0.2\r\n",
                    "User-Agent: Mutt/1.4i\r\n",
                    "X-Mailer: Apple Mail (2.936)\r\n",
                ])
            }
            Flavor::Spam => {
                head += "X-Priority: 1 (Highest)\r\nX-MSMail-Priority: High\r\n";
                head += &format!(
                    "List-Unsubscribe: <https://{}/u?id={:x}>\r\n",
                    sender.domain,
                    rng.next_u64() >> 16
                );
            }
        }
    }
    head += &format!("Content-Type: multipart/alternative;\r\n\tboundary=\"{boundary}\"\r\n\r\n");
    if !lean {
        head += "This is a multi-part message in MIME format.\r\n\r\n";
    }

    let text_head = format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    let html_head = format!(
        "\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");

    let (text_open, text_close) = match (flavor, lean) {
        (Flavor::Ham, true) => (format!("Hi {rcpt_name},\r\n\r\n"), String::new()),
        (Flavor::Ham, false) => (
            format!("Hi {rcpt_name},\r\n\r\n"),
            format!("-- \r\n{}\r\n", sender.name),
        ),
        (Flavor::Spam, true) => ("Dear Customer,\r\n\r\n".to_string(), String::new()),
        (Flavor::Spam, false) => (
            "Dear Customer,\r\n\r\n".to_string(),
            format!(
                "To stop receiving these offers visit https://{}/unsubscribe\r\n",
                sender.domain
            ),
        ),
    };
    let html_open = quoted_printable(&if lean {
        "<html><body>\r\n".to_string()
    } else {
        format!(
            "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>{}</title>\r\n<style>p {{ font-family: Arial, sans-serif; }}</style></head>\r\n<body>\r\n",
            escape_html(&subject)
        )
    });
    let mut html_close = String::new();
    match (flavor, lean) {
        (_, true) => {}
        (Flavor::Spam, false) => {
            html_close += &format!(
                "<div style=\"display:none\">{}</div>\r\n<img src=\"https://track.{}/o.gif?u={:x}\" width=\"1\" height=\"1\" alt=\"\">\r\n",
                (0..12)
                    .map(|_| *rng.skewed(&v.common))
                    .collect::<Vec<_>>()
                    .join(" "),
                sender.domain,
                rng.next_u64() >> 16
            );
        }
        (Flavor::Ham, false) => {
            html_close += &format!("<p>-- <br>{}</p>\r\n", escape_html(&sender.name))
        }
    }
    html_close += "</body></html>\r\n";
    let html_close = quoted_printable(&html_close);

    let fixed = head.len()
        + text_head.len()
        + text_open.len()
        + text_close.len()
        + html_head.len()
        + html_open.len()
        + html_close.len()
        + tail.len();

    // Grow the body a sentence at a time while the whole message still fits.
    let (mut text, mut html) = (String::new(), String::new());
    let mut para: Vec<Sentence> = Vec::new();
    let mut para_len = rng.range(2, 6);
    let (mut cur_text, mut cur_html) = (String::new(), String::new());
    loop {
        para.push(sentence(&mut rng, &v, &sender));
        let (t, h) = render(&para);
        let empty = text.is_empty() && cur_text.is_empty();
        if fixed + text.len() + t.len() + html.len() + h.len() > target_len && !empty {
            break;
        }
        (cur_text, cur_html) = (t, h);
        if para.len() == para_len {
            text += &cur_text;
            html += &cur_html;
            (cur_text, cur_html) = (String::new(), String::new());
            para.clear();
            para_len = rng.range(2, 6);
        }
    }
    text += &cur_text;
    html += &cur_html;

    let mut out = String::with_capacity(fixed + text.len() + html.len());
    for piece in [
        &head,
        &text_head,
        &text_open,
        &text,
        &text_close,
        &html_head,
        &html_open,
        &html,
        &html_close,
        &tail,
    ] {
        out += piece;
    }
    out.into_bytes()
}

/// A sentence in both renderings: plain, and HTML with its link or bold run.
struct Sentence {
    plain: String,
    html: String,
}

/// A paragraph as wrapped plain text and as quoted-printable HTML.
fn render(para: &[Sentence]) -> (String, String) {
    let plain: Vec<&str> = para.iter().map(|s| s.plain.as_str()).collect();
    let mut text = wrap(&plain.join(" "), 72);
    text += "\r\n";
    let html: Vec<&str> = para.iter().map(|s| s.html.as_str()).collect();
    let html = quoted_printable(&wrap(&format!("<p>{}</p>", html.join(" ")), 76));
    (text, html)
}

fn sentence(rng: &mut Rng, v: &Vocabulary, sender: &Sender) -> Sentence {
    let n = rng.range(6, 18);
    let mut words: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let w = match rng.below(100) {
            0..=59 => rng.skewed(&v.common).to_string(),
            60..=91 => rng.skewed(&v.flavored).to_string(),
            92..=94 => number(rng, v.flavor),
            95..=97 => made_up(rng),
            _ => rng.pick(ACCENTED).to_string(),
        };
        words.push(w);
    }
    words[0] = capitalize(&words[0]);
    for w in words.iter_mut().take(n - 1).skip(2) {
        if rng.one_in(12) {
            w.push(',');
        }
    }
    let end = match (v.flavor, rng.below(10)) {
        (Flavor::Spam, 0..=3) => "!",
        (_, 9) => "?",
        _ => ".",
    };
    let plain_words = words.join(" ");
    let plain = format!("{plain_words}{end}");

    // One sentence in four carries a link over a few of its words, one in eight a bold run; the
    // plain twin shows the URL after the sentence, as mailers do.
    let escaped: Vec<String> = words.iter().map(|w| escape_html(w)).collect();
    let mut html: Vec<String> = Vec::with_capacity(n);
    if rng.one_in(4) {
        let url = url(rng, v.flavor, sender);
        let a = rng.below(n - 1);
        let b = (a + rng.range(1, 3)).min(n);
        html.extend_from_slice(&escaped[..a]);
        html.push(format!("<a href=\"{url}\">{}</a>", escaped[a..b].join(" ")));
        html.extend_from_slice(&escaped[b..]);
        return Sentence {
            plain: format!("{plain} <{url}>"),
            html: html.join(" ") + end,
        };
    }
    if rng.one_in(8) {
        let a = rng.below(n);
        html.extend_from_slice(&escaped[..a]);
        html.push(format!("<b>{}</b>", escaped[a]));
        html.extend_from_slice(&escaped[a + 1..]);
        return Sentence {
            plain,
            html: html.join(" ") + end,
        };
    }
    Sentence {
        plain,
        html: escaped.join(" ") + end,
    }
}

fn number(rng: &mut Rng, flavor: Flavor) -> String {
    match (flavor, rng.below(4)) {
        (Flavor::Spam, 0) => format!("${}", rng.range(10, 99_999)),
        (Flavor::Spam, 1) => format!("{}%", rng.range(10, 95)),
        (_, 2) => format!("{}:{:02}", rng.range(7, 19), rng.below(60)),
        _ => rng.range(1, 100_000).to_string(),
    }
}

fn made_up(rng: &mut Rng) -> String {
    const LETTERS: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";
    let n = rng.range(3, 10);
    (0..n).map(|_| *rng.skewed(LETTERS) as char).collect()
}

fn url(rng: &mut Rng, flavor: Flavor, sender: &Sender) -> String {
    let host = match (flavor, rng.below(3)) {
        (Flavor::Ham, 0) => "github.com".to_string(),
        (Flavor::Ham, 1) => format!("docs.{}", sender.domain),
        (Flavor::Spam, 0) => format!("{}{}.example.biz", made_up(rng), rng.below(100)),
        (Flavor::Spam, 1) => format!("bit.ly/{}", made_up(rng)),
        _ => format!("www.{}", sender.domain),
    };
    format!(
        "https://{host}/{}/{}?id={}",
        made_up(rng),
        made_up(rng),
        rng.below(1_000_000)
    )
}

fn subject(rng: &mut Rng, v: &Vocabulary) -> String {
    let n = rng.range(3, 8);
    let mut words: Vec<String> = (0..n)
        .map(|_| {
            if rng.one_in(2) {
                rng.skewed(&v.flavored)
            } else {
                rng.skewed(&v.common)
            }
            .to_string()
        })
        .collect();
    if rng.one_in(6) {
        words.push(rng.pick(ACCENTED).to_string());
    }
    match v.flavor {
        Flavor::Ham if rng.one_in(3) => format!("Re: {}", words.join(" ")),
        Flavor::Ham => words.join(" "),
        Flavor::Spam => {
            let s: Vec<String> = words.iter().map(|w| capitalize(w)).collect();
            format!("{}{}", s.join(" "), rng.pick(&["!", "!!!", " $$$", ""]))
        }
    }
}

fn date(rng: &mut Rng) -> String {
    const DAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: &[&str] = &[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {}",
        rng.pick(DAYS),
        rng.range(1, 28),
        rng.pick(MONTHS),
        rng.range(2019, 2026),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.pick(&["+0000", "-0500", "+0100", "+0900"])
    )
}

struct Sender {
    name: String,
    address: String,
    domain: String,
    relay: String,
}

impl Sender {
    fn new(rng: &mut Rng, flavor: Flavor) -> Sender {
        let (name, domain) = match flavor {
            Flavor::Ham => (
                format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)),
                rng.pick(&[
                    "example.com",
                    "example.net",
                    "lists.example.org",
                    "cs.example.edu",
                ])
                .to_string(),
            ),
            Flavor::Spam => (
                rng.pick(&[
                    "Customer Service",
                    "Best Deals",
                    "Account Security",
                    "Prize Department",
                    "Pharmacy Direct",
                ])
                .to_string(),
                format!(
                    "{}{}.example.{}",
                    made_up(rng),
                    rng.below(1000),
                    rng.pick(&["com", "biz", "info", "ru"])
                ),
            ),
        };
        let local = name.to_ascii_lowercase().replace(' ', ".");
        Sender {
            address: format!("{local}@{domain}"),
            relay: format!("mail{}.{domain}", rng.below(10)),
            name,
            domain,
        }
    }
}

struct Vocabulary {
    flavor: Flavor,
    common: Vec<&'static str>,
    flavored: Vec<&'static str>,
}

impl Vocabulary {
    fn new(flavor: Flavor) -> Self {
        let flavored = match flavor {
            Flavor::Ham => HAM_WORDS,
            Flavor::Spam => SPAM_WORDS,
        };
        Vocabulary {
            flavor,
            common: COMMON_WORDS.split(' ').collect(),
            flavored: flavored.split(' ').collect(),
        }
    }
}

/// Most frequent first ([`Rng::skewed`] favours the front).
const COMMON_WORDS: &str = "the to and of a in is you for that it on with this we be are your have at as will from our \
or can not by all if more about an they there one time new so what up out just like get do when some me any would \
which has was been here their them also need know only make now how see then other than into its first well very day \
back over after good most people us use may way work these take next year week could information please thanks email \
send help find list name message number part while where before through same both each those between found still \
since should without again place around however home small large another something because different following";

const HAM_WORDS: &str = "meeting project tomorrow attached review draft schedule lunch report budget team update \
release patch kernel build test issue bug fixed version server config package mailing thread reply discussion agenda \
minutes notes document question weekend family dinner photos trip flight hotel conference slides deadline proposal \
feedback comments change branch commit merge upstream debian linux perl python script module library install error \
log output compile cvs makefile header function variable memory disk backup network router firewall laptop desktop \
monday friday office colleague manager students course lecture paper thesis research data results analysis graph";

const SPAM_WORDS: &str = "free offer click now guaranteed limited winner cash prize credit loan mortgage rates \
pharmacy discount save bonus exclusive deal unsubscribe casino lottery investment profit income opportunity amazing \
act today order shipping satisfaction million dollars debt refinance approved instant pills weight diet watches \
replica stocks urgent account verify password bank transfer beneficiary claim congratulations selected risk \
customers lowest price online secure confidential wire funds inheritance miracle hurry expires special trial";

const ACCENTED: &[&str] = &[
    "café",
    "naïve",
    "résumé",
    "über",
    "façade",
    "jalapeño",
    "Zürich",
    "crème",
    "—",
    "€50",
];

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy",
];
const LAST_NAMES: &[&str] = &[
    "Martin", "Nguyen", "Smith", "Garcia", "Okafor", "Schmidt", "Rossi", "Tanaka", "Dubois",
    "Kowalski",
];

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Greedy word wrap at `width` columns; lines end in CRLF.
fn wrap(s: &str, width: usize) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / width * 2 + 2);
    let mut col = 0;
    for w in s.split(' ') {
        if col > 0 && col + 1 + w.len() > width {
            out += "\r\n";
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out += w;
        col += w.len();
    }
    out += "\r\n";
    out
}

/// RFC 2045 quoted-printable of CRLF-terminated lines: `=`, non-ASCII and trailing blanks
/// escaped, soft line breaks keep encoded lines within 76 columns.
fn quoted_printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    for line in s.split_terminator("\r\n") {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let len = if literal { 1 } else { 3 };
            if col + len > 75 {
                out += "=\r\n";
                col = 0;
            }
            if literal {
                out.push(b as char);
            } else {
                out += &format!("={b:02X}");
            }
            col += len;
        }
        out += "\r\n";
    }
    out
}

/// RFC 2047 Q-encoding when the value is not ASCII.
fn encode_header(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::from("=?utf-8?Q?");
    for &b in s.as_bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(b as char)
            }
            _ => out += &format!("={b:02X}"),
        }
    }
    out += "?=";
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaff_core::parse::parse;

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(
            message(10 << 10, Flavor::Spam, 7),
            message(10 << 10, Flavor::Spam, 7)
        );
        assert_ne!(
            message(10 << 10, Flavor::Spam, 7),
            message(10 << 10, Flavor::Spam, 8)
        );
    }

    #[test]
    fn sizes_come_close_to_their_target() {
        for (_, target) in SIZES {
            for flavor in [Flavor::Ham, Flavor::Spam] {
                let m = message(target, flavor, 1);
                // 1 KB: one sentence may overshoot (a message always has one).
                let (lo, hi) = if target < 4096 {
                    (target * 3 / 4, target * 3 / 2)
                } else {
                    (target * 9 / 10, target)
                };
                assert!((lo..=hi).contains(&m.len()), "{target}: {} bytes", m.len());
            }
        }
    }

    #[test]
    fn parses_as_text_and_html_alternatives() {
        let raw = message(10 << 10, Flavor::Spam, 3);
        let view = parse(&raw, &ParseLimits::default());
        assert!(!view.malformed);
        assert_eq!(view.parts.len(), 2, "{:?}", view.parts);
        assert_eq!(
            view.parts[1].transfer_encoding.as_deref(),
            Some("quoted-printable")
        );
        assert!(view.texts.iter().any(|t| t.from_html) && view.texts.iter().any(|t| !t.from_html));
        assert!(view.subject.is_some() && view.from.is_some());
        assert!(!view.urls.is_empty());
        // Quoted-printable decoded: no soft breaks or escapes left in the HTML text.
        let html = view.texts.iter().find(|t| t.from_html).unwrap();
        assert!(!html.text.contains("=3D") && !html.text.contains("=\r\n"));
    }
}
