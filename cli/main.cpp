// ladder: fine-tune T5-class models with Ladder Side-Tuning and baselines.
#include <iostream>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include "commands.h"
#include "ladder/dist/launcher.h"
#include "ladder/error.h"
#include "ladder/runtime/blas_kernels.h"
#include "ladder/train/interrupt.h"
#include "ladder/version.h"

int main(int argc, char** argv) {
  ladder::runtime::restart_with_faster_blas_if_needed(argv);
  CLI::App app{"ladder: memory-efficient fine-tuning of T5 models (Ladder Side-Tuning and baselines)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ladder ") + ladder::kVersion + " (libtorch " + TORCH_VERSION + ")\n" +
                                      ladder::runtime::blas_description());
  ladder::cli::add_inspect_command(app);
  ladder::cli::add_tokenize_command(app);
  ladder::cli::add_forward_command(app);
  ladder::cli::add_generate_command(app);
  ladder::cli::add_train_command(app, std::vector<std::string>(argv + 1, argv + argc));
  ladder::cli::add_eval_command(app);
  ladder::cli::add_predict_command(app);
  ladder::cli::add_bench_command(app);
  ladder::cli::add_pretrain_command(app);
  ladder::cli::add_init_command(app);
  ladder::cli::add_data_command(app);
  ladder::cli::add_convert_command(app);
  ladder::cli::add_merge_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends exit 0 through CLI11; real usage errors get our one-line format.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "ladder: error: " << e.what() << "\n";
    return 2;
  } catch (const ladder::dist::WorkersFailed& e) {
    std::cerr << "ladder: " << e.what() << "\n";
    return e.exit_code();  // the first worker's to fail (130/143: interrupted, last/ saved)
  } catch (const ladder::train::TrainingInterrupted& e) {
    std::cerr << "ladder: " << e.what() << "\n";
    return e.exit_code();  // 130 (SIGINT) or 143 (SIGTERM), after the checkpoint was saved
  } catch (const ladder::Error& e) {
    std::cerr << "ladder: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "ladder: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ladder: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
