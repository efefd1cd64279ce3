//! Text rendered into Slack's `mrkdwn` (message `text`, mrkdwn blocks, topics).
//!
//! Slack reads `<…>` as a control sequence (`<!channel>`, `<@U…>`, `<#C…>`, links) and
//! asks for exactly three characters to be escaped in text that must not be one: `&` as
//! `&amp;`, `<` as `&lt;`, `>` as `&gt;` (docs.slack.dev, "Formatting text for app
//! surfaces", escaping). Every piece of user text (titles, descriptions, names, updates)
//! goes through [`escape`] before it is placed beside our own mentions, so a title such as
//! `<!channel> x` is shown, never obeyed. `plain_text` objects are not parsed and are not
//! escaped.

/// `text` with `&`, `<` and `>` escaped as Slack documents.
pub fn escape(text: &str) -> String {
    incident_schema::text::escape_markup(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_and_ampersands_are_escaped_and_the_rest_is_kept() {
        assert_eq!(
            escape("<!channel> x & <@U1> <https://evil|click> *bold* ✅"),
            "&lt;!channel&gt; x &amp; &lt;@U1&gt; &lt;https://evil|click&gt; *bold* ✅"
        );
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }
}
