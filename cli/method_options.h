#pragma once
// The method flags shared by `ladder train`, `ladder init` and `ladder inspect`: --settings
// (any method's settings as JSON) and LST's shortcuts --reduction and --side-layers.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ladder::cli {

struct MethodFlags {
  std::string settings;  // raw JSON object; empty = {}
  int64_t reduction = 0;
  std::vector<int64_t> side_layers;
};

// Adds --settings, --reduction and --side-layers; returns the three options (for ->needs()).
std::vector<CLI::Option*> add_method_flags(CLI::App* app, MethodFlags& flags);
// --settings first, then the LST shortcuts that were given on the command line (only those, so
// the method's own defaults apply to the rest). UsageError for bad JSON, or for a shortcut with
// a method other than lst.
nlohmann::json method_settings(const MethodFlags& flags, const std::string& method, const CLI::App& app);

}  // namespace ladder::cli
