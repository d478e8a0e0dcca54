// `ladder predict --run RUN TEXT...` or `--input FILE` (one text per line, "-" = stdin): one
// prediction per line. Raw texts get the task's text-to-text format (train::format_input): a
// text that already starts with the task prefix is used as given; pair tasks take the two
// texts separated by a tab. Empty input lines give empty output lines. GLUE classification
// prints each label as the task's data writes it (rte: entailment / not_entailment).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "ladder/data/example.h"
#include "ladder/data/glue.h"
#include "ladder/train/task_data.h"
#include "ladder/error.h"
#include "ladder/train/checkpoint.h"
#include "ladder/train/run.h"
#include "ladder/train/visual_features.h"
#include "runtime_options.h"
#include "validators.h"

namespace ladder::cli {
namespace {
namespace fs = std::filesystem;

struct PredictCommand {
  std::string run, checkpoint = "last", input;
  std::vector<std::string> texts;
  int64_t batch_size = 100, max_new_tokens = 0;
  RuntimeOptions runtime;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) throw UsageError(path + ": cannot open the input file");
  }
  std::istream& in = path == "-" ? std::cin : file;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

void run_predict(const PredictCommand& c, const CLI::App& app) {
  if (c.texts.empty() && c.input.empty())
    throw UsageError("no input: give the texts as arguments, or --input FILE (- for standard input)");
  if (!c.texts.empty() && !c.input.empty()) throw UsageError("give the texts as arguments or --input FILE, not both");
  torch::Device device = apply_runtime(c.runtime);
  train::RunConfig config = train::load_run_config(c.run);
  const std::vector<std::string> texts = c.input.empty() ? c.texts : read_lines(c.input);
  const std::string checkpoint = train::run_checkpoint(c.run, c.checkpoint);
  std::cerr << "predict: " << c.checkpoint << "/ (" << checkpoint << ", update "
            << train::load_training_state(checkpoint).global_step << ")\n";
  const std::string precision = app.count("--precision") ? c.runtime.precision : config.precision;
  train::LoadedMethod loaded =
      train::load_trained_method(config.model, config.tokenizer, checkpoint, precision, device, config.train.seed,
                                 run_backbone_dtype(app, c.runtime, config.backbone_dtype), config.eos_token);
  const bool vl = config.task.is_vl();
  std::vector<data::Example> inputs;
  std::vector<std::size_t> rows;  // which input line each source came from
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) continue;
    data::Example input;
    std::string text = texts[i];
    if (vl) {
      // IMAGE_ID<TAB>TEXT; NLVR2's two images as ID,ID.
      const std::size_t tab = text.find('\t');
      if (tab == std::string::npos || tab == 0)
        throw UsageError("\"" + text + "\": a vision-language run reads IMAGE_ID<TAB>TEXT (two images: ID,ID<TAB>TEXT)");
      std::string ids = text.substr(0, tab);
      for (std::size_t start = 0;;) {
        const std::size_t comma = ids.find(',', start);
        input.image_ids.push_back(ids.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      text = text.substr(tab + 1);
    }
    input.source = train::format_input(config.task, text);
    inputs.push_back(std::move(input));
    rows.push_back(i);
  }
  const std::vector<train::TokenizedExample> examples = train::tokenize_for(
      loaded.method->backbone_handle(), *loaded.tokenizer, inputs, config.max_source_length, config.max_target_length);
  train::DecodeOptions decode;
  decode.batch_size = c.batch_size;
  decode.max_new_tokens = c.max_new_tokens > 0 ? c.max_new_tokens : config.train.max_new_tokens;
  decode.device = device;
  decode.num_beams = config.train.num_beams;
  std::shared_ptr<train::VisualFeatures> visual = train::open_visual_features(config.task);
  if (visual) visual->check_images(examples, "input");
  train::check_visual_width(*loaded.method, visual.get(), checkpoint);
  decode.visual = visual.get();
  std::vector<std::string> predictions = train::generate_texts(*loaded.method, *loaded.tokenizer, examples, decode);
  // GLUE classification: the label as the task's data writes it ("entailment", "1"); what is
  // no label stays as generated, and a line on stderr counts it.
  std::size_t not_labels = 0;
  if (config.task.is_glue() && !data::glue_task(config.task.task).labels.empty())
    for (auto& p : predictions) {
      const std::string label = train::glue_prediction_label(config.task, p);
      if (label.empty()) ++not_labels;
      else p = label;
    }
  if (not_labels > 0)
    std::cerr << "predict: " << not_labels << " of " << predictions.size() << " outputs are no " << config.task.task
              << " label (printed as generated): the run may need more training\n";
  std::vector<std::string> out(texts.size());
  for (std::size_t k = 0; k < rows.size(); ++k) out[rows[k]] = predictions[k];
  for (const auto& line : out) std::cout << line << "\n";
  std::cout.flush();
}

}  // namespace

void add_predict_command(CLI::App& root) {
  auto c = std::make_shared<PredictCommand>();
  CLI::App* app = root.add_subcommand("predict", "Predict with a trained run, one output line per input text");
  app->add_option("--run", c->run, "run directory made by ladder train")->required();
  app->add_option("--checkpoint", c->checkpoint, "last (the final model, as eval scores it) or best (validation)")->capture_default_str()->check(CLI::IsMember({"best", "last"}));
  app->add_option("--input", c->input, "file with one text per line (- = stdin); pair tasks: the two texts tab-separated");
  app->add_option("--batch-size", c->batch_size, "decoding batch")->capture_default_str()->check(whole_number(1, kMaxCount));
  app->add_option("--max-new-tokens", c->max_new_tokens, "decoding length (default: the run's)")->check(whole_number(1, kMaxCount));
  app->add_option("text", c->texts, "input texts (GLUE: raw sentences, the task prefix is added; pairs: A<TAB>B)");
  add_runtime_options(app, c->runtime);
  add_backbone_dtype_option(app, c->runtime);
  app->callback([c, app] { run_predict(*c, *app); });
}

}  // namespace ladder::cli
