#include "ladder/data/table.h"

#include <fstream>
#include <sstream>

#include "ladder/error.h"

namespace ladder::data {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(what + ": cannot open " + path + " (missing or unreadable)");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FormatError(what + ": error while reading " + path);
  return buffer.str();
}

static std::size_t bom_length(const std::string& text) {
  return text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
}

std::vector<TextRow> split_lines(const std::string& text) {
  std::vector<TextRow> lines;
  std::size_t pos = bom_length(text);
  std::size_t line = 1;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::size_t stop = end;
    if (stop > pos && text[stop - 1] == '\r') --stop;
    if (stop > pos) lines.push_back({line, {text.substr(pos, stop - pos)}});
    pos = end + 1;
    ++line;
  }
  return lines;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', pos);
    if (tab == std::string::npos) {
      fields.push_back(line.substr(pos));
      return fields;
    }
    fields.push_back(line.substr(pos, tab - pos));
    pos = tab + 1;
  }
}

std::vector<TextRow> read_tsv_rows(const std::string& text) {
  std::vector<TextRow> rows = split_lines(text);
  for (TextRow& row : rows) row.fields = split_tabs(row.fields[0]);
  return rows;
}

std::vector<TextRow> read_csv_rows(const std::string& text, const std::string& path) {
  std::vector<TextRow> rows;
  std::size_t pos = bom_length(text);
  std::size_t line = 1;
  const std::size_t n = text.size();
  while (pos < n) {
    TextRow row;
    row.line = line;
    std::string field;
    bool record_done = false;
    while (!record_done) {
      field.clear();
      if (pos < n && text[pos] == '"') {
        const std::size_t quote_line = line;
        ++pos;
        for (;;) {
          if (pos >= n) throw FormatError(at_line(path, quote_line, "quoted CSV field is never closed"));
          const char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++pos;
        }
        // After the closing quote only a separator or the end of the record may follow.
        if (pos < n && text[pos] != ',' && text[pos] != '\n' &&
            !(text[pos] == '\r' && (pos + 1 >= n || text[pos + 1] == '\n'))) {
          throw FormatError(at_line(path, line,
              expected_found("CSV field after closing quote", "',' or end of line",
                             std::string("'") + text[pos] + "'", "double a quote inside a quoted field: \"\"")));
        }
      } else {
        while (pos < n && text[pos] != ',' && text[pos] != '\n') field += text[pos++];
        if (!field.empty() && field.back() == '\r' && (pos >= n || text[pos] == '\n')) field.pop_back();
      }
      row.fields.push_back(field);
      if (pos >= n) {
        record_done = true;
      } else if (text[pos] == ',') {
        ++pos;
      } else {  // '\r\n' or '\n' ends the record
        if (text[pos] == '\r') ++pos;
        ++pos;
        ++line;
        record_done = true;
      }
    }
    const bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
  }
  return rows;
}

int find_column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::string at_line(const std::string& path, std::size_t line, const std::string& message) {
  return path + ":" + std::to_string(line) + ": " + message;
}

}  // namespace ladder::data
