//! `application/x-www-form-urlencoded`, both ways: the client's form bodies and the
//! inbound slash-command and interaction bodies (decoded only after the signature over
//! the raw bytes has been checked).

/// Percent-encodes `value` for a form body: unreserved characters as they are, the rest
/// as `%XX` (spaces too, which every decoder accepts).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Encodes `pairs` as a form body.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes one component: `+` is a space, `%XX` a byte; a malformed escape is kept as
/// written; invalid UTF-8 is replaced.
pub fn decode_component(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a form body into its pairs, in order.
pub fn decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(part), String::new()),
        })
        .collect()
}

/// The first value of `key` in decoded `pairs`.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_round_trips_through_encode_and_decode() {
        let body = encode([("text", "declare db down? 100% & more"), ("u", "ü🚨")]);
        let pairs = decode(&body);
        assert_eq!(get(&pairs, "text"), Some("declare db down? 100% & more"));
        assert_eq!(get(&pairs, "u"), Some("ü🚨"));
    }

    #[test]
    fn plus_decodes_to_a_space_and_a_broken_escape_is_kept() {
        let pairs = decode("a=x+y&b=%2&c=%zz");
        assert_eq!(get(&pairs, "a"), Some("x y"));
        assert_eq!(get(&pairs, "b"), Some("%2"));
        assert_eq!(get(&pairs, "c"), Some("%zz"));
    }
}
