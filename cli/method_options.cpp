#include "method_options.h"

#include "ladder/error.h"
#include "validators.h"

namespace ladder::cli {

std::vector<CLI::Option*> add_method_flags(CLI::App* app, MethodFlags& flags) {
  return {app->add_option("--settings", flags.settings, "method settings as a JSON object, e.g. '{\"r\": 8}' for lora"),
          app->add_option("--reduction", flags.reduction, "lst: side-network width reduction r")->check(whole_number(1, kMaxCount)),
          app->add_option("--side-layers", flags.side_layers, "lst: kept side layers, e.g. 1,2,3,5,6,7,9,10,11")
              ->delimiter(',')};
}

nlohmann::json method_settings(const MethodFlags& flags, const std::string& method, const CLI::App& app) {
  nlohmann::json settings = nlohmann::json::object();
  if (!flags.settings.empty()) {
    try {
      settings = nlohmann::json::parse(flags.settings);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("--settings: not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!settings.is_object())
      throw UsageError(expected_found("--settings", "a JSON object such as {\"reduction\": 8}", settings.dump()));
  }
  const bool reduction = app.count("--reduction") > 0, side_layers = app.count("--side-layers") > 0;
  if ((reduction || side_layers) && method != "lst")
    throw UsageError("--reduction and --side-layers are LST settings (--method lst)");
  if (reduction) settings["reduction"] = flags.reduction;
  if (side_layers) settings["side_layers"] = flags.side_layers;
  return settings;
}

}  // namespace ladder::cli
