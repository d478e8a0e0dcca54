// Placeholder: replaced by the real `ladder bench` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_bench_command(CLI::App& root) {
  root.add_subcommand("bench", "(not yet implemented)")->callback([] { throw Error("ladder bench is not implemented yet"); });
}

}  // namespace ladder::cli
