//! Channel names and topics within Slack's rules (reference §2 and §6): names are
//! lowercase `a-z0-9-_`, at most 80 characters and not punctuation only; topics are at
//! most 250 characters, their user text escaped for mrkdwn.
//!
//! A PRIVATE incident's name and topic never carry its title (`inc-42-private`,
//! `🔒 [SEV1] Private incident | …`): a channel's name shows in places its members do not
//! control (invites, links, search, notifications).

use crate::slack::mrkdwn::escape;

/// Slack's longest channel name.
pub const MAX_NAME: usize = 80;
/// Slack's longest topic.
pub const MAX_TOPIC: usize = 250;

/// Lowercase ASCII letters and digits kept, everything else a single `-`, trimmed of `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The channel name of incident `number`: `[drill-]inc-<number>[-<slug>]`, with `-<n>`
/// appended for the `attempt`th retry after `name_taken` (attempt 0 has no suffix). The
/// slug is cut (at a `-` when it can be) so the whole stays within 80 characters.
pub fn channel_name(number: i64, title: &str, is_drill: bool, attempt: u32) -> String {
    let prefix = format!("{}inc-{number}", if is_drill { "drill-" } else { "" });
    let suffix = if attempt == 0 {
        String::new()
    } else {
        format!("-{}", attempt + 1)
    };
    let room = MAX_NAME.saturating_sub(prefix.len() + suffix.len() + 1);
    let mut slug = slug(title);
    if slug.len() > room {
        slug.truncate(room);
        slug = slug.trim_end_matches('-').to_owned();
    }
    if slug.is_empty() {
        format!("{prefix}{suffix}")
    } else {
        format!("{prefix}-{slug}{suffix}")
    }
}

/// The channel name of PRIVATE incident `number`: `[drill-]inc-<number>-private`, with
/// the same `name_taken` suffixes as [`channel_name`], and no title.
pub fn private_channel_name(number: i64, is_drill: bool, attempt: u32) -> String {
    channel_name(number, "private", is_drill, attempt)
}

/// Whether Slack accepts `name` (what the fake enforces).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().any(|b| b.is_ascii_alphanumeric())
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The topic: `🚨 [SEV1] <title> | Status: INVESTIGATING | IC: <name>`, the title cut so
/// the whole fits in 250 characters. A drill says so. Without a title (a PRIVATE
/// incident) it reads `🔒 [SEV1] Private incident | …`. Title and name are escaped.
pub fn topic(
    severity: &str,
    title: Option<&str>,
    status: &str,
    commander: Option<&str>,
    is_drill: bool,
) -> String {
    let mark = if title.is_some() { "🚨" } else { "🔒" };
    let head = format!(
        "{mark} {}[{severity}] ",
        if is_drill { "[DRILL] " } else { "" }
    );
    let tail = format!(
        " | Status: {status} | IC: {}",
        truncate(&escape(commander.unwrap_or("unassigned")), 60)
    );
    let room = MAX_TOPIC.saturating_sub(head.chars().count() + tail.chars().count());
    let title = title.map_or_else(|| "Private incident".to_owned(), |t| escape(t.trim()));
    format!("{head}{}{tail}", truncate(&title, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_title_becomes_a_readable_name() {
        assert_eq!(
            channel_name(42, "DB latency on EU-West!", false, 0),
            "inc-42-db-latency-on-eu-west"
        );
    }

    #[test]
    fn drills_are_prefixed_and_retries_suffixed() {
        assert_eq!(
            channel_name(7, "Fire drill", true, 0),
            "drill-inc-7-fire-drill"
        );
        assert_eq!(
            channel_name(7, "Fire drill", false, 1),
            "inc-7-fire-drill-2"
        );
    }

    #[test]
    fn emoji_punctuation_non_ascii_and_long_titles_give_valid_names() {
        let long = "a".repeat(300);
        for title in [
            "🔥🔥 checkout 🔥",
            "!!!---???",
            "Ошибка базы данных",
            long.as_str(),
            "Ünïcödé façade",
        ] {
            for attempt in [0, 1, 12] {
                let name = channel_name(123_456, title, true, attempt);
                assert!(is_valid_name(&name), "{name:?} from {title:?}");
            }
        }
        assert_eq!(channel_name(3, "!!!---???", false, 0), "inc-3");
        assert_eq!(channel_name(3, &long, false, 0).len(), MAX_NAME);
    }

    #[test]
    fn the_topic_reads_as_specified_and_fits() {
        assert_eq!(
            topic("SEV1", Some("DB down"), "INVESTIGATING", Some("Ada"), false),
            "🚨 [SEV1] DB down | Status: INVESTIGATING | IC: Ada"
        );
        let long = topic(
            "SEV2",
            Some(&"x".repeat(400)),
            "MONITORING",
            Some("Grace"),
            true,
        );
        assert!(long.chars().count() <= MAX_TOPIC);
        assert!(long.ends_with("… | Status: MONITORING | IC: Grace"));
    }

    #[test]
    fn a_private_incident_has_neither_title_in_its_name_nor_in_its_topic() {
        assert_eq!(private_channel_name(42, false, 0), "inc-42-private");
        assert_eq!(private_channel_name(42, true, 0), "drill-inc-42-private");
        assert_eq!(private_channel_name(42, false, 1), "inc-42-private-2");
        assert_eq!(
            topic("SEV1", None, "INVESTIGATING", Some("Ada"), false),
            "🔒 [SEV1] Private incident | Status: INVESTIGATING | IC: Ada"
        );
    }

    #[test]
    fn a_topic_escapes_the_title_and_the_name() {
        assert_eq!(
            topic(
                "SEV1",
                Some("<!channel> x & y"),
                "IDENTIFIED",
                Some("<@U1>"),
                false
            ),
            "🚨 [SEV1] &lt;!channel&gt; x &amp; y | Status: IDENTIFIED | IC: &lt;@U1&gt;"
        );
    }
}
