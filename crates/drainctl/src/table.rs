//! Aligned text tables and the human-friendly relative times they show.

use drain_core::time::Timestamp;

/// `rows` under `headers`, every column padded to its widest cell (counted in characters),
/// the last column unpadded.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(column) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (column, cell) in cells.into_iter().enumerate() {
            if column == last {
                text.push_str(cell);
            } else {
                let pad = widths[column].saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.trim_end().to_owned()
    };
    let mut lines = vec![line(headers.to_vec())];
    for row in rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines.join("\n")
}

/// `at` relative to `now`: `3 min ago`, `in 57 min`.
pub(crate) fn ago(now: Timestamp, at: Timestamp) -> String {
    let seconds = now.seconds_since(at);
    let size = seconds.abs();
    let amount = if size >= 3600 {
        // Hours alone would round 1 h 59 min down to "1 h".
        format!("{} h {} min", size / 3600, size % 3600 / 60)
    } else if size >= 60 {
        format!("{} min", size / 60)
    } else {
        format!("{size} s")
    };
    if seconds >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_cell_widths() {
        let text = render(
            &["A", "BB", "C"],
            &[
                vec!["long-cell".into(), "x".into(), "tail".into()],
                vec!["s".into(), "wider-than-header".into(), "t".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A          BB                 C");
        assert_eq!(lines[1], "long-cell  x                  tail");
        assert_eq!(lines[2], "s          wider-than-header  t");
    }

    #[test]
    fn relative_times_read_both_ways() {
        let now = Timestamp(10_000);
        assert_eq!(ago(now, Timestamp(9_970)), "30 s ago");
        assert_eq!(ago(now, Timestamp(10_000 + 3_420)), "in 57 min");
        assert_eq!(ago(now, Timestamp(10_000 - 7_300)), "2 h 1 min ago");
    }
}
