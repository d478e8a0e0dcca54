// libFuzzer target: tab-separated files. In memory: split_lines, split_tabs and read_tsv_rows
// (table.h). By path (scratch files): the custom-data loader on a .tsv file, and every GLUE
// task's loader with the input as train.tsv / dev.tsv / dev_mismatched.tsv (load_glue reads a
// folder): every task's train split, one task's validation split.
#include <sys/stat.h>

#include <string>
#include <vector>

#include "fuzz_common.h"
#include "fuzz_custom.h"
#include "ladder/data/glue.h"
#include "ladder/data/table.h"

namespace data = ladder::data;

namespace {

void check_rows(const std::vector<data::TextRow>& rows, std::size_t size) {
  std::size_t previous = 0;
  for (const data::TextRow& row : rows) {
    if (row.line <= previous || row.line > size + 1) ladder_fuzz::fail("line numbers out of order");
    previous = row.line;
    if (row.fields.empty()) ladder_fuzz::fail("a row without fields");
    for (const std::string& field : row.fields) {
      if (field.find_first_of("\t\n") != std::string::npos) ladder_fuzz::fail("a field holds a tab or newline");
    }
  }
}

const std::string& glue_dir() {
  static const std::string dir = [] {
    const std::string path = ladder_fuzz::scratch_dir() + "/glue";
    if (::mkdir(path.c_str(), 0700) != 0) ladder_fuzz::fail("mkdir " + path);
    return path;
  }();
  return dir;
}

void load_glue(const uint8_t* data, std::size_t size) {
  const std::string dir = glue_dir();
  for (const char* name : {"glue/train.tsv", "glue/dev.tsv", "glue/dev_mismatched.tsv"}) {
    ladder_fuzz::write_scratch(name, data, size);
  }
  data::LoadOptions options;
  options.skip_malformed = size % 2 == 1;
  options.large_task_validation_size = 1;
  options.stsb_step = size % 3 == 0 ? 0.2 : 0.1;
  // Every task reads the file as its train split; one task, picked by the input, also splits
  // it as its dev file (validation: a seeded permutation, half of it).
  const std::vector<data::GlueTask>& tasks = data::glue_tasks();
  const std::string& dev_task = tasks[size % tasks.size()].name;
  for (const data::GlueTask& task : tasks) {
    for (const char* split : {"train", "validation"}) {
      if (split[0] == 'v' && task.name != dev_task) continue;
      ladder_fuzz::guarded([&] {
        const data::Dataset dataset = data::load_glue(task.name, dir, split, 42, options);
        std::size_t checksum = dataset.skipped_rows;
        for (const auto& example : dataset.examples) checksum += example.source.size() + example.target.size();
        ladder_fuzz::consume(checksum);
      });
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> header;
  ladder_fuzz::guarded([&] {
    const std::vector<data::TextRow> lines = data::split_lines(text);
    for (const data::TextRow& line : lines) {
      if (line.fields.size() != 1 || line.fields[0].empty()) ladder_fuzz::fail("split_lines row");
      ladder_fuzz::consume(data::split_tabs(line.fields[0]).size());
    }
    const std::vector<data::TextRow> rows = data::read_tsv_rows(text);
    if (rows.size() != lines.size()) ladder_fuzz::fail("read_tsv_rows and split_lines disagree");
    check_rows(rows, size);
    if (!rows.empty()) header = rows[0].fields;
  });
  ladder_fuzz::load_custom("data.tsv", data, size, header);
  load_glue(data, size);
  return 0;
}
