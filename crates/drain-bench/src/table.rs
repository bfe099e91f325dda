//! Plain-text tables: a title, a header row and left-aligned columns, for a terminal or a
//! Markdown file (the rows are valid Markdown table rows).

/// A table being filled.
#[derive(Clone, Debug, Default)]
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    /// An empty table with a title and column names.
    pub fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.to_owned(),
            header: header.iter().map(|cell| (*cell).to_owned()).collect(),
            ..Table::default()
        }
    }

    /// An empty two-column table of named figures (`figure`, `value`).
    pub fn figures(title: &str) -> Table {
        Table::new(title, &["figure", "value"])
    }

    /// Adds a row naming one figure.
    pub fn figure(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Table {
        self.row(vec![name.into(), value.into()])
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Table {
        self.rows.push(cells);
        self
    }

    /// Adds a line printed under the table.
    pub fn note(&mut self, note: impl Into<String>) -> &mut Table {
        self.notes.push(note.into());
        self
    }

    /// The table as Markdown-compatible text.
    pub fn render(&self) -> String {
        let columns = self
            .header
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (index, cell) in row.iter().enumerate() {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|index| {
                    let cell = cells.get(index).map(String::as_str).unwrap_or("");
                    format!("{cell}{}", " ".repeat(widths[index] - cell.chars().count()))
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = format!("\n### {}\n\n", self.title);
        out.push_str(&line(&self.header));
        out.push_str(&format!(
            "|{}|\n",
            widths
                .iter()
                .map(|width| "-".repeat(width + 2))
                .collect::<Vec<_>>()
                .join("|")
        ));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}\n"));
        }
        out
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// The size of a scale run, as both scale benchmarks state it first.
pub fn scale_parameters(instances: usize, tasks: usize, drains: usize, events: usize) -> String {
    format!(
        "{instances} instances, {tasks} tasks, {drains} simultaneous drains, {events} STOPPED events"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_markdown_rows() {
        let mut table = Table::new("t", &["a", "long column"]);
        table.row(vec!["12345".into(), "x".into()]);
        let text = table.render();
        assert!(text.contains("| a     | long column |\n"), "{text}");
        assert!(text.contains("| 12345 | x           |\n"), "{text}");
        assert!(text.contains("|-------|-------------|\n"), "{text}");
    }
}
