// Placeholder: replaced by the real `ladder predict` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_predict_command(CLI::App& root) {
  root.add_subcommand("predict", "(not yet implemented)")->callback([] { throw Error("ladder predict is not implemented yet"); });
}

}  // namespace ladder::cli
