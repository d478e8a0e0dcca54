#pragma once
// Each subcommand adds itself to the root app; its callback does the work and throws
// ladder::Error on failure (main turns that into one line on stderr and exit code 1).
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace ladder::cli {

void add_inspect_command(CLI::App& root);
void add_tokenize_command(CLI::App& root);
void add_forward_command(CLI::App& root);
void add_generate_command(CLI::App& root);
// `arguments`: the command line after the program name (`--nproc` restarts it in workers).
void add_train_command(CLI::App& root, std::vector<std::string> arguments);
void add_eval_command(CLI::App& root);
void add_predict_command(CLI::App& root);
void add_bench_command(CLI::App& root);
void add_pretrain_command(CLI::App& root);
void add_init_command(CLI::App& root);
void add_data_command(CLI::App& root);
void add_convert_command(CLI::App& root);
void add_merge_command(CLI::App& root);

}  // namespace ladder::cli
