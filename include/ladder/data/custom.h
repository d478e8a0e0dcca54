#pragma once
// User data sets as text-to-text, from JSONL, CSV or TSV (format picked by extension).
//
//   .jsonl / .json  one JSON object per line; string values are used as they are, numbers and
//                   booleans as their JSON text (1 -> "1", 0.5 -> "0.5", true -> "true").
//   .csv            RFC 4180 (quoted fields, "" escapes, newlines inside quotes); header row.
//   .tsv / .txt     tab-separated with a header row, no quote processing (like GLUE).
//
// Classification source format (prefix omitted when empty, then no leading space):
//   single text:  "[prefix ]TEXT"
//   with a pair:  "[prefix ]<text_field>: TEXT <text_pair_field>: PAIR"
//                 e.g. prefix "nli", fields premise/hypothesis -> "nli premise: A hypothesis: B",
//                 the GLUE style of "rte sentence1: A sentence2: B".
// target = the label text. Seq2seq: source = "[prefix ]SOURCE", target = TARGET. Labels and
// targets are trimmed of surrounding spaces, tabs and line ends (" pos " is the label "pos"),
// and so are predictions before they are scored (train::score_predictions).
// Example::index = the row's 0-based position among the file's usable rows.
//
// Row problems (missing field, null value, empty label, label outside known_labels, wrong CSV/TSV
// column count, invalid JSON line) throw FormatError "FILE:LINE: ..." or, with
// LoadOptions::skip_malformed, are counted in Dataset::skipped_rows.
#include <string>
#include <vector>

#include "ladder/data/example.h"

namespace ladder::data {

enum class FileFormat { kJsonl, kCsv, kTsv };

// By extension (case-insensitive); throws UsageError naming the file for anything else.
FileFormat format_from_path(const std::string& path);

struct ClassificationFields {
  std::string text_field = "text";
  std::string text_pair_field;  // empty: single-text task
  std::string label_field = "label";
  std::string prefix;           // task prefix, e.g. "sentiment"
  // Non-empty (e.g. loaded from a run directory): the label set is fixed to these, and a row
  // whose label is not among them is malformed. Empty: inferred as the sorted unique labels.
  std::vector<std::string> known_labels;
};

struct Seq2SeqFields {
  std::string source_field = "source";
  std::string target_field = "target";
  std::string prefix;
};

// Dataset::task = `task`; labels = known_labels or the sorted (byte order) unique labels.
Dataset load_custom_classification(const std::string& path, const ClassificationFields& fields,
                                   const std::string& task = "custom", const LoadOptions& options = {});
// Dataset::labels is empty (free text).
Dataset load_custom_seq2seq(const std::string& path, const Seq2SeqFields& fields,
                            const std::string& task = "custom", const LoadOptions& options = {});

// Plain text for language modelling (a decoder-only model learns every token): a .txt file
// holds one text per non-empty line; .jsonl, .csv and .tsv files the field `text_field`.
// Example::source is empty, target the text (line ends dropped). An empty text is malformed.
Dataset load_custom_text(const std::string& path, const std::string& text_field, const std::string& task = "custom",
                         const LoadOptions& options = {});

// Label set as JSON for a run directory: {"labels": ["neg", "pos"]}. save writes a temporary
// file and renames it, so a crash never leaves a half-written file.
void save_labels(const std::string& path, const std::vector<std::string>& labels);
// Throws FormatError naming the file when it is missing, not JSON, lacks a "labels" array of
// strings, or holds duplicates.
std::vector<std::string> load_labels(const std::string& path);

}  // namespace ladder::data
