// Placeholder: replaced by the real `ladder train` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_train_command(CLI::App& root) {
  root.add_subcommand("train", "(not yet implemented)")->callback([] { throw Error("ladder train is not implemented yet"); });
}

}  // namespace ladder::cli
