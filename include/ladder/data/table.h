#pragma once
// Low-level readers for line-oriented data files, shared by the GLUE and custom loaders.
// Every row remembers its 1-based line number so errors can say "FILE:LINE: ...".
#include <cstddef>
#include <string>
#include <vector>

namespace ladder::data {

struct TextRow {
  std::size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> fields;
};

// Whole file as bytes. Throws FormatError "<what>: cannot open PATH" when it cannot be read;
// `what` names the caller's context (e.g. "GLUE task rte").
std::string read_text_file(const std::string& path, const std::string& what);

// Lines of `text` with a leading UTF-8 BOM and each line's trailing '\r' removed. Empty
// lines are dropped (a trailing newline or blank separator is not a data row); line numbers
// still count them.
std::vector<TextRow> split_lines(const std::string& text);

// Plain tab-separated fields, no quote processing: GLUE's SST-2/CoLA/MRPC files contain
// quote characters that are part of the text.
std::vector<std::string> split_tabs(const std::string& line);

// Tab-separated rows: split_lines + split_tabs (each row's single field is the line).
std::vector<TextRow> read_tsv_rows(const std::string& text);

// RFC 4180 CSV: fields separated by ',', records by CRLF or LF; a field that starts with '"'
// runs to the matching '"', where '""' is a literal quote and commas/newlines are text.
// Lenient in one way: a '"' inside an unquoted field is kept literally. Text after a closing
// quote other than ',' or end of record, or a quote never closed, throws FormatError
// "PATH:LINE: ..." (the rest of the file cannot be parsed, so skip modes cannot recover).
// Empty records (blank lines) are dropped.
std::vector<TextRow> read_csv_rows(const std::string& text, const std::string& path);

// Index of `name` in a header row, or -1.
int find_column(const std::vector<std::string>& header, const std::string& name);

// "PATH:LINE: message" - the one format every row error uses.
std::string at_line(const std::string& path, std::size_t line, const std::string& message);

}  // namespace ladder::data
