//! Links into a run's files that highlight one line with a text fragment (`#:~:text=`).

/// A link that highlights the history line of the set element `element`'s append.
pub(super) fn element_link(element: &serde_json::Value) -> String {
    format!("history.jsonl#:~:text={}", fragment(&format!("\"value\":{element},")))
}

/// A link that highlights the history line of the event at `index`.
pub(super) fn index_link(index: u64) -> String {
    format!("history.jsonl#:~:text={}", fragment(&format!("\"index\":{index},")))
}

/// `text` encoded for a URL text fragment.
pub(super) fn fragment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
