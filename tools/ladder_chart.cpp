// Redraws the report charts from their JSON without libtorch (the core build has no CLI11 and
// no `ladder` binary): the torch-free twin of `ladder bench chart` and of the chart part of
// `ladder bench accuracy`.
//   ladder_chart accuracy --json accuracy.json --out accuracy.svg [--title T] [--html F --markdown accuracy.md]
//   ladder_chart bench --json FILE... --out FILE.svg [--title T]
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ladder/error.h"
#include "ladder/io/atomic_file.h"
#include "ladder/io/json_file.h"
#include "ladder/report/accuracy_report.h"
#include "ladder/report/bench_chart.h"

int main(int argc, char** argv) try {
  const std::string usage = "usage: ladder_chart accuracy|bench --json FILE... --out FILE.svg [--title T] "
                            "[--html FILE --markdown FILE]";
  if (argc < 2) throw ladder::UsageError(usage);
  const std::string kind = argv[1];
  std::vector<std::string> inputs;
  std::string out, title, html, markdown_path;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ladder::UsageError(a + " needs a value; " + usage);
      return argv[++i];
    };
    if (a == "--json") {
      inputs.push_back(value());
      while (i + 1 < argc && argv[i + 1][0] != '-') inputs.push_back(argv[++i]);
    } else if (a == "--out") out = value();
    else if (a == "--title") title = value();
    else if (a == "--html") html = value();
    else if (a == "--markdown") markdown_path = value();
    else throw ladder::UsageError("unknown argument " + a + "; " + usage);
  }
  if (inputs.empty() || out.empty() || (kind != "accuracy" && kind != "bench")) throw ladder::UsageError(usage);
  std::vector<nlohmann::json> docs;
  for (const auto& path : inputs) docs.push_back(ladder::read_json_file(path));
  std::string svg;
  if (kind == "accuracy") {
    if (title.empty()) title = "Fine-tuning methods: test score against training memory";
    svg = ladder::report::svg_chart(ladder::report::cells_from_json(docs.at(0)), title);
  } else {
    if (title.empty()) title = "Peak memory against step time";
    svg = ladder::report::bench_chart(ladder::report::bench_points(docs, inputs), title).str();
  }
  ladder::write_file_atomically(out, svg);
  if (!html.empty()) {
    std::ifstream in(markdown_path);
    if (!in) throw ladder::UsageError("--html needs --markdown FILE (the table shown under the chart)");
    std::stringstream markdown;
    markdown << in.rdbuf();
    ladder::write_file_atomically(html, ladder::report::html_page(title, svg, markdown.str()));
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "ladder_chart: " << e.what() << "\n";
  return 2;
}
